#!/usr/bin/env bash
# Migrate, seed (once), then run the web server and the worker; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
export LASTMILE_DEBUG="${LASTMILE_DEBUG:-1}"
# The demo's notifications are written as files under var/mail instead of sent.
export LASTMILE_EMAIL_BACKEND="${LASTMILE_EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export LASTMILE_PORT="${LASTMILE_PORT:-8000}"
$BIN/lastmile migrate
$BIN/lastmile seed-demo

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping lastmile…"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

$BIN/lastmile worker & pids+=($!)
$BIN/lastmile smtpd & pids+=($!)  # inbound mail on LASTMILE_SMTP_PORT (default 2525)
$BIN/lastmile serve --port "$LASTMILE_PORT" & pids+=($!)

for _ in $(seq 1 100); do
  if $BIN/python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$LASTMILE_PORT/healthz', timeout=1)" 2>/dev/null; then break; fi
  sleep 0.2
done
cat <<MSG

  lastmile demo is running at http://127.0.0.1:$LASTMILE_PORT/
  Log in as demo / demo (admin: sees every team), or as a team agent — password demo:
    front, back, cards, social, reception, membership, field
  Admin screens: http://127.0.0.1:$LASTMILE_PORT/admin/   API docs: http://127.0.0.1:$LASTMILE_PORT/api/docs
  Mail in: SMTP on 127.0.0.1:${LASTMILE_SMTP_PORT:-2525} for support@lastmile-bank.example, stay@lastmile-hotels.example
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
