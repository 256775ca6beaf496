"""Reads of the event store for the analytics copy.

The copy's rows are read as the database stores them, the message as JSON text and the
time as text, and parsed by the engine (DuckDB), not by Python: decoding and re-encoding
every message in Python bounded the copy at ~7,500 events/s (customers'
``interactions_after_raw``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from lastmile.cases.selectors import cases_visible
from lastmile.customers.selectors import interactions_after_raw, interactions_moved_back
from lastmile.funnels.engines.duckdb import FUNNEL_TYPES, EventRow, RawEvent
from lastmile.loops.selectors import loops_visible
from lastmile.people.viewers import SYSTEM

EVENT_CHANNELS = ("web", "app")  # where the Segment API records its events
US = 1_000_000


@dataclass(frozen=True)
class EventBatch:
    """The event-store rows after a mark, as stored, and the last id looked at (the new
    mark once the batch is copied); ``last`` is None when nothing was there. Not every row
    is a funnel event: the engine keeps the track, page and screen calls."""

    rows: list[RawEvent]
    last: int | None


def events_after(
    *, after_id: int, limit: int, recorded_before: datetime | None = None
) -> EventBatch:
    """The next ``limit`` web/app rows after ``after_id``, by id, as stored.

    ``recorded_before`` stops the batch at the first row recorded later: on PostgreSQL ids
    are taken before commit, so a row with a smaller id may still become visible after a
    larger one; copying only rows older than the longest ingest transaction leaves none
    behind the mark.
    """
    found = interactions_after_raw(
        after_id=after_id, limit=limit, channels=EVENT_CHANNELS, recorded_before=recorded_before
    )
    rows: list[RawEvent] = []
    last: int | None = None
    for pk, customer_id, at, data, channel, is_late in found:
        if is_late:
            break
        last = pk
        rows.append(RawEvent(pk, customer_id, at, data, channel))
    return EventBatch(rows=rows, last=last)


def event_rows(rows: list[RawEvent]) -> list[EventRow]:
    """The funnel events among raw rows, parsed in Python: for an engine that takes
    ``EventRow`` only (DuckDB parses the raw rows itself, ``append_raw``)."""
    out = []
    for r in rows:
        data = json.loads(r.data) if r.data else None
        if not isinstance(data, dict) or data.get("type") not in FUNNEL_TYPES:
            continue
        kind = data["type"]
        name = data.get("event") if kind == "track" else data.get("name")
        props = data.get("properties")
        campaign = (data.get("context") or {}).get("campaign") or {}
        source = campaign.get("source") if isinstance(campaign, dict) else None
        at = datetime.fromisoformat(r.occurred_at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        out.append(
            EventRow(
                event_id=r.event_id,
                customer_id=r.customer_id,
                ts_us=int(at.timestamp()) * US + at.microsecond,
                kind=kind,
                name=str(name or ""),
                props=json.dumps(props if isinstance(props, dict) else {}, separators=(",", ":")),
                source=None
                if source is None or isinstance(source, dict | list)
                else (source if isinstance(source, str) else json.dumps(source)),
                channel=r.channel,
            )
        )
    return out


def events_moved_back() -> list[tuple[int, int]]:
    """(event id, its customer now) for the events an undone merge moved: a copy made
    while the merge stood holds the survivor, and only the store knows they went back."""
    return interactions_moved_back(channels=EVENT_CHANNELS)


def _firsts(qs: QuerySet[Any], at: str) -> list[tuple[int, datetime, int, str]]:
    """(customer, opened at, id, team slug) of each customer's earliest row of ``qs`` (by
    ``at``, ties by id) among those with a customer and a team."""
    return list(
        qs.select_related(None)
        .filter(customer__isnull=False, team__isnull=False)
        .annotate(
            nth=Window(
                RowNumber(), partition_by=[F("customer_id")], order_by=[F(at).asc(), F("pk").asc()]
            )
        )
        .filter(nth=1)
        .values_list("customer_id", at, "pk", "team__slug")
    )


def customers_first_team() -> list[tuple[int, int, str]]:
    """(customer id, when, in µs since the epoch, the team's slug) of the first team that
    touched each customer: the team now owning the earliest loop or case opened for them
    (a case before a loop opened at the same time, then the smaller id); loops and cases
    of no team do not count. Read for the first-touch team breakdown
    (``lastmile.funnels.definitions``)."""
    best: dict[int, tuple[datetime, int, int, str]] = {}
    for rank, rows in enumerate(
        (
            _firsts(cases_visible(viewer=SYSTEM), "created_at"),
            _firsts(loops_visible(viewer=SYSTEM), "opened_at"),
        )
    ):
        for customer, at, pk, team in rows:
            key = (at, rank, pk, team)
            if customer not in best or key < best[customer]:
                best[customer] = key
    return [
        (customer, int(at.timestamp()) * US + at.microsecond, team)
        for customer, (at, _, _, team) in sorted(best.items())
    ]
