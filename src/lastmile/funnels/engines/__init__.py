"""Engines that answer a funnel definition over the columnar copy of the events.

Every engine (DuckDB embedded, ClickHouse at scale) offers :class:`Engine`: the copy's side
(``mark``, ``discard_unfinished``, ``append``, ``append_raw``, ``people_write``,
``teams_write``, ``compact``) and the questions (``funnel``, ``trend``, ``dropoffs``), with the semantics
of ``lastmile.funnels.definitions`` and the result shapes of ``lastmile.funnels.results``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from lastmile.funnels.definitions import FunnelDefinition
    from lastmile.funnels.engines.duckdb import EventRow, RawEvent
    from lastmile.funnels.results import DropoffCursor, DropoffPage, FunnelResult, TrendPoint


class Engine(Protocol):
    """What ``analytics_copy`` feeds and what the pages and the API ask."""

    def mark(self) -> int:
        """The high-water mark: every event-store id up to it is copied (0: none)."""
        ...

    def discard_unfinished(self) -> int:
        """Drop what a killed copy left half-written (never visible); how many pieces."""
        ...

    def append(self, rows: Sequence[EventRow], *, first: int, last: int) -> int:
        """Make the events of event-store ids ``first..last`` visible, with the mark, at
        once (the rows may be fewer: not every id is an event); how many events."""
        ...

    def append_raw(self, rows: Sequence[RawEvent], *, first: int, last: int) -> int:
        """As ``append``, from the event store's rows as they are (the Segment message as
        JSON text): the engine picks the funnel events out and parses them (or, short of a
        parser of its own, appends ``lastmile.funnels.selectors.event_rows(rows)``); how
        many events it kept."""
        ...

    def people_write(
        self, *, merged: Iterable[tuple[int, int]], moved: Iterable[tuple[int, int]] = ()
    ) -> None:
        """Replace the map of merged customers to the live customer they now are, and the
        customer of each event an undone merge moved back."""
        ...

    def teams_write(self, *, touches: Iterable[tuple[int, int, str]]) -> None:
        """Replace the map of first-touch teams: (customer id, when the first team touched
        them, µs since the epoch, that team's slug), one row per customer."""
        ...

    def compact(self, *, min_pieces: int = 2) -> int:
        """Merge the copy's small pieces into fewer once at least ``min_pieces`` of them
        follow each other, readers never seeing an event twice or missing; how many
        pieces were merged (an engine that merges by itself answers 0)."""
        ...

    def funnel(self, d: FunnelDefinition) -> FunnelResult: ...

    def trend(
        self, d: FunnelDefinition, *, interval: Literal["day", "week"] = "day"
    ) -> list[TrendPoint]: ...

    def dropoffs(
        self,
        d: FunnelDefinition,
        *,
        step: int,
        after: int | None = None,
        limit: int = 100,
        now: datetime | None = None,
        newest_first: bool = False,
        cursor: DropoffCursor | None = None,
    ) -> DropoffPage: ...
