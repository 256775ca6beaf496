"""The analytics copy: events from the event store into the engine's columnar copy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from lastmile.customers.selectors import customers_merged
from lastmile.funnels.engines import Engine
from lastmile.funnels.engines.clickhouse import engine_from_url
from lastmile.funnels.selectors import events_after, events_moved_back

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
       merge moved back.
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
    return CopyReport(events=events, batches=batches, mark=mark)
