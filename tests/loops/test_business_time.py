"""Business-time maths (pure: no Django).  Run with ``-p no:django``."""

from __future__ import annotations

import doctest
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lastmile.loops import business_time
from lastmile.loops.business_time import (
    MAX_SCAN_DAYS,
    Calendar,
    add_business_minutes,
    add_business_time,
    business_minutes_between,
    business_time_between,
    open_intervals,
)

BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def office(
    tz: str, hours: list[list[str]] | None = None, days: tuple[str, ...] = WEEKDAYS, **kw: object
) -> Calendar:
    return Calendar.from_config(
        tz=tz,
        weekly={d: hours or [["09:00", "17:00"]] for d in days},
        **kw,  # type: ignore[arg-type]
    )


BERLIN_OFFICE = office("Europe/Berlin")
LONDON_OFFICE = office("Europe/London", holiday_country="GB")


def at(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=tz)


def local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz).replace(tzinfo=None)


# --------------------------------------------------------------------------- worked examples


def test_module_docstring_example() -> None:
    result = doctest.testmod(business_time)
    assert result.attempted > 0
    assert result.failed == 0


def test_monday_afternoon_plus_four_hours_is_tuesday_noon() -> None:
    start = at(BERLIN, 2026, 3, 2, 16)  # Monday
    due = add_business_time(start, 4 * H, BERLIN_OFFICE)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 3, 11, tzinfo=UTC)
    assert local(due, BERLIN) == datetime(2026, 3, 3, 12)
    assert business_time_between(start, due, BERLIN_OFFICE) == 4 * H


def test_friday_evening_plus_one_hour_is_monday_ten() -> None:
    due = add_business_time(at(BERLIN, 2026, 3, 6, 19, 30), H, BERLIN_OFFICE)  # Friday
    assert local(due, BERLIN) == datetime(2026, 3, 9, 10)


def test_closing_edges() -> None:
    cal = BERLIN_OFFICE
    # The minute before closing: its deadline is the closing instant, the same day.
    assert local(add_business_time(at(BERLIN, 2026, 3, 3, 16, 59), M, cal), BERLIN) == datetime(
        2026, 3, 3, 17
    )
    # At closing: the clock is stopped, so the minute is the first of the next morning.
    assert local(add_business_time(at(BERLIN, 2026, 3, 3, 17), M, cal), BERLIN) == datetime(
        2026, 3, 4, 9, 1
    )
    # Filling the day exactly ends at closing, not at the next opening.
    assert local(add_business_time(at(BERLIN, 2026, 3, 3, 9), 8 * H, cal), BERLIN) == datetime(
        2026, 3, 3, 17
    )
    assert cal.is_open(at(BERLIN, 2026, 3, 3, 9))
    assert cal.is_open(at(BERLIN, 2026, 3, 3, 16, 59, 59))
    assert not cal.is_open(at(BERLIN, 2026, 3, 3, 17))
    assert not cal.is_open(at(BERLIN, 2026, 3, 3, 8, 59, 59))
    assert not cal.is_open(at(BERLIN, 2026, 3, 7, 12))  # Saturday


def test_zero_duration_returns_start_even_when_closed() -> None:
    sunday = at(BERLIN, 2026, 3, 8, 12)
    assert add_business_time(sunday, timedelta(0), BERLIN_OFFICE) == sunday
    assert add_business_time(sunday, timedelta(0), BERLIN_OFFICE).tzinfo is UTC


def test_gb_christmas_holidays_are_skipped() -> None:
    cal = LONDON_OFFICE
    assert cal.is_holiday(date(2026, 12, 25))  # Christmas Day, Friday
    assert cal.is_holiday(date(2026, 12, 28))  # Boxing Day (observed), Monday
    assert not cal.is_holiday(date(2026, 12, 24))
    assert not cal.is_holiday(date(2026, 12, 29))
    due = add_business_time(at(LONDON, 2026, 12, 24, 16), 2 * H, cal)  # Thursday
    assert local(due, LONDON) == datetime(2026, 12, 29, 10)  # Tuesday
    assert (
        business_time_between(at(LONDON, 2026, 12, 24), at(LONDON, 2026, 12, 31), cal) == 3 * 8 * H
    )


def test_subdivision_holidays() -> None:
    bavaria = office("Europe/Berlin", holiday_country="DE", holiday_subdiv="BY")
    berlin = office("Europe/Berlin", holiday_country="DE", holiday_subdiv="BE")
    assert bavaria.is_holiday(date(2026, 1, 6))  # Epiphany in Bavaria only
    assert not berlin.is_holiday(date(2026, 1, 6))
    assert business_time_between(
        at(BERLIN, 2026, 1, 6), at(BERLIN, 2026, 1, 7), bavaria
    ) == timedelta(0)
    assert business_time_between(at(BERLIN, 2026, 1, 6), at(BERLIN, 2026, 1, 7), berlin) == 8 * H


def test_extra_holidays_are_skipped() -> None:
    cal = office("Europe/Berlin", extra_holidays=["2026-03-03", "2026-03-04"])
    assert cal.is_holiday(date(2026, 3, 3))
    due = add_business_time(at(BERLIN, 2026, 3, 2, 16), 4 * H, cal)
    assert local(due, BERLIN) == datetime(2026, 3, 5, 12)
    assert not cal.is_open(at(BERLIN, 2026, 3, 3, 12))


def test_split_day_lunch_break() -> None:
    cal = office("Europe/Berlin", [["09:00", "12:00"], ["13:00", "17:00"]])
    assert local(add_business_time(at(BERLIN, 2026, 3, 2, 11), 2 * H, cal), BERLIN) == datetime(
        2026, 3, 2, 14
    )
    assert local(add_business_time(at(BERLIN, 2026, 3, 2, 11), H, cal), BERLIN) == datetime(
        2026, 3, 2, 12
    )
    assert local(add_business_time(at(BERLIN, 2026, 3, 2, 12, 30), M, cal), BERLIN) == datetime(
        2026, 3, 2, 13, 1
    )
    assert not cal.is_open(at(BERLIN, 2026, 3, 2, 12, 30))
    assert business_time_between(at(BERLIN, 2026, 3, 2), at(BERLIN, 2026, 3, 3), cal) == 7 * H
    assert list(open_intervals(cal, at(BERLIN, 2026, 3, 2, 10), at(BERLIN, 2026, 3, 2, 14))) == [
        (datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 11, tzinfo=UTC)),
        (datetime(2026, 3, 2, 12, tzinfo=UTC), datetime(2026, 3, 2, 13, tzinfo=UTC)),
    ]


def test_abutting_intervals_are_merged() -> None:
    cal = office("Europe/Berlin", [["09:00", "12:00"], ["12:00", "17:00"]])
    assert list(open_intervals(cal, at(BERLIN, 2026, 3, 2), at(BERLIN, 2026, 3, 3))) == [
        (datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 16, tzinfo=UTC))
    ]
    overnight = Calendar.from_config(
        tz="UTC", weekly={"mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]}
    )
    assert list(
        open_intervals(
            overnight, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)
        )
    ) == [(datetime(2026, 3, 2, 22, tzinfo=UTC), datetime(2026, 3, 3, 2, tzinfo=UTC))]


def test_twenty_four_seven_is_wall_time() -> None:
    cal = Calendar.twenty_four_seven()
    # Across the Berlin spring-forward night.  Note: aware arithmetic with a ZoneInfo tzinfo is
    # wall-clock arithmetic, so the expected values are computed in UTC.
    start = at(BERLIN, 2026, 3, 28, 22).astimezone(UTC)
    assert add_business_time(start, 5 * H, cal) == start + 5 * H
    assert add_business_minutes(start, 90, cal) == start + 90 * M
    assert business_time_between(start, start + 7 * H, cal) == 7 * H
    assert business_minutes_between(start, start + 7 * H, cal) == 420.0
    assert cal.is_open(start)
    assert list(open_intervals(cal, start, start + H)) == [(start, start + H)]


def test_wrappers_and_non_utc_inputs() -> None:
    start = at(NEW_YORK, 2026, 3, 2, 10, 0)  # = 16:00 Berlin
    assert add_business_minutes(start, 240, BERLIN_OFFICE) == datetime(2026, 3, 3, 11, tzinfo=UTC)
    assert add_business_minutes(start, 0.5, BERLIN_OFFICE) == start.astimezone(UTC) + timedelta(
        seconds=30
    )
    assert (
        business_minutes_between(start, datetime(2026, 3, 3, 11, tzinfo=UTC), BERLIN_OFFICE)
        == 240.0
    )
    assert business_time_between(start, start - H, BERLIN_OFFICE) == timedelta(0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_time(datetime(2026, 3, 2, 9), H, BERLIN_OFFICE)
    with pytest.raises(ValueError, match="aware"):
        business_time_between(
            datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10, tzinfo=UTC), BERLIN_OFFICE
        )
    with pytest.raises(ValueError, match="aware"):
        BERLIN_OFFICE.is_open(datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError, match="aware"):
        open_intervals(BERLIN_OFFICE, datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10, tzinfo=UTC))
    with pytest.raises(ValueError, match="negative"):
        add_business_time(at(BERLIN, 2026, 3, 2, 9), -M, BERLIN_OFFICE)
    with pytest.raises(ValueError, match="finite"):
        add_business_minutes(at(BERLIN, 2026, 3, 2, 9), float("nan"), BERLIN_OFFICE)


def test_never_open_calendar_raises_instead_of_looping() -> None:
    never = Calendar(tz="Europe/Berlin")
    start = at(BERLIN, 2026, 3, 2, 9)
    with pytest.raises(ValueError, match="calendar has no open hours"):
        add_business_time(start, M, never)
    assert business_time_between(start, start + 1000 * H, never) == timedelta(0)
    assert not never.is_open(start)
    assert list(open_intervals(never, start, start + 1000 * H)) == []
    # Open hours exist, but every day for years is a holiday: give up after MAX_SCAN_DAYS.
    closed_for_years = office(
        "UTC",
        days=ALL_DAYS,
        extra_holidays=[date(2026, 1, 1) + timedelta(days=i) for i in range(5 * 366)],
    )
    with pytest.raises(ValueError, match=f"within {MAX_SCAN_DAYS} days"):
        add_business_time(datetime(2026, 1, 1, tzinfo=UTC), M, closed_for_years)


# --------------------------------------------------------------------------- DST


def test_berlin_spring_forward_and_fall_back() -> None:
    night = office("Europe/Berlin", [["01:00", "04:00"]], days=ALL_DAYS)
    day = timedelta(days=1)
    for d, expected in [(28, 3), (29, 2), (30, 3)]:  # 2026-03-29: 02:00 CET -> 03:00 CEST
        start = at(BERLIN, 2026, 3, d)
        assert business_time_between(start, start + day, night) == expected * H
    for d, expected in [(24, 3), (25, 4), (26, 3)]:  # 2026-10-25: 03:00 CEST -> 02:00 CET
        start = at(BERLIN, 2026, 10, d)
        assert business_time_between(start, start + day, night) == expected * H
    # 01:30 + 1 h on spring-forward day: half an hour before the gap, half after -> 03:30 CEST.
    due = add_business_time(at(BERLIN, 2026, 3, 29, 1, 30), H, night)
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert local(due, BERLIN) == datetime(2026, 3, 29, 3, 30)
    # On fall-back day 02:30 happens twice: 1 h after the first one is the second one.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert local(first, BERLIN) == datetime(2026, 10, 25, 2, 30)
    assert add_business_time(first, H, night) == first + H
    assert local(first + H, BERLIN) == datetime(2026, 10, 25, 2, 30)


def test_hours_inside_the_gap_or_the_overlap() -> None:
    cal = office("Europe/Berlin", [["02:15", "02:45"]], days=ALL_DAYS)
    spring = at(BERLIN, 2026, 3, 29)
    assert business_time_between(spring, spring + timedelta(days=1), cal) == timedelta(0)
    # The gap day is skipped: 10 minutes from Saturday 02:40 lands on Monday 02:20.
    due = add_business_time(at(BERLIN, 2026, 3, 28, 2, 40), 10 * M, cal)
    assert local(due, BERLIN) == datetime(2026, 3, 30, 2, 20)
    # Ambiguous local times mean their first occurrence (CEST).
    autumn = at(BERLIN, 2026, 10, 25)
    assert list(open_intervals(cal, autumn, autumn + timedelta(days=1))) == [
        (datetime(2026, 10, 25, 0, 15, tzinfo=UTC), datetime(2026, 10, 25, 0, 45, tzinfo=UTC))
    ]
    # An interval boundary in the gap is clamped to the transition (01:00 UTC).
    split = office("Europe/Berlin", [["01:00", "02:30"], ["02:30", "04:00"]], days=ALL_DAYS)
    assert list(open_intervals(split, spring, spring + timedelta(days=1))) == [
        (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, tzinfo=UTC))
    ]
    assert business_time_between(autumn, autumn + timedelta(days=1), split) == 4 * H


@pytest.mark.parametrize(
    ("tz", "moments"),
    [
        ("Europe/Berlin", [(2026, 3, 29), (2026, 10, 25)]),
        ("America/New_York", [(2026, 3, 8), (2026, 11, 1)]),
        ("Australia/Sydney", [(2026, 4, 5), (2026, 10, 4)]),
    ],
)
def test_round_the_clock_calendar_is_real_elapsed_time(
    tz: str, moments: list[tuple[int, int, int]]
) -> None:
    zone = ZoneInfo(tz)
    cal = office(tz, [["00:00", "24:00"]], days=ALL_DAYS)
    for y, m, d in moments:
        start = datetime.combine(date(y, m, d) - timedelta(days=1), time(22), tzinfo=zone)
        end = datetime.combine(date(y, m, d) + timedelta(days=1), time(3), tzinfo=zone)
        elapsed = end.astimezone(UTC) - start.astimezone(UTC)
        assert elapsed != 29 * H  # the change really is inside
        assert business_time_between(start, end, cal) == elapsed
        assert add_business_time(start, elapsed, cal) == end
        assert list(open_intervals(cal, start, end)) == [
            (start.astimezone(UTC), end.astimezone(UTC))
        ]
        for minutes in (1, 59, 60, 61, 180, 24 * 60):
            assert add_business_minutes(start, minutes, cal) == start.astimezone(UTC) + minutes * M


def test_new_york_office_day_is_always_eight_hours() -> None:
    cal = office("America/New_York", days=ALL_DAYS)
    for y, m, d in [(2026, 3, 8), (2026, 11, 1)]:
        start = at(NEW_YORK, y, m, d)
        assert business_time_between(start, start + timedelta(days=1), cal) == 8 * H
        assert local(add_business_time(start, 8 * H, cal), NEW_YORK) == datetime(y, m, d, 17)
        assert local(add_business_time(start, 9 * H, cal), NEW_YORK) == datetime(y, m, d + 1, 10)


def test_fast_path_agrees_with_day_by_day() -> None:
    cal = office("Europe/London", holiday_country="GB")
    start = at(LONDON, 2026, 3, 4, 10)
    # 400 business hours = 50 days: crosses the BST change, Good Friday, Easter Monday, May holidays.
    due = add_business_time(start, 400 * H, cal)
    assert business_time_between(start, due, cal) == 400 * H
    by_hand = timedelta(0)
    t = start
    while t < due:
        by_hand += business_time_between(t, min(t + timedelta(days=1), due), cal)
        t += timedelta(days=1)
    assert by_hand == 400 * H
    assert cal.is_open(due - timedelta(seconds=1))


def test_dst_change_list_is_sane() -> None:
    # Berlin, New York, Sydney and Lord Howe each change twice a year.
    assert len(OFFSET_CHANGES) == 4 * 2 * 7
    assert datetime(2026, 3, 29, 1, tzinfo=UTC) in OFFSET_CHANGES


def test_adding_many_minutes_skips_whole_weeks_across_holidays() -> None:
    cal = office("Europe/London", holiday_country="GB")
    start = datetime(2026, 5, 5, 10, tzinfo=UTC)
    assert local(add_business_minutes(start, 10_000, cal), LONDON) == datetime(2026, 6, 4, 9, 40)


# --------------------------------------------------------------------------- config validation


def test_from_config_builds_a_hashable_canonical_calendar() -> None:
    a = Calendar.from_config(
        tz="Europe/Berlin",
        weekly={
            "Tuesday": [["13:00", "17:00"], ["09:00", "12:00"]],
            "MON": [["9:00", "24:00"]],
            "sat": [],
        },
        holiday_country="de",
        extra_holidays=["2026-12-24"],
    )
    assert a.weekly == (
        (0, ((time(9), time(0)),)),
        (1, ((time(9), time(12)), (time(13), time(17)))),
    )
    assert a.holiday_country == "DE"
    assert a.extra_holidays == frozenset({date(2026, 12, 24)})
    b = Calendar(
        tz="Europe/Berlin",
        weekly=((1, ((time(13), time(17)), (time(9), time(12)))), (0, ((time(9), time(0)),))),
        holiday_country="DE",
        extra_holidays=frozenset({date(2026, 12, 24)}),
    )
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weekly": {"mond": [["09:00", "17:00"]]}}, "unknown weekday"),
        ({"weekly": {"mon": [["9am", "17:00"]]}}, "bad time"),
        ({"weekly": {"mon": [["09:00", "25:00"]]}}, "bad time"),
        ({"weekly": {"mon": [["09:60", "17:00"]]}}, "bad time"),
        ({"weekly": {"mon": [["24:00", "24:00"]]}}, "only allowed as a closing time"),
        ({"weekly": {"mon": [["17:00", "09:00"]]}}, "must be before close"),
        ({"weekly": {"mon": [["09:00", "09:00"]]}}, "must be before close"),
        ({"weekly": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "overlapping"),
        ({"weekly": {"mon": [["09:00"]]}}, "pair"),
        ({"weekly": {"mon": "09:00-17:00"}}, "list of"),
        ({"weekly": [["mon", "09:00", "17:00"]]}, "mapping"),
        ({"weekly": {}, "tz": "Mars/Olympus_Mons"}, "unknown timezone"),
        ({"weekly": {}, "tz": ""}, "unknown timezone"),
        ({"weekly": {}, "holiday_country": "XX"}, "unknown holiday country"),
        (
            {"weekly": {}, "holiday_country": "GB", "holiday_subdiv": "XYZ"},
            "unknown holiday country",
        ),
        ({"weekly": {}, "holiday_subdiv": "BY"}, "needs a holiday_country"),
        ({"weekly": {}, "extra_holidays": ["2026-02-30"]}, "bad extra holiday"),
        ({"weekly": {}, "extra_holidays": [20261224]}, "bad extra holiday"),
    ],
)
def test_from_config_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    kwargs = {"tz": "Europe/Berlin", **kwargs}
    with pytest.raises(ValueError, match=message):
        Calendar.from_config(**kwargs)  # type: ignore[arg-type]


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match="weekday"):
        Calendar(weekly=((7, ((time(9), time(17)),)),))
    with pytest.raises(ValueError, match="before closing"):
        Calendar(weekly=((0, ((time(17), time(9)),)),))
    with pytest.raises(ValueError, match="twice"):
        Calendar(weekly=((0, ((time(9), time(10)),)), (0, ((time(11), time(12)),))))
    with pytest.raises(ValueError, match="unknown timezone"):
        Calendar(tz="Nowhere/Special")


# --------------------------------------------------------------------------- properties

CALENDARS = {
    "berlin-office-DE-BY": office("Europe/Berlin", holiday_country="DE", holiday_subdiv="BY"),
    "new-york-office-US-sat": Calendar.from_config(
        tz="America/New_York",
        weekly={**{d: [["08:00", "18:00"]] for d in WEEKDAYS}, "sat": [["10:00", "14:00"]]},
        holiday_country="US",
    ),
    "sydney-split-AU-NSW": office(
        "Australia/Sydney",
        [["08:30", "12:00"], ["13:00", "17:30"]],
        holiday_country="AU",
        holiday_subdiv="NSW",
    ),
    "kolkata-mon-sat-IN": office(
        "Asia/Kolkata", [["10:00", "19:00"]], days=(*WEEKDAYS, "sat"), holiday_country="IN"
    ),
    "london-office-GB-extra": office(
        "Europe/London",
        holiday_country="GB",
        extra_holidays=["2026-12-24", "2027-12-24", "2028-12-27"],
    ),
    "berlin-round-the-clock": office("Europe/Berlin", [["00:00", "24:00"]], days=ALL_DAYS),
    "berlin-night-01-04": office("Europe/Berlin", [["01:00", "04:00"]], days=ALL_DAYS),
    "new-york-dst-edges": office(
        "America/New_York",
        [["01:30", "02:30"], ["02:30", "03:00"], ["23:00", "24:00"]],
        days=ALL_DAYS,
    ),
    "berlin-gap-and-morning": office(
        "Europe/Berlin", [["02:15", "02:45"], ["09:00", "10:00"]], days=ALL_DAYS
    ),
    "lord-howe-half-hour-dst": office("Australia/Lord_Howe", [["01:00", "03:00"]], days=ALL_DAYS),
    "utc-overnight": Calendar.from_config(
        tz="UTC",
        weekly={"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"], ["22:00", "24:00"]]},
    ),
    "twenty-four-seven": Calendar.twenty_four_seven(),
}

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2030, 12, 31, tzinfo=UTC)
SPAN_SECONDS = int((END - EPOCH).total_seconds())


def utc_offset_changes(tz: str) -> list[datetime]:
    """The instants (to the quarter hour) at which ``tz`` changes its UTC offset in 2024-2030."""
    zone = ZoneInfo(tz)
    found = []
    t = EPOCH
    offset = t.astimezone(zone).utcoffset()
    while t < END:
        nxt = t + timedelta(days=1)
        if nxt.astimezone(zone).utcoffset() != offset:
            while t.astimezone(zone).utcoffset() == offset:
                t += timedelta(minutes=15)
            found.append(t)
            offset = t.astimezone(zone).utcoffset()
        t = nxt
    return found


OFFSET_CHANGES = sorted(
    change
    for tz in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe")
    for change in utc_offset_changes(tz)
)
calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
# Whole seconds, with extra weight on whole minutes and hours so boundaries get hit, and on the
# two days around every DST change of the zones used.
instants = st.one_of(
    st.integers(0, SPAN_SECONDS).map(lambda s: EPOCH + timedelta(seconds=s)),
    st.integers(0, SPAN_SECONDS // 60).map(lambda m: EPOCH + timedelta(minutes=m)),
    st.integers(0, SPAN_SECONDS // 3600).map(lambda h: EPOCH + timedelta(hours=h)),
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(OFFSET_CHANGES),
        st.integers(-48 * 60, 48 * 60),
    ),
)
durations = st.one_of(
    st.integers(0, 20_000).map(lambda m: timedelta(minutes=m)),
    st.integers(0, 20_000 * 60).map(lambda s: timedelta(seconds=s)),
)
positive_durations = durations.filter(lambda d: d > timedelta(0))
PROPS = settings(max_examples=200, deadline=None)


@PROPS
@given(cal=calendars, start=instants, d=positive_durations)
def test_deadline_is_never_inside_closed_hours(
    cal: Calendar, start: datetime, d: timedelta
) -> None:
    due = add_business_time(start, d, cal)
    assert due.tzinfo is UTC
    assert due > start
    assert cal.is_open(due - timedelta(seconds=1))


@PROPS
@given(cal=calendars, start=instants, d=durations)
def test_round_trip(cal: Calendar, start: datetime, d: timedelta) -> None:
    due = add_business_time(start, d, cal)
    assert business_time_between(start, due, cal) == d
    # ...and it is the earliest such instant.
    if d > timedelta(0):
        assert business_time_between(start, due - timedelta(seconds=1), cal) < d


@PROPS
@given(cal=calendars, start=instants, d1=durations, d2=durations)
def test_monotone_in_duration(cal: Calendar, start: datetime, d1: timedelta, d2: timedelta) -> None:
    d1, d2 = sorted((d1, d2))
    assert add_business_time(start, d1, cal) <= add_business_time(start, d2, cal)


@PROPS
@given(cal=calendars, s1=instants, s2=instants, d=durations)
def test_monotone_in_start(cal: Calendar, s1: datetime, s2: datetime, d: timedelta) -> None:
    s1, s2 = sorted((s1, s2))
    assert add_business_time(s1, d, cal) <= add_business_time(s2, d, cal)


@PROPS
@given(cal=calendars, start=instants, d1=durations, d2=durations)
def test_composition(cal: Calendar, start: datetime, d1: timedelta, d2: timedelta) -> None:
    # Holds for every d1, d2 >= 0, also when the first step ends exactly at a closing time:
    # continuing from a closing instant picks up at the next opening.
    assert add_business_time(add_business_time(start, d1, cal), d2, cal) == add_business_time(
        start, d1 + d2, cal
    )


@PROPS
@given(cal=calendars, start=instants, total=durations, pause_after=durations, pause_for=durations)
def test_pausing_never_makes_a_deadline_earlier(
    cal: Calendar, start: datetime, total: timedelta, pause_after: timedelta, pause_for: timedelta
) -> None:
    deadline = add_business_time(start, total, cal)
    pause_at = start + pause_after  # wall time, may be open or closed
    consumed = business_time_between(start, pause_at, cal)
    assume(consumed <= total)
    resume_at = pause_at + pause_for
    new_deadline = add_business_time(resume_at, total - consumed, cal)
    assert new_deadline >= deadline
    if pause_for == timedelta(0) and pause_at <= deadline:
        assert new_deadline == max(deadline, pause_at)


@PROPS
@given(cal=calendars, a=instants, b=instants, c=instants)
def test_between_is_additive(cal: Calendar, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    assert business_time_between(a, c, cal) == business_time_between(
        a, b, cal
    ) + business_time_between(b, c, cal)
    assert business_time_between(c, a, cal) == timedelta(0)
    assert business_time_between(a, c, cal) <= c - a


@PROPS
@given(
    cal=calendars,
    start=instants,
    length=st.integers(0, 40 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
)
def test_open_intervals_are_consistent(cal: Calendar, start: datetime, length: timedelta) -> None:
    end = start + length
    intervals = list(open_intervals(cal, start, end))
    previous_end = None
    for a, b in intervals:
        assert a.tzinfo is UTC and b.tzinfo is UTC
        assert start <= a < b <= end
        if previous_end is not None:
            assert previous_end < a  # sorted, disjoint, abutting ones merged
        previous_end = b
        assert cal.is_open(a)
        assert cal.is_open(b - timedelta(microseconds=1))
        if b < end:
            assert not cal.is_open(b)
    assert sum((b - a for a, b in intervals), timedelta(0)) == business_time_between(
        start, end, cal
    )


# Calendars whose opening and closing times are never ambiguous or nonexistent local times, so
# "open" must agree with the naive wall-clock definition at every instant.
WALL_CLOCK_CALENDARS = [
    "berlin-office-DE-BY",
    "new-york-office-US-sat",
    "sydney-split-AU-NSW",
    "kolkata-mon-sat-IN",
    "london-office-GB-extra",
    "berlin-round-the-clock",
    "berlin-night-01-04",
    "utc-overnight",
    "lord-howe-half-hour-dst",
]


def wall_clock_open(cal: Calendar, instant: datetime) -> bool:
    wall = instant.astimezone(ZoneInfo(cal.tz))
    if cal.is_holiday(wall.date()):
        return False
    t = wall.time().replace(tzinfo=None, fold=0)
    hours = dict(cal.weekly).get(wall.weekday(), ())
    return any(o <= t and (c == time(0) or t < c) for o, c in hours)


@PROPS
@given(name=st.sampled_from(WALL_CLOCK_CALENDARS), instant=instants)
def test_is_open_matches_wall_clock(name: str, instant: datetime) -> None:
    cal = CALENDARS[name]
    assert cal.is_open(instant) == wall_clock_open(cal, instant)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(WALL_CLOCK_CALENDARS), day=st.integers(0, SPAN_SECONDS // 86400))
def test_business_minutes_match_minute_by_minute_count(name: str, day: int) -> None:
    cal = CALENDARS[name]
    start = EPOCH + timedelta(days=day, hours=-6)
    counted = sum(wall_clock_open(cal, start + i * M) for i in range(36 * 60))
    assert business_minutes_between(start, start + 36 * H, cal) == counted


# --------------------------------------------------------------------------- the open-time table


def add_by_walking_days(start: datetime, duration: timedelta, cal: Calendar) -> datetime:
    """``add_business_time`` as it was before its open-time table: local day after local
    day from the day before the start's, each day's open intervals in turn."""
    s = start.astimezone(UTC)
    if duration == timedelta(0):
        return s
    if cal.always_open:
        return s + duration
    remaining = duration
    first_day = cal._local_date(s) - timedelta(days=1)
    d = first_day
    while True:
        if (d - first_day).days > MAX_SCAN_DAYS:
            raise ValueError(f"not enough open time within {MAX_SCAN_DAYS} days")
        for a, b in cal._day_intervals(d):
            if b <= s:
                continue
            available = b - max(a, s)
            if remaining <= available:
                return max(a, s) + remaining
            remaining -= available
        d += timedelta(days=1)


@settings(max_examples=400, deadline=None)
@given(
    cal=calendars,
    starts=st.lists(instants, min_size=1, max_size=6),
    d=st.one_of(durations, st.integers(0, 400 * 60).map(lambda h: timedelta(minutes=h * 60))),
)
def test_table_agrees_with_walking_the_days(
    cal: Calendar, starts: list[datetime], d: timedelta
) -> None:
    # Several starts in any order on one calendar: its table is grown, built again from an
    # earlier start, and started over far ahead, and must answer as the walk does each time
    # (a deadline past MAX_SCAN_DAYS is a ValueError either way).
    def outcome(add: Any, start: datetime) -> datetime | str:
        try:
            return add(start, d, cal)  # type: ignore[no-any-return]
        except ValueError:
            return "too far"

    for start in starts:
        assert outcome(add_business_time, start) == outcome(add_by_walking_days, start)


def test_table_after_far_apart_starts_and_nearly_closed_years() -> None:
    cal = office("Europe/London", holiday_country="GB")
    starts = [
        datetime(2031, 6, 2, 10, tzinfo=UTC),
        datetime(2026, 3, 4, 10, tzinfo=UTC),
        datetime(2045, 1, 2, 9, tzinfo=UTC),
        datetime(2026, 3, 3, 23, tzinfo=UTC),
        datetime(2019, 12, 24, 16, 59, tzinfo=UTC),
    ]
    for start in starts:
        for d in (M, 8 * H, 400 * H, 2000 * H):
            assert add_business_time(start, d, cal) == add_by_walking_days(start, d, cal)
    # Open one day in three years: the deadline is found on it, and not past MAX_SCAN_DAYS.
    first = date(2026, 1, 1)
    rare = office(
        "UTC",
        days=ALL_DAYS,
        extra_holidays=[first + timedelta(days=i) for i in range(5 * 366) if i != 1000],
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert add_business_time(start, H, rare) == datetime(2028, 9, 27, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match=f"within {MAX_SCAN_DAYS} days"):
        add_business_time(start, 9 * H, rare)
    assert add_business_time(start + timedelta(days=900), H, rare) == datetime(
        2028, 9, 27, 10, tzinfo=UTC
    )
