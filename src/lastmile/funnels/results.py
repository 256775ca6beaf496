"""What an engine answers: the same shapes whichever engine computed them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lastmile.funnels.definitions import FunnelDefinition

US = 1_000_000  # the engines keep times as microseconds since the epoch


@dataclass(frozen=True)
class StepResult:
    """One step's count, conversion rates and time from the previous step (seconds)."""

    index: int  # 0-based
    label: str
    count: int
    conversion_from_first: float | None  # None when step 1 has nobody
    conversion_from_previous: float | None  # None when the previous step has nobody
    median_seconds_from_previous: float | None  # None for step 1, unordered, or nobody
    p90_seconds_from_previous: float | None


@dataclass(frozen=True)
class BreakdownBucket:
    """The funnel of one bucket's people. ``value`` is the property's value as text (None:
    the null bucket); the bucket of every person past the first 20 buckets has
    ``other=True`` and ``value=None``."""

    value: str | None
    steps: list[StepResult]
    other: bool = False

    @property
    def people(self) -> int:
        return self.steps[0].count if self.steps else 0


@dataclass(frozen=True)
class FunnelResult:
    steps: list[StepResult]
    # Set when the definition asks for a breakdown: the buckets by people at step 1, most
    # first, "other" last.
    breakdown: list[BreakdownBucket] | None = None

    @property
    def people(self) -> int:
        """The people who entered the funnel (counted at step 1)."""
        return self.steps[0].count if self.steps else 0


@dataclass(frozen=True)
class TrendPoint:
    """One day or week (by the people's entry, UTC): who entered and who converted."""

    start: date
    entered: int
    converted: int

    @property
    def rate(self) -> float | None:
        return rate(self.converted, self.entered)


@dataclass(frozen=True)
class Dropoff:
    """One person who dropped off: their last event, and whether they can still convert
    (None when the question was asked without ``now``)."""

    customer_id: int
    last_event: str | None  # its name (event, page or screen name); None: no event by now
    last_event_at: datetime | None
    window_open: bool | None


# The newest-first key of a person with no event by ``now``: before any event's time, so
# such people come after all others.
NO_EVENT = -(2**62)
CURSOR = re.compile(r"^(-?\d{1,19})_(\d{1,19})$")


@dataclass(frozen=True)
class DropoffCursor:
    """Where a newest-first page of drop-offs ends: the last person's last event time (µs,
    ``NO_EVENT`` without one) and their id; the next page holds the people after it in
    that order (last event later first, ties by id)."""

    last_us: int
    person: int

    def text(self) -> str:
        return f"{self.last_us}_{self.person}"

    @classmethod
    def parse(cls, text: str) -> DropoffCursor | None:
        """The cursor ``text()`` wrote, or None when ``text`` is not one."""
        m = CURSOR.match(text)
        if m is None or abs(int(m[1])) >= 2**63 or int(m[2]) >= 2**63:
            return None
        return cls(int(m[1]), int(m[2]))


@dataclass(frozen=True)
class DropoffPage:
    """Customer ids that dropped off at a step, in the order asked: by id (``next_after``
    pages on) or newest first (``next_cursor`` pages on). ``details`` holds the same people
    with their last event, in the same order."""

    people: list[int]
    next_after: int | None
    details: list[Dropoff] = field(default_factory=list)
    next_cursor: DropoffCursor | None = None


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default, DuckDB's
    ``quantile_cont``)."""
    if not sorted_values:
        return None
    h = (len(sorted_values) - 1) * q
    lo = int(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


# --- shared by the engines: their rows into the shapes above ------------------------------


def micros(t: datetime) -> int:
    return int(t.timestamp()) * US + t.microsecond


def instant(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us // US, tz=UTC).replace(microsecond=ts_us % US)


def step_results(d: FunnelDefinition, rows: Mapping[int, Sequence[Any]]) -> list[StepResult]:
    """The steps' results from ``{step: (count, median µs, p90 µs)}`` (a step nobody
    reached is missing)."""
    counts = [int(rows[k][0]) if k in rows else 0 for k in range(len(d.steps))]
    steps = []
    for k, step in enumerate(d.steps):
        _, median, p90 = rows.get(k, (0, None, None))
        steps.append(
            StepResult(
                index=k,
                label=step.name,
                count=counts[k],
                conversion_from_first=rate(counts[k], counts[0]),
                conversion_from_previous=rate(counts[k], counts[k - 1] if k else counts[k]),
                median_seconds_from_previous=median / US if k and median is not None else None,
                p90_seconds_from_previous=p90 / US if k and p90 is not None else None,
            )
        )
    return steps


def funnel_result(d: FunnelDefinition, rows: Iterable[Sequence[Any]]) -> FunnelResult:
    """A funnel with its breakdown from rows ``(bucket, other, step, count, median µs,
    p90 µs, r)``: ``r`` 0 for the whole funnel, else the bucket's rank from 1."""
    total: dict[int, Sequence[Any]] = {}
    buckets: dict[int, tuple[str | None, bool, dict[int, Sequence[Any]]]] = {}
    for bucket, other, step, count, median, p90, r in rows:
        if int(r) == 0:
            total[int(step)] = (count, median, p90)
        else:
            figures = (count, median, p90)
            buckets.setdefault(int(r), (bucket, bool(other), {}))[2][int(step)] = figures
    return FunnelResult(
        steps=step_results(d, total),
        breakdown=[
            BreakdownBucket(value=bucket, other=other, steps=step_results(d, found))
            for _, (bucket, other, found) in sorted(buckets.items())
        ],
    )


def dropoff_page(
    d: FunnelDefinition,
    found: Sequence[tuple[int, int, int]],
    last: dict[int, tuple[str, int]],
    *,
    more: bool,
    now_us: int | None,
    newest_first: bool = False,
) -> DropoffPage:
    """A page of drop-offs from ``(person, their latest entry µs, their newest-first key)``
    in the order asked and ``{person: (last event, its µs)}``; ``more``: a next page
    exists."""
    people = [person for person, _, _ in found]
    details = []
    for person, entry, _ in found:
        name, ts = last.get(person, (None, None))
        details.append(
            Dropoff(
                customer_id=person,
                last_event=name,
                last_event_at=instant(ts) if ts is not None else None,
                window_open=entry + d.window_seconds * US > now_us if now_us is not None else None,
            )
        )
    if newest_first:
        cursor = DropoffCursor(int(found[-1][2]), people[-1]) if more else None
        return DropoffPage(people=people, next_after=None, details=details, next_cursor=cursor)
    return DropoffPage(people=people, next_after=people[-1] if more else None, details=details)
