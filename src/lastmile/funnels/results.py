"""What an engine answers: the same shapes whichever engine computed them."""

from __future__ import annotations

from dataclasses import dataclass


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
class FunnelResult:
    steps: list[StepResult]

    @property
    def people(self) -> int:
        """The people who entered the funnel (counted at step 1)."""
        return self.steps[0].count if self.steps else 0


@dataclass(frozen=True)
class DropoffPage:
    """Customer ids that dropped off at a step, in id order; ``next_after`` pages on."""

    people: list[int]
    next_after: int | None


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
