"""The worker's analytics copy: every minute, the new events into the engine's copy.

One copy at a time, by a file lock beside the copy (``<var dir>/analytics/.copy.lock``)
rather than huey's ``lock_task``:
- what the lock protects is that directory, so it is held by whoever writes it: each of
  the worker's threads, a second worker on the same machine, and ``lastmile
  analytics-copy`` run by hand (which no queue lock would cover), whatever the queue
  (SQLite or Redis);
- the operating system drops it when its process dies, so a worker killed mid-copy does
  not leave the copy locked out, where a key in huey's storage stays until flushed;
- two machines sharing a Redis queue each have their own var dir, hence their own copy
  to keep: a queue-wide lock would let only one of them copy at a time.
Even without it no event would be copied twice (the engine keeps the wider of two
segments raced from one mark); the lock saves the second copy's work and its temporary
files.

A row waits ``SETTLE_SECONDS`` after it was recorded (``analytics_copy``'s docstring: on
PostgreSQL an id is taken before its transaction commits, so a smaller id can appear after
a larger one was copied; an ingest's transaction lasts far less than this).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.funnels.engines import Engine
from lastmile.funnels.services import BATCH_SIZE, CopyReport, analytics_copy, analytics_engine

log = logging.getLogger(__name__)

SETTLE_SECONDS = 30
LOCK_NAME = ".copy.lock"


@contextlib.contextmanager
def copy_lock(directory: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the copy's lock for the block; yields False (not held) when another copy has
    it and ``wait`` is False. An exclusive ``flock`` on its own open file: it excludes
    other processes and other threads of this one alike."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_NAME).open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def lock_directory(engine: Engine) -> Path:
    """Where the copy's lock lives: beside the embedded engine's files, or, for an engine
    elsewhere (a server), under the var dir."""
    directory = getattr(engine, "directory", None)
    return directory if isinstance(directory, Path) else Path(settings.VAR_DIR) / "analytics"


def analytics_copy_locked(
    *,
    now: datetime,
    settle_seconds: float = SETTLE_SECONDS,
    engine: Engine | None = None,
    wait: bool = False,
    batch_size: int = BATCH_SIZE,
    after_batch: Callable[[int], None] | None = None,
) -> CopyReport | None:
    """``analytics_copy`` under the copy's lock; None when another copy held it (and
    ``wait`` was False): that copy takes the new events."""
    engine = engine or analytics_engine()
    with copy_lock(lock_directory(engine), wait=wait) as held:
        if not held:
            return None
        return analytics_copy(
            engine=engine,
            now=now,
            settle_seconds=settle_seconds,
            batch_size=batch_size,
            after_batch=after_batch,
        )


@db_periodic_task(crontab(minute="*"))
def copy_events() -> None:
    """Every minute: copy the events recorded since the last copy (one copy at a time)."""
    report = analytics_copy_locked(now=utcnow())
    if report is None:
        log.info("analytics copy: another copy is running; skipped")
    elif report.events:
        log.info(
            "analytics copy: %s events in %s batches, up to event-store id %s",
            report.events,
            report.batches,
            report.mark,
        )
