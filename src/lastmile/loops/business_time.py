"""Business-time maths for SLA deadlines: pure functions, no ORM, no Django.

A :class:`Calendar` says when the clock runs: opening hours per weekday in one IANA timezone,
closed on a country's public holidays (the ``holidays`` package) and on extra dates.
Every function takes aware datetimes (any timezone) and returns aware **UTC** datetimes.

How it works: we walk *local* calendar days from the start's local date, build each day's open
intervals as local wall-clock datetimes, convert both ends to UTC, and from then on only do
arithmetic in UTC.  A duration is never added to a local wall-clock time, so DST cannot shift
a deadline by an hour.

Worked example -- 09:00-17:00 Monday to Friday in Berlin; a loop opened Monday 2 March 2026
at 16:00 with a four-hour SLA gets one hour on Monday (16:00-17:00) and the remaining three
on Tuesday morning (09:00-12:00), so it is due Tuesday 12:00 local, 11:00 UTC (CET is UTC+1):

>>> from datetime import datetime, timedelta
>>> from zoneinfo import ZoneInfo
>>> berlin = ZoneInfo("Europe/Berlin")
>>> cal = Calendar.from_config(
...     tz="Europe/Berlin",
...     weekly={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
... )
>>> due = add_business_time(datetime(2026, 3, 2, 16, 0, tzinfo=berlin), timedelta(hours=4), cal)
>>> due
datetime.datetime(2026, 3, 3, 11, 0, tzinfo=datetime.timezone.utc)
>>> due.astimezone(berlin).strftime("%a %H:%M")
'Tue 12:00'
>>> business_time_between(datetime(2026, 3, 2, 16, 0, tzinfo=berlin), due, cal)
datetime.timedelta(seconds=14400)

Rules worth knowing:

* A deadline always lies in ``(open, close]`` of some open interval: 4 h from Monday 13:00 is
  Monday 17:00 (the closing instant), not Tuesday 09:00.  Adding zero returns the start
  unchanged, even when the start is outside opening hours.
* ``business_time_between(start, add_business_time(start, d, cal), cal) == d`` exactly, and
  ``add_business_time`` returns the *earliest* instant at which ``d`` of open time has elapsed,
  so ``add(add(s, d1), d2) == add(s, d1 + d2)``.
* Opening hours are local wall-clock times.  A local time skipped by a spring-forward gap is
  clamped to the instant of the transition (so 01:00-04:00 in Berlin on the last Sunday of
  March is 2 h of open time, and 02:15-02:45 that day is none).  A local time that occurs twice
  at fall-back means its *first* occurrence (01:00-04:00 on the last Sunday of October is 4 h).
* Open/closed for an instant is defined by these UTC intervals; a closing time of
  ``time(0)`` (``"24:00"`` in config) means midnight at the end of that day.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from lastmile.core.localtime import wall_to_utc

__all__ = [
    "MAX_SCAN_DAYS",
    "Calendar",
    "add_business_minutes",
    "add_business_time",
    "business_minutes_between",
    "business_time_between",
    "open_intervals",
]

#: ``add_business_time`` gives up (``ValueError``) when the deadline would lie more than this
#: many local calendar days after the start: guards against calendars that are (almost) never open.
MAX_SCAN_DAYS = 3 * 366

_MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_CACHE_LIMIT = 8192  # per-calendar cached days (and weeks) before the cache is reset
_TABLE_GROW_DAYS = 64  # local days added to a calendar's open-time table at a time
_TABLE_LIMIT_DAYS = 3 * MAX_SCAN_DAYS  # a table spanning more is started again

_DAY_NAMES: dict[str, int] = {
    "mon": 0, "monday": 0,
    "tue": 1, "tues": 1, "tuesday": 1,
    "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
    "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")

Interval = tuple[datetime, datetime]
WeeklyHours = tuple[tuple[int, tuple[tuple[time, time], ...]], ...]


@lru_cache(maxsize=64)
def _country_holidays(country: str, subdiv: str | None) -> holidays.HolidayBase:
    """The ``holidays`` calendar for a country; it fills in years lazily on lookup."""
    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError as exc:
        where = f"{country!r}" if subdiv is None else f"{country!r} subdivision {subdiv!r}"
        raise ValueError(f"unknown holiday country {where}: {exc}") from None


def _zone(tz: str) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"unknown timezone {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {tz!r}") from None


def _seconds_of_day(t: time, *, closing: bool) -> int:
    """Seconds since local midnight; a closing time of 00:00 is the end of the day (86400)."""
    s = t.hour * 3600 + t.minute * 60 + t.second
    return 86400 if closing and t == _MIDNIGHT else s


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _parse_time(text: Any, where: str, *, closing: bool) -> time:
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a time like '09:00', got {text!r}")
    m = _TIME_RE.match(text.strip())
    if m is None:
        raise ValueError(f"{where}: bad time {text!r} (expected HH:MM)")
    hh, mm, ss = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if hh == 24 and mm == 0 and ss == 0:
        if not closing:
            raise ValueError(f"{where}: 24:00 is only allowed as a closing time")
        return _MIDNIGHT
    if hh > 23 or mm > 59 or ss > 59:
        raise ValueError(f"{where}: bad time {text!r} (out of range)")
    return time(hh, mm, ss)


def _normalise_weekly(weekly: Any) -> WeeklyHours:
    """Validate and canonicalise weekly hours (sorted days, sorted intervals, no empty days)."""
    items = weekly.items() if isinstance(weekly, Mapping) else weekly
    try:
        entries = list(items)
    except TypeError:
        raise ValueError(
            f"weekly must be a sequence of (weekday, intervals), got {weekly!r}"
        ) from None
    by_day: dict[int, tuple[tuple[time, time], ...]] = {}
    for entry in entries:
        try:
            day, intervals = entry
        except (TypeError, ValueError):
            raise ValueError(f"weekly entry {entry!r} is not a (weekday, intervals) pair") from None
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ValueError(f"weekday must be an int 0 (Mon) .. 6 (Sun), got {day!r}")
        if day in by_day:
            raise ValueError(f"weekday {day} appears twice in weekly hours")
        pairs: list[tuple[time, time]] = []
        for pair in intervals or ():
            try:
                opens, closes = pair
            except (TypeError, ValueError):
                raise ValueError(f"weekday {day}: {pair!r} is not an (open, close) pair") from None
            for t in (opens, closes):
                if not isinstance(t, time) or t.tzinfo is not None:
                    raise ValueError(f"weekday {day}: {t!r} is not a naive datetime.time")
            pairs.append((opens.replace(fold=0), closes.replace(fold=0)))
        pairs.sort(key=lambda p: _seconds_of_day(p[0], closing=False))
        prev_close = -1
        for opens, closes in pairs:
            o = _seconds_of_day(opens, closing=False)
            c = _seconds_of_day(closes, closing=True)
            if o >= c:
                raise ValueError(
                    f"weekday {day}: opening time {opens.isoformat()} must be before closing time "
                    f"{closes.isoformat()} (split overnight hours across two days)"
                )
            if o < prev_close:
                raise ValueError(f"weekday {day}: overlapping intervals in {pairs!r}")
            prev_close = c
        if pairs:
            by_day[day] = tuple(pairs)
    return tuple(sorted(by_day.items()))


@dataclass(frozen=True)
class Calendar:
    """Opening hours in one timezone; closed on holidays.

    ``weekly`` maps weekday (0=Mon..6=Sun) to ``(open, close)`` local times as a tuple of pairs,
    e.g. ``((0, ((time(9), time(17)),)), (1, ((time(9), time(12)), (time(13), time(17)))))``;
    ``close == time(0)`` means midnight at the end of the day and a missing weekday is closed.
    It is validated and canonicalised on construction (``ValueError`` when invalid).
    """

    tz: str = "UTC"
    weekly: WeeklyHours = ()
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    always_open: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_zone", _zone(self.tz))
        weekly = _normalise_weekly(self.weekly)
        set_(self, "weekly", weekly)
        hours: list[tuple[tuple[time, time], ...]] = [()] * 7
        for day, intervals in weekly:
            hours[day] = intervals
        set_(self, "_hours", tuple(hours))
        country = (self.holiday_country or "").strip().upper() or None
        subdiv = (self.holiday_subdiv or "").strip() or None
        if subdiv is not None and country is None:
            raise ValueError("holiday_subdiv needs a holiday_country")
        set_(self, "holiday_country", country)
        set_(self, "holiday_subdiv", subdiv)
        set_(self, "_holidays", _country_holidays(country, subdiv) if country else None)
        extra = frozenset(self.extra_holidays)
        for d in extra:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise ValueError(f"extra_holidays must hold dates, got {d!r}")
        set_(self, "extra_holidays", extra)
        # Per-instance caches (not dataclass fields: excluded from eq/hash/repr).
        set_(self, "_days", {})
        set_(self, "_weeks", {})
        set_(self, "_table", None)

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def twenty_four_seven(cls) -> Calendar:
        """Always open: business time is wall time."""
        return cls(always_open=True)

    @classmethod
    def from_config(
        cls,
        *,
        tz: str,
        weekly: Mapping[str, Sequence[Sequence[str]] | None],
        holiday_country: str | None = None,
        holiday_subdiv: str | None = None,
        extra_holidays: Iterable[str | date] | None = None,
    ) -> Calendar:
        """Build a calendar from JSON-ish config.

        ``weekly`` looks like ``{"mon": [["09:00", "17:00"]], "tue": [["09:00", "12:00"],
        ["13:00", "17:00"]], "sat": []}``; day names are case-insensitive (``mon`` or ``monday``),
        ``"24:00"`` (or ``"00:00"``) as a closing time means midnight at the end of the day.
        ``extra_holidays`` are ISO dates (``"2026-12-24"``).  Raises ``ValueError`` on bad input.
        """
        if not isinstance(weekly, Mapping):
            raise ValueError(f"weekly must be a mapping of day name to intervals, got {weekly!r}")
        days: dict[int, tuple[tuple[time, time], ...]] = {}
        for name, intervals in weekly.items():
            key = name.strip().lower() if isinstance(name, str) else name
            day = _DAY_NAMES.get(key) if isinstance(key, str) else None
            if day is None:
                raise ValueError(
                    f"unknown weekday {name!r} (expected one of mon, tue, wed, thu, fri, sat, sun)"
                )
            if day in days:
                raise ValueError(f"weekday {name!r} given twice")
            if intervals is None:
                intervals = []
            if isinstance(intervals, str) or not isinstance(intervals, Sequence):
                raise ValueError(f"weekly[{name!r}] must be a list of [open, close] pairs")
            pairs: list[tuple[time, time]] = []
            for i, pair in enumerate(intervals):
                where = f"weekly[{name!r}][{i}]"
                if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                    raise ValueError(f"{where} must be an [open, close] pair, got {pair!r}")
                opens = _parse_time(pair[0], f"{where} open", closing=False)
                closes = _parse_time(pair[1], f"{where} close", closing=True)
                if _seconds_of_day(opens, closing=False) >= _seconds_of_day(closes, closing=True):
                    raise ValueError(
                        f"{where}: open {pair[0]} must be before close {pair[1]} "
                        "(split overnight hours across two days)"
                    )
                pairs.append((opens, closes))
            days[day] = tuple(pairs)
        extra: set[date] = set()
        for raw in extra_holidays or ():
            if isinstance(raw, datetime):
                raise ValueError(f"extra_holidays must hold dates, got datetime {raw!r}")
            if isinstance(raw, date):
                extra.add(raw)
                continue
            try:
                extra.add(date.fromisoformat(raw.strip()))
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"bad extra holiday {raw!r} (expected YYYY-MM-DD)") from None
        return cls(
            tz=tz,
            weekly=tuple(sorted(days.items())),
            holiday_country=holiday_country or None,
            holiday_subdiv=holiday_subdiv or None,
            extra_holidays=frozenset(extra),
        )

    # -- queries -----------------------------------------------------------------------------

    @property
    def has_open_hours(self) -> bool:
        return self.always_open or bool(self.weekly)

    def is_holiday(self, d: date) -> bool:
        """Whether the local date ``d`` is closed as a holiday (country or extra)."""
        if isinstance(d, datetime):
            raise TypeError("is_holiday takes a local date, not a datetime")
        if d in self.extra_holidays:
            return True
        hols: holidays.HolidayBase | None = self.__dict__["_holidays"]
        return hols is not None and d in hols

    def is_open(self, at: datetime) -> bool:
        """Whether the clock runs at instant ``at`` (intervals are half-open ``[open, close)``)."""
        u = _as_utc(at, "at")
        if self.always_open:
            return True
        local = u.astimezone(self.__dict__["_zone"]).date()
        for d in (local - _ONE_DAY, local, local + _ONE_DAY):
            for a, b in self._day_intervals(d):
                if a <= u < b:
                    return True
        return False

    # -- internals ---------------------------------------------------------------------------

    def _day_intervals(self, d: date) -> tuple[Interval, ...]:
        """Open intervals of local day ``d`` in UTC: sorted, non-empty, non-overlapping."""
        cache: dict[date, tuple[Interval, ...]] = self.__dict__["_days"]
        hit = cache.get(d)
        if hit is not None:
            return hit
        hours: tuple[tuple[time, time], ...] = self.__dict__["_hours"][d.weekday()]
        out: list[Interval] = []
        if hours and not self.is_holiday(d):
            zone: ZoneInfo = self.__dict__["_zone"]
            for opens, closes in hours:
                a = wall_to_utc(datetime.combine(d, opens), zone)
                end_local = (
                    datetime.combine(d + _ONE_DAY, _MIDNIGHT)
                    if closes == _MIDNIGHT
                    else datetime.combine(d, closes)
                )
                b = wall_to_utc(end_local, zone)
                if b <= a:  # entirely inside a spring-forward gap
                    continue
                if out and out[-1][1] >= a:  # abutting (or touching after DST clamping)
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
        result = tuple(out)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[d] = result
        return result

    def _week(self, monday: date) -> tuple[timedelta, datetime | None, datetime | None]:
        """(open time, first opening, last closing) of the 7 local days from ``monday``."""
        cache: dict[date, tuple[timedelta, datetime | None, datetime | None]] = self.__dict__[
            "_weeks"
        ]
        hit = cache.get(monday)
        if hit is not None:
            return hit
        total = _ZERO
        first: datetime | None = None
        last: datetime | None = None
        for i in range(7):
            for a, b in self._day_intervals(monday + timedelta(days=i)):
                total += b - a
                if first is None:
                    first = a
                last = b
        result = (total, first, last)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[monday] = result
        return result

    def _local_date(self, u: datetime) -> date:
        return u.astimezone(self.__dict__["_zone"]).date()


class _OpenTable:
    """A calendar's open intervals over a run of local days, with the open time up to the
    end of each: ``add_business_time`` finds where a start falls and where its deadline
    falls by two bisections instead of walking the days one by one (the sweeper works out
    thousands of rung times per batch on a handful of calendars).

    The intervals are ``Calendar._day_intervals`` of each local day in turn, as the walk
    sees them (sorted, non-empty, never overlapping); ``cum[i]`` is the open time from the
    table's first day to ``ends[i]``. It covers the local days ``[lo, hi)`` and grows
    forward by whole days; a start before ``lo`` builds it again from there.
    """

    __slots__ = ("cal", "cum", "days", "ends", "hi", "lo", "starts")

    def __init__(self, cal: Calendar, lo: date) -> None:
        self.cal = cal
        self.lo = self.hi = lo
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.cum: list[timedelta] = []
        self.days: list[int] = []  # each interval's local day (ordinal)

    def grow(self, last_day: int) -> bool:
        """Add up to ``_TABLE_GROW_DAYS`` local days, none after ``last_day`` (an ordinal);
        False when every day up to it is in already."""
        first = self.hi.toordinal()
        if first > last_day:
            return False
        total = self.cum[-1] if self.cum else _ZERO
        d = self.hi
        for n in range(first, min(first + _TABLE_GROW_DAYS, last_day + 1)):
            for a, b in self.cal._day_intervals(d):
                total += b - a
                self.starts.append(a)
                self.ends.append(b)
                self.cum.append(total)
                self.days.append(n)
            d += _ONE_DAY
        self.hi = d
        return True


def _table_from(cal: Calendar, first_day: date) -> _OpenTable:
    """The calendar's table, covering local days from ``first_day`` on.

    A start before the table's first day builds it again from a month earlier (so that
    starts met in falling order do not rebuild it each time), keeping the days it had; a
    start so far after it that the table would outgrow ``_TABLE_LIMIT_DAYS`` starts it
    again from there."""
    table: _OpenTable | None = cal.__dict__["_table"]
    if table is not None and table.lo <= first_day:
        if (first_day - table.lo).days <= _TABLE_LIMIT_DAYS - MAX_SCAN_DAYS:
            return table
        table = None
    lo = first_day if table is None else first_day - timedelta(days=32)
    fresh = _OpenTable(cal, lo)
    if table is not None and (table.hi - lo).days <= _TABLE_LIMIT_DAYS:
        while fresh.hi < table.hi and fresh.grow(table.hi.toordinal() - 1):
            pass
    object.__setattr__(cal, "_table", fresh)
    return fresh


def open_intervals(
    cal: Calendar, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals (UTC, aware) overlapping ``[start, end)``, clipped to it, in order.

    Abutting intervals (e.g. ``00:00-24:00`` on consecutive days) are merged into one.
    """
    s = _as_utc(start, "start")
    e = _as_utc(end, "end")
    return _open_intervals(cal, s, e)


def _open_intervals(cal: Calendar, s: datetime, e: datetime) -> Iterator[Interval]:
    if e <= s:
        return
    if cal.always_open:
        yield (s, e)
        return
    if not cal.weekly:
        return
    d = cal._local_date(s) - _ONE_DAY
    last_day = cal._local_date(e) + _ONE_DAY
    pending: Interval | None = None
    while d <= last_day:
        for a, b in cal._day_intervals(d):
            if b <= s or a >= e:
                continue
            a, b = max(a, s), min(b, e)
            if pending is not None and pending[1] >= a:
                pending = (pending[0], max(pending[1], b))
            else:
                if pending is not None:
                    yield pending
                pending = (a, b)
        d += _ONE_DAY
    if pending is not None:
        yield pending


def add_business_time(start: datetime, duration: timedelta, cal: Calendar) -> datetime:
    """The UTC instant at which ``duration`` of open time has elapsed after ``start``.

    It is the earliest such instant, so it lies in ``(open, close]`` of some open interval and
    is never inside closed hours.  A zero duration returns ``start`` (in UTC) unchanged, even
    outside opening hours.  Raises ``ValueError`` for a naive ``start``, a negative duration, a
    calendar with no open hours, or a deadline more than :data:`MAX_SCAN_DAYS` days away.
    """
    s = _as_utc(start, "start")
    if not isinstance(duration, timedelta):
        raise TypeError(f"duration must be a timedelta, not {type(duration).__name__}")
    if duration < _ZERO:
        raise ValueError(f"duration must not be negative (got {duration})")
    if duration == _ZERO:
        return s
    if cal.always_open:
        return s + duration
    if not cal.weekly:
        raise ValueError("calendar has no open hours")
    # Open time is counted from the table's first day: the start's own count, plus the
    # duration, is the count the deadline has; the first interval whose end reaches it
    # holds the deadline, which is then that end less what it has beyond. (The day walk
    # this replaces summed the same intervals from the day before the start's.)
    first_day = cal._local_date(s) - _ONE_DAY
    last_day = first_day.toordinal() + MAX_SCAN_DAYS
    table = _table_from(cal, first_day)
    i = bisect_right(table.ends, s)  # the first interval that ends after the start
    while i == len(table.ends):
        if not table.grow(last_day):
            _too_far(s, duration)
        i = bisect_right(table.ends, s, i)
    before = table.cum[i] - (table.ends[i] - max(table.starts[i], s))
    target = before + duration
    j = bisect_left(table.cum, target, i)
    while j == len(table.cum):
        if not table.grow(last_day):
            _too_far(s, duration)
        j = bisect_left(table.cum, target, j)
    if table.days[j] > last_day:
        _too_far(s, duration)
    return table.ends[j] - (table.cum[j] - target)


def _too_far(s: datetime, duration: timedelta) -> NoReturn:
    raise ValueError(
        f"not enough open time within {MAX_SCAN_DAYS} days of {s.isoformat()} "
        f"to fit {duration} (calendar is almost never open?)"
    )


def business_time_between(start: datetime, end: datetime, cal: Calendar) -> timedelta:
    """Open time in ``[start, end)``; zero if ``end <= start``."""
    s = _as_utc(start, "start")
    e = _as_utc(end, "end")
    if e <= s:
        return _ZERO
    if cal.always_open:
        return e - s
    if not cal.weekly:
        return _ZERO
    total = _ZERO
    d = cal._local_date(s) - _ONE_DAY
    last_day = cal._local_date(e) + _ONE_DAY
    while d <= last_day:
        if d.weekday() == 0:
            week_total, first, last = cal._week(d)
            if first is None or (first >= s and last is not None and last <= e):
                total += week_total
                d += timedelta(days=7)
                continue
        for a, b in cal._day_intervals(d):
            if b <= s or a >= e:
                continue
            total += min(b, e) - max(a, s)
        d += _ONE_DAY
    return total


def add_business_minutes(start: datetime, minutes: int | float, cal: Calendar) -> datetime:
    """:func:`add_business_time` with a duration in minutes."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise TypeError(f"minutes must be a number, not {type(minutes).__name__}")
    if not math.isfinite(minutes):
        raise ValueError(f"minutes must be finite (got {minutes})")
    return add_business_time(start, timedelta(minutes=minutes), cal)


def business_minutes_between(start: datetime, end: datetime, cal: Calendar) -> float:
    """:func:`business_time_between` in (fractional) minutes."""
    return business_time_between(start, end, cal).total_seconds() / 60
