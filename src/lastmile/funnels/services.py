"""The analytics copy: events from the event store into the engine's columnar copy."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from lastmile.customers.selectors import customers_merged
from lastmile.funnels.engines import Engine
from lastmile.funnels.engines.clickhouse import engine_from_url
from lastmile.funnels.selectors import customers_first_team, events_after, events_moved_back

BATCH_SIZE = 50_000  # one segment each; compact() merges them
COMPACT_PIECES = 8  # the copy merges small segments once there are this many in a row


def analytics_engine() -> Engine:
    """The engine ``LASTMILE_ANALYTICS_URL`` names (``engine_from_url``): by default the
    embedded DuckDB engine over ``<var dir>/analytics``."""
    return engine_from_url(settings.ANALYTICS_URL, Path(settings.VAR_DIR))


@dataclass(frozen=True)
class CopyReport:
    events: int  # events copied
    batches: int
    mark: int  # the high-water mark after the copy


def analytics_copy(
    *,
    engine: Engine,
    now: datetime,
    settle_seconds: float = 0,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    after_batch: Callable[[int], None] | None = None,
    compact_pieces: int = COMPACT_PIECES,
) -> CopyReport:
    """Copy every event after the engine's high-water mark, each exactly once.

    1. Drop what a killed copy left half-written (never visible to readers).
    2. Read the mark from the copy itself, then copy batch after batch: each batch is one
       segment that becomes visible, mark included, in one atomic rename. A copy killed at
       any point resumes from the last visible segment: no event twice, none skipped.
    3. Merge small segments once ``compact_pieces`` of them follow each other (readers
       see the same events before and after, ``Engine.compact``).
    4. Rewrite the map of merged customers, so an anonymous visitor who later identified
       counts as the one customer they became, and the customer of each event an undone
       merge moved back; and the map of the first team that touched each customer (the
       first-touch team breakdown). Both replace the whole map at once: no event is
       copied by them, so the copy stays exactly once.
    Rows recorded within ``settle_seconds`` of ``now`` wait for the next copy (see
    ``events_after``); ``after_batch(mark)`` runs after each batch (the tests kill there).
    """
    engine.discard_unfinished()
    recorded_before = now - timedelta(seconds=settle_seconds) if settle_seconds else None
    events = batches = 0
    mark = engine.mark()
    while max_batches is None or batches < max_batches:
        batch = events_after(after_id=mark, limit=batch_size, recorded_before=recorded_before)
        if batch.last is None:
            break
        events += engine.append_raw(batch.rows, first=mark + 1, last=batch.last)
        batches += 1
        mark = batch.last
        if after_batch is not None:
            after_batch(mark)
    engine.compact(min_pieces=compact_pieces)
    engine.people_write(merged=customers_merged(), moved=events_moved_back())
    engine.teams_write(touches=customers_first_team())
    return CopyReport(events=events, batches=batches, mark=mark)


# --- one copy at a time ---------------------------------------------------------------
#
# One copy at a time, by a file lock beside the copy (``<var dir>/analytics/.copy.lock``)
# rather than huey's ``lock_task``:
# - what the lock protects is that directory, so it is held by whoever writes it: each of
#   the worker's threads, a second worker on the same machine, and ``lastmile
#   analytics-copy`` run by hand (which no queue lock would cover), whatever the queue
#   (SQLite or Redis);
# - the operating system drops it when its process dies, so a worker killed mid-copy does
#   not leave the copy locked out, where a key in huey's storage stays until flushed;
# - two machines sharing a Redis queue each have their own var dir, hence their own copy
#   to keep: a queue-wide lock would let only one of them copy at a time.
# Even without it no event would be copied twice (the engine keeps the wider of two
# segments raced from one mark); the lock saves the second copy's work and its temporary
# files.
#
# A row waits ``SETTLE_SECONDS`` after it was recorded (``analytics_copy``'s docstring: on
# PostgreSQL an id is taken before its transaction commits, so a smaller id can appear after
# a larger one was copied; an ingest's transaction lasts far less than this).

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
