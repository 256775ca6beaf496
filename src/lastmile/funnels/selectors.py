"""Reads of the event store for the analytics copy.

These read ``customers``' tables directly (the Segment events are interactions on the
web and app channels, and merges are ``Customer.merged_into``); they belong in
``customers.selectors`` and move there when that app takes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lastmile.customers.selectors import (
    interactions_after,
    interactions_moved_back,
)
from lastmile.funnels.engines.duckdb import EventRow

EVENT_CHANNELS = ("web", "app")  # where the Segment API records its events
FUNNEL_TYPES = ("track", "page", "screen")  # identify, group and alias are not actions
US = 1_000_000


@dataclass(frozen=True)
class EventBatch:
    """The events among the event-store rows after a mark, and the last id looked at
    (the new mark once the batch is copied); ``last`` is None when nothing was there."""

    rows: list[EventRow]
    last: int | None


def _event_row(pk: int, customer_id: int, occurred_at: datetime, data: Any) -> EventRow | None:
    if not isinstance(data, dict) or data.get("type") not in FUNNEL_TYPES:
        return None
    kind = data["type"]
    name = data.get("event") if kind == "track" else data.get("name")
    props = data.get("properties")
    return EventRow(
        event_id=pk,
        customer_id=customer_id,
        ts_us=int(occurred_at.timestamp()) * US + occurred_at.microsecond,
        kind=kind,
        name=str(name or ""),
        props=json.dumps(props if isinstance(props, dict) else {}, separators=(",", ":")),
    )


def events_after(
    *, after_id: int, limit: int, recorded_before: datetime | None = None
) -> EventBatch:
    """The funnel events of the next ``limit`` web/app rows after ``after_id``, by id.

    ``recorded_before`` stops the batch at the first row recorded later: on PostgreSQL ids
    are taken before commit, so a row with a smaller id may still become visible after a
    larger one; copying only rows older than the longest ingest transaction leaves none
    behind the mark.
    """
    found = interactions_after(after_id=after_id, limit=limit, channels=EVENT_CHANNELS)
    rows: list[EventRow] = []
    last: int | None = None
    for pk, customer_id, occurred_at, recorded_at, data in found:
        if recorded_before is not None and recorded_at > recorded_before:
            break
        last = pk
        row = _event_row(pk, customer_id, occurred_at, data)
        if row is not None:
            rows.append(row)
    return EventBatch(rows=rows, last=last)


def events_moved_back() -> list[tuple[int, int]]:
    """(event id, its customer now) for the events an undone merge moved: a copy made
    while the merge stood holds the survivor, and only the store knows they went back."""
    return interactions_moved_back(channels=EVENT_CHANNELS)
