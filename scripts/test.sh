#!/usr/bin/env bash
# Runs the suite on SQLite and, when one answers, on PostgreSQL — both at once (one per
# core), each with its own var dir; the PostgreSQL run's output follows the SQLite run's.
# LASTMILE_REQUIRE_POSTGRES=1 (CI) turns a missing PostgreSQL into a failure.
# LASTMILE_TEST_SERIAL=1 runs them one after the other instead.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR="${LASTMILE_VAR_DIR:-$PWD/var/test}"
mkdir -p "$VAR/sqlite" "$VAR/postgresql"
unset LASTMILE_DATABASE_URL
# Compiled modules are kept (git ignores __pycache__): each `lastmile` process a test starts
# then reads bytecode instead of compiling its ~230 modules (tests/conftest.py compiles the
# package itself where this is set anyway).
unset PYTHONDONTWRITEBYTECODE

pg_url="${LASTMILE_TEST_DATABASE_URL:-}"
if [ -z "$pg_url" ] && $BIN/python - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
then
  pg_url="postgres://postgres@127.0.0.1:5432/lastmile"
fi

# Shown without a password, should the URL carry one.
pg_shown="$(printf '%s' "$pg_url" | sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#')"

run_pg() {
  LASTMILE_VAR_DIR="$VAR/postgresql" LASTMILE_DATABASE_URL="$pg_url" $BIN/python -m pytest "$@"
}

# Both runs are waited for with `wait`, which a signal interrupts: Ctrl-C, a CI timeout's
# SIGTERM or an early exit stops them (the PostgreSQL one with its whole process group)
# instead of leaving one holding the test database.
pg_pid=""
sqlite_pid=""
stop_runs() {
  if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then
    kill -TERM -- "-$pg_pid" 2>/dev/null || kill -TERM "$pg_pid" 2>/dev/null
  fi
  if [ -n "$sqlite_pid" ] && kill -0 "$sqlite_pid" 2>/dev/null; then
    kill -TERM "$sqlite_pid" 2>/dev/null
  fi
  wait 2>/dev/null
}
trap stop_runs EXIT
trap 'stop_runs; exit 130' INT TERM

started=$SECONDS
pg_rc=0
if [ -n "$pg_url" ] && [ "${LASTMILE_TEST_SERIAL:-0}" != "1" ]; then
  echo "== lastmile tests on PostgreSQL ($pg_shown), in the background: output after SQLite's"
  own_group=$(command -v setsid || true)  # util-linux; without it, a plain background job
  LASTMILE_VAR_DIR="$VAR/postgresql" LASTMILE_DATABASE_URL="$pg_url" \
    $own_group $BIN/python -m pytest "$@" > "$VAR/postgresql.log" 2>&1 &
  pg_pid=$!
fi

echo "== lastmile tests on SQLite"
LASTMILE_VAR_DIR="$VAR/sqlite" $BIN/python -m pytest "$@" &
sqlite_pid=$!
wait "$sqlite_pid"
sqlite_rc=$?
sqlite_pid=""

if [ -n "$pg_pid" ]; then
  wait "$pg_pid"
  pg_rc=$?
  pg_pid=""
  echo "== lastmile tests on PostgreSQL ($pg_shown)"
  cat "$VAR/postgresql.log"
elif [ -n "$pg_url" ]; then
  echo "== lastmile tests on PostgreSQL ($pg_shown)"
  run_pg "$@"
  pg_rc=$?
else
  echo "== PostgreSQL not reachable on 127.0.0.1:5432 and LASTMILE_TEST_DATABASE_URL unset: SKIPPING the PostgreSQL run"
  if [ "${LASTMILE_REQUIRE_POSTGRES:-0}" = "1" ]; then
    echo "== LASTMILE_REQUIRE_POSTGRES=1: a skipped PostgreSQL run is a failure"
    pg_rc=1
  fi
fi
echo "== SQLite run exit $sqlite_rc; PostgreSQL run exit $pg_rc; $((SECONDS - started)) s in all"
[ $sqlite_rc -eq 0 ] && [ $pg_rc -eq 0 ]
