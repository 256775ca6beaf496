"""The SQLite queue: huey's ``SqliteHuey`` whose connections wait their turn to switch to WAL.

huey opens each connection with ``PRAGMA journal_mode=wal``. On a new queue file, the switch
needs the file to itself, and SQLite answers "database is locked" at once instead of calling
the busy handler; so two processes starting together (two ``lastmile serve``, a web process
and its worker) could fail at import, inside Django's app loading. Here the connection is
tried again until huey's busy timeout has passed. Settings name this class as ``huey_class``.
"""

from __future__ import annotations

import random
import sqlite3
import time

import huey
from huey.storage import SqliteStorage


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class WaitingSqliteStorage(SqliteStorage):
    """``SqliteStorage`` whose connection retries the journal-mode switch while the file is busy."""

    def _create_connection(self) -> sqlite3.Connection:
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return super()._create_connection()
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise
            # The other process holds the file for a few milliseconds; a jittered wait keeps
            # two waiters from meeting again.
            time.sleep(random.uniform(0.005, 0.05))


class SqliteHuey(huey.SqliteHuey):
    storage_class = WaitingSqliteStorage
