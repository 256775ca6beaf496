"""Wall-clock time in a zone to UTC, with the DST edges decided once. Pure, no ORM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def wall_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """UTC instant of a naive local wall-clock time in ``zone``.

    Ambiguous times (fall-back) mean their first occurrence.  Nonexistent times (spring-forward
    gap) are clamped to the transition instant, so the local->UTC map never goes backwards.

    >>> paris = ZoneInfo("Europe/Paris")
    >>> wall_to_utc(datetime(2026, 3, 29, 2, 30), paris).isoformat()  # in the gap
    '2026-03-29T01:00:00+00:00'
    >>> wall_to_utc(datetime(2026, 10, 25, 2, 30), paris).isoformat()  # twice: the first
    '2026-10-25T00:30:00+00:00'
    """
    local = local.replace(tzinfo=None)
    aware = local.replace(tzinfo=zone, fold=0)
    first = aware.astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    # In the gap: fold=0 reads the wall time with the old offset (an instant after the
    # transition), fold=1 with the new one (an instant before it).  Bisect for the transition.
    other = aware.replace(fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)
    target = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi
