#!/usr/bin/env bash
# Check the ports, migrate, seed (once), then run the web server, the worker and the SMTP
# receiver; Ctrl-C stops them all. If one of them stops on its own, say which and stop the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
export LASTMILE_DEBUG="${LASTMILE_DEBUG:-1}"
# The demo's notifications are written as files under var/mail instead of sent.
export LASTMILE_EMAIL_BACKEND="${LASTMILE_EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export LASTMILE_PORT="${LASTMILE_PORT:-8000}"
export LASTMILE_SMTP_PORT="${LASTMILE_SMTP_PORT:-2525}"
SMTP_HOST="${LASTMILE_SMTP_HOST:-127.0.0.1}"
DEMO_CUSTOMERS="${LASTMILE_DEMO_CUSTOMERS:-300}"

die() { echo "make demo: $*" >&2; exit 1; }

# Bind and listen as the servers will (SO_REUSEADDR, so a socket in TIME_WAIT does not count):
# a port someone else holds fails here, in a second, and not after the seed and the banner.
port_is_free() {
  "$BIN/python" - "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        s.listen(1)
    except OSError:
        sys.exit(1)
PY
}
check_port() {  # VARIABLE HOST PORT
  case "$3" in '' | *[!0-9]*) die "$1=$3 is not a port number" ;; esac
  port_is_free "$2" "$3" \
    || die "port $3 is in use: set $1=$(($3 + 1)) (make demo $1=$(($3 + 1)))"
}
[ "$LASTMILE_PORT" != "$LASTMILE_SMTP_PORT" ] \
  || die "LASTMILE_PORT and LASTMILE_SMTP_PORT are both $LASTMILE_PORT: set LASTMILE_SMTP_PORT=$((LASTMILE_SMTP_PORT + 1)) (make demo LASTMILE_SMTP_PORT=$((LASTMILE_SMTP_PORT + 1)))"
check_port LASTMILE_PORT 127.0.0.1 "$LASTMILE_PORT"
check_port LASTMILE_SMTP_PORT "$SMTP_HOST" "$LASTMILE_SMTP_PORT"

# The demo's messaging integrations deliver replies to the app's own sink on loopback
# (/demo/sink/<slug>): the outbox, which refuses loopback by default, may reach it here.
export LASTMILE_WEBHOOK_ALLOWED_NETWORKS="${LASTMILE_WEBHOOK_ALLOWED_NETWORKS:-127.0.0.1/32}"
"$BIN/lastmile" migrate
"$BIN/lastmile" seed-demo --customers "$DEMO_CUSTOMERS"

pids=()
declare -A names=()
# Stops the children: SIGTERM to each one's process group (gunicorn's workers too), SIGKILL to
# what still runs 10 s later. It must get there whatever happened to the terminal: when the
# terminal or the pipe we print to is gone (`tmux kill-session`, a closed window, the end of
# `| tee`), printing fails, and neither that failure (set -e) nor SIGPIPE may stop the script
# before its children are stopped. gunicorn and the worker take SIGHUP as "reload", so they
# do not stop by themselves when the terminal hangs up.
cleanup() {
  trap - INT TERM HUP EXIT
  set +e
  { echo; echo "stopping lastmile…"; } 2>/dev/null
  local pid alive
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" "$pid" 2>/dev/null; done
  for _ in $(seq 1 50); do
    alive=
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ -n "$alive" ] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" "$pid" 2>/dev/null; done
  wait 2>/dev/null
  return 0
}
# A write to a closed pipe fails (EPIPE) rather than killing the script unseen (SIGPIPE):
# bash itself reports a child killed by a signal on stderr. (Python ignores SIGPIPE anyway.)
trap '' PIPE
trap 'cleanup; exit 130' INT TERM
trap 'cleanup; exit 129' HUP  # the terminal went away (a closed tmux session): stop too
trap cleanup EXIT
# Each child leads its own process group (job control on while starting it), so the stop
# reaches whatever it started; the terminal's Ctrl-C still reaches the script, which stops them.
start() {  # NAME COMMAND…
  local name=$1; shift
  set -m
  "$@" & pids+=($!); names[$!]=$name
  set +m
}
how() {  # an exit status in words
  if [ "$1" -gt 128 ]; then echo "killed by signal $(kill -l $(($1 - 128)))"; else echo "exit status $1"; fi
}
# Exits with a sentence naming the child that stopped, and how, when one is not running.
check_children() {  # [WHEN]
  local pid status
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0; wait "$pid" || status=$?
      die "the ${names[$pid]} process stopped ($(how "$status"))${1:-}; stopping the others"
    fi
  done
}

start worker "$BIN/lastmile" worker
start smtpd "$BIN/lastmile" smtpd  # inbound mail on LASTMILE_SMTP_PORT (default 2525)
start web "$BIN/lastmile" serve --port "$LASTMILE_PORT"

# Up means: the web server answers /healthz, smtpd accepts connections, and all three run.
answers() {
  "$BIN/python" - "$LASTMILE_PORT" "$SMTP_HOST" "$LASTMILE_SMTP_PORT" <<'PY' 2>/dev/null
import smtplib, sys, urllib.request
web, smtp_host, smtp = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=1)
smtplib.SMTP(smtp_host, smtp, timeout=1).quit()  # a polite QUIT: no "connection lost" logged
PY
}
up=
for _ in $(seq 1 300); do
  check_children " before the demo was up"
  if answers; then up=1; break; fi
  sleep 0.2
done
check_children " before the demo was up"
[ -n "$up" ] || die "the web server (/healthz on port $LASTMILE_PORT) or smtpd (port $LASTMILE_SMTP_PORT) did not answer in time; stopping"

cat <<MSG

  lastmile demo is running at http://127.0.0.1:$LASTMILE_PORT/
  Log in as demo / demo (admin: sees every team), or as a team agent — password demo:
    front, back, cards, social, reception, membership, field
  Admin screens: http://127.0.0.1:$LASTMILE_PORT/admin/   API docs: http://127.0.0.1:$LASTMILE_PORT/api/docs
  Mail in: SMTP on $SMTP_HOST:$LASTMILE_SMTP_PORT for support@lastmile-bank.example, stay@lastmile-hotels.example
  Press Ctrl-C to stop.

MSG
# Polled rather than `wait -n -p` (bash 5.1): the same words with any bash 4.
while :; do
  check_children
  sleep 1
done
