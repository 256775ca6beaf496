"""A sweeper in its own process, for tests/loops/test_sweeper_processes.py.

    python tests/loops/sweeper_worker.py --now 2026-11-23T10:00:00+00:00 --batch-size 50

Connects to the database (LASTMILE_DATABASE_URL), prints one JSON line
``{"ready": true, "backend_pid": …}``, waits for a line on stdin (the start signal, so
several workers begin together), runs ``loops_sweep(now=…)`` once and prints the result
as a second JSON line. The test owns the clock: ``now`` is an argument, never read here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from datetime import datetime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--now", required=True, help="aware ISO 8601 instant to sweep at")
    parser.add_argument("--batch-size", type=int, required=True)
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now)
    if now.tzinfo is None:
        parser.error("--now must carry a UTC offset")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lastmile.settings")
    import django

    django.setup()
    from django.db import connection

    from lastmile.loops.services import loops_sweep

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 0"
        )
        backend_pid = cursor.fetchone()[0]
    print(json.dumps({"ready": True, "backend_pid": backend_pid}), flush=True)

    if not sys.stdin.readline():  # the test went away without saying go
        return
    result = loops_sweep(now=now, batch_size=args.batch_size)
    print(json.dumps({"done": True, **asdict(result)}), flush=True)


if __name__ == "__main__":
    main()
