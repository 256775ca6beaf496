#!/usr/bin/env bash
# Runs the suite on SQLite, then again on PostgreSQL when one answers.
# LASTMILE_REQUIRE_POSTGRES=1 (CI) turns a missing PostgreSQL into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export LASTMILE_VAR_DIR="${LASTMILE_VAR_DIR:-$PWD/var/test}"
mkdir -p "$LASTMILE_VAR_DIR"
unset LASTMILE_DATABASE_URL

pg_url="${LASTMILE_TEST_DATABASE_URL:-}"
if [ -z "$pg_url" ] && $BIN/python - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
then
  pg_url="postgres://postgres@127.0.0.1:5432/lastmile"
fi

echo "== lastmile tests on SQLite"
$BIN/python -m pytest "$@"
sqlite_rc=$?

pg_rc=0
if [ -n "$pg_url" ]; then
  echo "== lastmile tests on PostgreSQL ($pg_url)"
  LASTMILE_DATABASE_URL="$pg_url" $BIN/python -m pytest "$@"
  pg_rc=$?
else
  echo "== PostgreSQL not reachable on 127.0.0.1:5432 and LASTMILE_TEST_DATABASE_URL unset: SKIPPING the PostgreSQL run"
  if [ "${LASTMILE_REQUIRE_POSTGRES:-0}" = "1" ]; then
    echo "== LASTMILE_REQUIRE_POSTGRES=1: a skipped PostgreSQL run is a failure"
    pg_rc=1
  fi
fi
echo "== SQLite run exit $sqlite_rc; PostgreSQL run exit $pg_rc"
[ $sqlite_rc -eq 0 ] && [ $pg_rc -eq 0 ]
