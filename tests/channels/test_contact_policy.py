"""The contact decision, pure: quiet hours across zones and DST, caps, gaps, ask once."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.channels import contact
from lastmile.channels.contact import (
    REPLY,
    Contact,
    History,
    Outgoing,
    RuleSpec,
    contact_decide,
    in_quiet_hours,
    quiet_until,
    timezone_pick,
)

MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
NIGHT = RuleSpec(purpose="survey", id=3, quiet_start=time(21), quiet_end=time(8))


def msg(rule: RuleSpec | None, *, purpose: str | None = None, tz="UTC", customer=True):
    return Outgoing(
        purpose=purpose or (rule.purpose if rule else "survey"),
        rule=rule,
        has_customer=customer,
        timezone=tz,
    )


def sent(purpose: str, *ats: datetime) -> tuple[Contact, ...]:
    return tuple(Contact(purpose, at) for at in ats)


def test_the_module_docstring_example_holds():
    result = doctest.testmod(contact)
    assert result.attempted > 0 and result.failed == 0


# --- quiet hours -----------------------------------------------------------------------------


def test_outside_quiet_hours_a_message_is_sent():
    # Given 21:00-08:00 in Paris, When it is 10:00 UTC (11:00 in Paris), Then it goes
    assert contact_decide(msg(NIGHT, tz="Europe/Paris"), History(), MON).outcome == "send"


def test_in_quiet_hours_a_message_is_held_until_they_end_in_the_customers_zone():
    # 06:59 in Paris (05:59 UTC): held until 08:00 Paris = 07:00 UTC
    d = contact_decide(
        msg(NIGHT, tz="Europe/Paris"), History(), datetime(2026, 11, 23, 5, 59, tzinfo=UTC)
    )
    assert (d.outcome, d.check, d.rule, d.rule_id) == ("defer", "quiet_hours", "survey", 3)
    assert d.until == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert "Europe/Paris" in d.reason


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another():
    at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 04:00 Paris, 22:00 New York (the day before)
    assert contact_decide(msg(NIGHT, tz="Europe/Paris"), History(), at).until == datetime(
        2026, 11, 23, 7, 0, tzinfo=UTC
    )
    assert contact_decide(msg(NIGHT, tz="America/New_York"), History(), at).until == datetime(
        2026, 11, 23, 13, 0, tzinfo=UTC
    )
    assert contact_decide(msg(NIGHT, tz="Asia/Tokyo"), History(), at).outcome == "send"  # 12:00


def test_quiet_hours_edges_the_minute_before_and_the_minute_of():
    paris = ZoneInfo("Europe/Paris")
    before_start = datetime(2026, 11, 23, 20, 59, tzinfo=paris)
    at_start = datetime(2026, 11, 23, 21, 0, tzinfo=paris)
    before_end = datetime(2026, 11, 24, 7, 59, tzinfo=paris)
    at_end = datetime(2026, 11, 24, 8, 0, tzinfo=paris)
    m = msg(NIGHT, tz="Europe/Paris")
    assert contact_decide(m, History(), before_start).outcome == "send"
    assert contact_decide(m, History(), at_start).until == at_end
    assert contact_decide(m, History(), before_end).until == at_end
    assert contact_decide(m, History(), at_end).outcome == "send"


def test_quiet_hours_end_at_local_time_across_the_autumn_dst_change():
    # Paris leaves summer time on 25 Oct 2026 at 03:00 local: the night is 25 hours long.
    # At 23:00 CEST (21:00 UTC) the hold ends at 08:00 CET = 07:00 UTC, not 06:00 UTC.
    d = contact_decide(
        msg(NIGHT, tz="Europe/Paris"), History(), datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    )
    assert d.until == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


def test_quiet_hours_end_at_local_time_across_the_spring_dst_change():
    # New York moves to summer time on 8 Mar 2026: 08:00 EDT is 12:00 UTC, not 13:00.
    d = contact_decide(
        msg(NIGHT, tz="America/New_York"), History(), datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    )
    assert d.until == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_an_end_of_quiet_hours_in_the_spring_gap_ends_at_the_transition():
    # 01:00-02:30 in Paris on 29 Mar 2026: 02:30 never happens (02:00 -> 03:00 = 01:00 UTC)
    rule = RuleSpec(purpose="survey", quiet_start=time(1), quiet_end=time(2, 30))
    d = contact_decide(
        msg(rule, tz="Europe/Paris"), History(), datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    )
    assert d.until == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_quiet_hours_within_one_day_hold_only_inside_them():
    lunch = RuleSpec(purpose="survey", quiet_start=time(12), quiet_end=time(14))
    assert contact_decide(msg(lunch), History(), MON).outcome == "send"
    d = contact_decide(msg(lunch), History(), MON.replace(hour=13))
    assert d.until == MON.replace(hour=14)


def test_a_customer_without_a_valid_zone_falls_back_to_the_default():
    assert timezone_pick("", "Mars/Base", "Europe/Paris", default="UTC") == "Europe/Paris"
    assert timezone_pick(None, "not a zone", default="Asia/Tokyo") == "Asia/Tokyo"
    assert timezone_pick(None, default="bogus") == "UTC"


# --- caps ------------------------------------------------------------------------------------

WEEKLY = RuleSpec(purpose="marketing", id=5, max_per_period=2, period=timedelta(days=7))


def test_a_cap_per_period_suppresses_the_message_over_it_and_names_the_rule():
    h = History(contacts=sent("marketing", MON - timedelta(days=1), MON - timedelta(days=6)))
    d = contact_decide(msg(WEEKLY), h, MON)
    assert (d.outcome, d.check, d.rule, d.rule_id) == ("suppress", "max_per_period", "marketing", 5)
    assert "2 marketing messages in the last 7 days (at most 2)" in d.reason


def test_a_cap_of_one_says_one_message_in_the_singular():
    once = RuleSpec(
        purpose="survey", max_per_period=1, max_unanswered=None, period=timedelta(days=7)
    )
    h = History(contacts=sent("survey", MON - timedelta(days=1)))
    d = contact_decide(msg(once), h, MON)
    assert "1 survey message in the last 7 days (at most 1)" in d.reason
    everything = RuleSpec(purpose="survey", max_per_period=1, period=timedelta(days=2), scope="all")
    d = contact_decide(msg(everything), h, MON)
    assert d.reason.startswith("1 message in the last 2 days (at most 1)")
    ask_once = RuleSpec(purpose="callback", max_unanswered=1)
    d = contact_decide(msg(ask_once), History(contacts=sent("callback", MON)), MON)
    assert d.reason.startswith("1 callback message got no answer and they never wrote")


def test_a_contact_older_than_the_period_no_longer_counts():
    h = History(contacts=sent("marketing", MON - timedelta(days=1), MON - timedelta(days=7)))
    assert contact_decide(msg(WEEKLY), h, MON).outcome == "send"
    h = History(
        contacts=sent("marketing", MON - timedelta(days=1), MON - timedelta(days=7, seconds=-60))
    )
    assert contact_decide(msg(WEEKLY), h, MON).outcome == "suppress"


def test_a_cap_by_purpose_ignores_other_purposes_and_a_cap_on_all_counts_them():
    h = History(contacts=sent("notification", MON - timedelta(hours=1), MON - timedelta(hours=2)))
    assert contact_decide(msg(WEEKLY), h, MON).outcome == "send"
    everything = RuleSpec(purpose="marketing", max_per_period=2, scope="all")
    assert contact_decide(msg(everything), h, MON).outcome == "suppress"
    replies = History(contacts=sent(REPLY, MON - timedelta(hours=1), MON - timedelta(hours=2)))
    assert contact_decide(msg(everything), replies, MON).outcome == "send"  # replies never count


def test_a_minimum_gap_holds_the_message_until_it_has_passed():
    rule = RuleSpec(purpose="notification", id=2, min_gap=timedelta(hours=2))
    h = History(contacts=sent("notification", MON - timedelta(minutes=30)))
    d = contact_decide(msg(rule), h, MON)
    assert (d.outcome, d.check, d.until) == ("defer", "min_gap", MON + timedelta(minutes=90))
    assert contact_decide(msg(rule), h, MON + timedelta(minutes=89)).outcome == "defer"
    assert contact_decide(msg(rule), h, MON + timedelta(minutes=90)).outcome == "send"


def test_a_gap_ending_in_quiet_hours_holds_until_they_end():
    rule = RuleSpec(
        purpose="survey", quiet_start=time(21), quiet_end=time(8), min_gap=timedelta(hours=3)
    )
    at = MON.replace(hour=19)
    d = contact_decide(msg(rule), History(contacts=sent("survey", at)), at)
    assert d.until == MON.replace(hour=8) + timedelta(days=1)
    assert "at least 3 hours" in d.reason and "quiet hours" in d.reason


def test_ask_once_stops_the_third_attempt_after_two_unanswered():
    rule = RuleSpec(purpose="survey", id=7, max_unanswered=2)
    one = History(contacts=sent("survey", MON - timedelta(days=2)))
    two = History(contacts=sent("survey", MON - timedelta(days=2), MON - timedelta(days=1)))
    assert contact_decide(msg(rule), one, MON).outcome == "send"
    d = contact_decide(msg(rule), two, MON)
    assert (d.outcome, d.check, d.rule_id) == ("suppress", "max_unanswered", 7)
    assert "2 survey messages got no answer" in d.reason


def test_ask_once_allows_again_after_the_customer_answered():
    rule = RuleSpec(purpose="survey", max_unanswered=2)
    answered = History(
        contacts=sent("survey", MON - timedelta(days=2), MON - timedelta(days=1)),
        last_inbound_at=MON - timedelta(hours=20),
    )
    assert contact_decide(msg(rule), answered, MON).outcome == "send"


def test_caps_turned_off_let_everything_through_but_quiet_hours_still_hold():
    rule = RuleSpec(
        purpose="escalation",
        caps_apply=False,
        max_per_period=1,
        max_unanswered=1,
        quiet_start=time(22),
        quiet_end=time(6),
    )
    h = History(contacts=sent("escalation", MON - timedelta(minutes=1)))
    assert contact_decide(msg(rule), h, MON).outcome == "send"
    assert contact_decide(msg(rule), h, MON.replace(hour=23)).outcome == "defer"


def test_replies_are_never_capped():
    strict = RuleSpec(purpose=REPLY, max_per_period=1, max_unanswered=1, min_gap=timedelta(days=1))
    h = History(contacts=sent(REPLY, *(MON - timedelta(minutes=i) for i in range(1, 20))))
    assert contact_decide(msg(strict), h, MON).outcome == "send"


def test_without_a_customer_a_rule_cannot_count_and_the_message_goes_unless_required():
    assert contact_decide(msg(WEEKLY, customer=False), History(), MON).outcome == "send"
    required = RuleSpec(purpose="survey", id=9, customer_required=True)
    d = contact_decide(msg(required, customer=False), History(), MON)
    assert (d.outcome, d.check, d.rule_id) == ("suppress", "no_customer", 9)


def test_no_rule_or_an_inactive_one_sends():
    h = History(contacts=sent("marketing", MON, MON, MON))
    assert contact_decide(msg(None, purpose="marketing"), h, MON).outcome == "send"
    off = RuleSpec(purpose="marketing", max_per_period=1, active=False)
    assert contact_decide(msg(off), h, MON).outcome == "send"


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kolkata",
    "America/Santiago",
    "Pacific/Chatham",
]
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
wall_times = st.times().map(lambda t: t.replace(microsecond=0))
durations = st.integers(min_value=1, max_value=60 * 24 * 10).map(lambda m: timedelta(minutes=m))
rules = st.builds(
    RuleSpec,
    purpose=st.sampled_from([REPLY, "notification", "survey", "marketing", "callback"]),
    id=st.one_of(st.none(), st.integers(1, 100)),
    active=st.booleans(),
    quiet_start=st.one_of(st.none(), wall_times),
    quiet_end=wall_times,
    caps_apply=st.booleans(),
    max_per_period=st.one_of(st.none(), st.integers(1, 5)),
    period=durations,
    scope=st.sampled_from(["purpose", "all"]),
    min_gap=st.one_of(st.none(), durations),
    max_unanswered=st.one_of(st.none(), st.integers(1, 4)),
    customer_required=st.booleans(),
).map(lambda r: RuleSpec(**{**r.__dict__, "quiet_end": r.quiet_end if r.quiet_start else None}))


@st.composite
def situations(draw):
    now = draw(instants)
    rule = draw(rules)
    purposes = st.sampled_from([REPLY, "notification", "survey", "marketing", rule.purpose])
    contacts = tuple(
        Contact(draw(purposes), now - draw(durations)) for _ in range(draw(st.integers(0, 8)))
    )
    inbound = draw(st.one_of(st.none(), st.builds(lambda d: now - d, durations)))
    message = Outgoing(
        purpose=rule.purpose,
        rule=rule,
        has_customer=draw(st.booleans()),
        timezone=draw(st.sampled_from(ZONES)),
    )
    return message, History(contacts, inbound), now


@settings(max_examples=400, deadline=None)
@given(situations())
def test_property_a_reply_is_never_suppressed(situation):
    message, history, now = situation
    reply = Outgoing(REPLY, message.rule, message.has_customer, message.timezone)
    assert contact_decide(reply, history, now).outcome != "suppress"


@settings(max_examples=400, deadline=None)
@given(situations())
def test_property_anything_but_a_send_names_its_rule_check_and_reason(situation):
    d = contact_decide(*situation)
    if d.outcome != "send":
        assert d.rule and d.check and d.reason
        assert d.rule == situation[0].rule.purpose and d.rule_id == situation[0].rule.id


@settings(max_examples=400, deadline=None)
@given(situations())
def test_property_a_held_message_may_go_at_the_time_it_was_held_to(situation):
    message, history, now = situation
    d = contact_decide(message, history, now)
    if d.outcome == "defer":
        assert d.until > now
        assert contact_decide(message, history, d.until).outcome != "defer"


@settings(max_examples=600, deadline=None)
@given(instants, st.sampled_from(ZONES), wall_times, wall_times)
def test_property_quiet_hours_end_at_the_first_instant_they_no_longer_hold(now, tz, start, end):
    zone = ZoneInfo(tz)
    until = quiet_until(now, zone, start, end)
    quiet_now = in_quiet_hours(now.astimezone(zone).time(), start, end)
    if not quiet_now:
        assert until is None
        return
    assert now < until <= now + timedelta(hours=26)
    assert not in_quiet_hours(until.astimezone(zone).time(), start, end)
    just_before = until - timedelta(seconds=1)
    assert just_before <= now or in_quiet_hours(just_before.astimezone(zone).time(), start, end)
