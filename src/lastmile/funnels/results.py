"""What an engine answers: the same shapes whichever engine computed them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


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


@dataclass(frozen=True)
class DropoffPage:
    """Customer ids that dropped off at a step, in id order; ``next_after`` pages on.
    ``details`` holds the same people with their last event, in the same order."""

    people: list[int]
    next_after: int | None
    details: list[Dropoff] = field(default_factory=list)


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
