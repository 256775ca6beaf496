from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.cases.models import CaseStatus
from lastmile.cases.selectors import case_list
from lastmile.cases.services import case_set_status
from lastmile.channels.models import OutboxMessage
from lastmile.core.errors import Conflict, InvalidInput
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import BusinessHours, Loop, LoopEvent, SlaPolicy
from lastmile.loops.reactions import LoopsStillOpen
from lastmile.loops.selectors import loop_explain, loop_list, loop_sla_state, loop_state_counts
from lastmile.loops.services import (
    loop_cancel,
    loop_close,
    loop_open,
    loop_pause,
    loop_reassign,
    loop_resume,
    loops_sweep,
)
from lastmile.people.viewers import SYSTEM
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db

WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def office_hours(db):
    return BusinessHours.objects.create(
        name="Berlin office", timezone="Europe/Berlin", weekly=WEEKDAYS
    )


@pytest.fixture
def email_policy(office_hours):
    return SlaPolicy.objects.create(
        name="Email — normal",
        channel="email",
        first_reply_minutes=240,
        next_reply_minutes=480,
        resolution_minutes=2400,
        business_hours=office_hours,
        escalation=[
            {"at": 75, "action": "notify_owner"},
            {"at": 100, "action": "breach"},
            {"at": 150, "action": "reassign_to_lead"},
        ],
    )


@pytest.fixture
def chat_policy(db):
    """24/7, 60 minutes for everything."""
    return SlaPolicy.objects.create(
        name="Chat",
        channel="chat",
        first_reply_minutes=60,
        next_reply_minutes=60,
        resolution_minutes=60,
        escalation=[
            {"at": 75, "action": "notify_owner"},
            {"at": 100, "action": "breach"},
            {"at": 150, "action": "reassign_to_lead"},
        ],
    )


def inbound(case, now, channel="chat", **kw):
    return interaction_record(
        customer=case.customer,
        case=case,
        channel=channel,
        direction="inbound",
        occurred_at=now,
        now=now,
        body="help",
        **kw,
    )


def outbound(case, now, actor=None, channel="chat"):
    return interaction_record(
        customer=case.customer,
        case=case,
        channel=channel,
        direction="outbound",
        occurred_at=now,
        now=now,
        body="on it",
        actor=actor,
    )


# --- reply loops follow the conversation ---------------------------------------------------


def test_an_inbound_message_on_a_case_opens_a_first_reply_loop(case, now, chat_policy):
    inbound(case, now)
    loop = Loop.objects.get()
    assert (loop.kind, loop.state, loop.sla_target) == ("reply", "open", "first_reply")
    assert loop.due_at == now + timedelta(minutes=60)
    assert loop.team_id == case.team_id


def test_a_second_inbound_message_keeps_the_open_reply_loop(case, now, chat_policy):
    inbound(case, now)
    inbound(case, now + timedelta(minutes=5))
    assert Loop.objects.count() == 1


def test_a_reply_on_any_channel_closes_the_reply_loop(case, now, chat_policy, alice):
    inbound(case, now, channel="chat")
    outbound(case, now + timedelta(minutes=10), actor=alice, channel="email")
    loop = Loop.objects.get()
    assert loop.state == "closed" and loop.closed_at == now + timedelta(minutes=10)
    assert loop.events.last().actor == alice


def test_the_next_inbound_message_opens_a_next_reply_loop(case, now, chat_policy):
    inbound(case, now)
    outbound(case, now + timedelta(minutes=10))
    inbound(case, now + timedelta(minutes=20))
    assert list(Loop.objects.order_by("pk").values_list("sla_target", "state")) == [
        ("first_reply", "closed"),
        ("next_reply", "open"),
    ]


def test_an_internal_note_changes_no_loop(case, now, chat_policy):
    inbound(case, now)
    interaction_record(
        customer=case.customer,
        case=case,
        channel="chat",
        direction="note",
        occurred_at=now,
        now=now,
        body="checking with cards",
    )
    assert Loop.objects.get().state == "open"


# --- cases cannot be solved with open loops ------------------------------------------------


def test_solving_a_case_with_an_open_loop_is_refused_and_names_it(case, now, chat_policy):
    inbound(case, now)
    loop = Loop.objects.get()
    with pytest.raises(LoopsStillOpen) as exc:
        case_set_status(case=case, status=CaseStatus.SOLVED, now=now)
    assert f"#{loop.pk}" in exc.value.detail and exc.value.status == 409
    case.refresh_from_db()
    assert case.status == "open"


def test_a_case_is_solved_once_its_loops_are_closed(case, now, chat_policy):
    inbound(case, now)
    outbound(case, now)
    assert case_set_status(case=case, status=CaseStatus.SOLVED, now=now).status == "solved"


def test_a_customer_writing_again_reopens_a_solved_case(case, now, chat_policy):
    case_set_status(case=case, status=CaseStatus.SOLVED, now=now)
    inbound(case, now + timedelta(hours=1))
    case.refresh_from_db()
    assert case.status == "open"


# --- deadlines -----------------------------------------------------------------------------


def test_a_loop_with_no_matching_policy_has_no_deadline_and_says_so(customer, now):
    loop = loop_open(customer=customer, kind="task", title="Enable online access", now=now)
    assert loop.due_at is None and loop.next_check_at is None
    assert loop_explain(loop).startswith("no deadline: no SLA policy matches")
    assert loop_sla_state(loop, now=now) == "none"


def test_policy_conditions_pick_the_first_match_in_position_order(case, now, office_hours):
    SlaPolicy.objects.create(name="Urgent", position=1, priority="urgent", first_reply_minutes=15)
    SlaPolicy.objects.create(name="Everything", position=9, first_reply_minutes=600)
    loop = loop_open(customer=case.customer, case=case, kind="reply", title="r", now=now)
    assert loop.sla_policy.name == "Everything"
    case.priority = "urgent"
    case.save()
    loop = loop_open(customer=case.customer, case=case, kind="reply", title="r2", now=now)
    assert loop.sla_policy.name == "Urgent"


def test_business_hours_deadline_and_its_explanation(case, email_policy):
    monday_16_berlin = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    loop = inbound(case, monday_16_berlin, channel="email") and Loop.objects.get()
    # 1 h left on Monday, 3 h on Tuesday from 09:00 -> Tue 12:00 CET = 11:00 UTC.
    assert loop.due_at == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert loop_explain(loop) == (
        "due Tue 24 Nov 12:00 CET: 4 h of business hours from Mon 23 Nov 16:00 CET "
        "under 'Email — normal' (first reply)"
    )


def test_pausing_stops_the_clock_and_resuming_moves_the_deadline(customer, chat_policy, now):
    loop = loop_open(customer=customer, kind="task", title="Send form", channel="chat", now=now)
    assert loop.due_at == now + timedelta(minutes=60)
    loop = loop_pause(loop=loop, reason="waiting on customer", now=now + timedelta(minutes=20))
    assert loop.due_at is None and loop.next_check_at is None
    assert loop_sla_state(loop, now=now) == "paused"
    loop = loop_resume(loop=loop, now=now + timedelta(hours=2, minutes=20))
    # 40 minutes were left when paused.
    assert loop.due_at == now + timedelta(hours=3)
    assert "paused 2 h (waiting on customer)" in loop_explain(loop)


def test_pause_twice_or_resume_unpaused_is_a_conflict(customer, now):
    loop = loop_open(customer=customer, kind="task", title="x", now=now)
    with pytest.raises(Conflict):
        loop_resume(loop=loop, now=now)
    loop_pause(loop=loop, now=now)
    with pytest.raises(Conflict):
        loop_pause(loop=loop, now=now)


def test_closing_a_closed_loop_is_a_conflict_and_writes_nothing(customer, now):
    loop = loop_open(customer=customer, kind="task", title="x", now=now)
    loop_close(loop=loop, now=now)
    events = LoopEvent.objects.count()
    with pytest.raises(Conflict):
        loop_close(loop=loop, now=now)
    assert LoopEvent.objects.count() == events


def test_cancelling_needs_a_reason(customer, now):
    loop = loop_open(customer=customer, kind="task", title="x", now=now)
    with pytest.raises(InvalidInput):
        loop_cancel(loop=loop, reason=" ", now=now)
    assert loop_cancel(loop=loop, reason="customer withdrew", now=now).state == "cancelled"


def test_an_explicit_due_at_in_the_past_is_refused(customer, now):
    with pytest.raises(InvalidInput) as exc:
        loop_open(
            customer=customer, kind="task", title="x", due_at=now - timedelta(minutes=1), now=now
        )
    assert exc.value.errors[0].field == "due_at"


def test_reassign_records_from_and_to(customer, team, other_team, alice, charlie, now):
    loop = loop_open(customer=customer, kind="task", title="x", team=team, now=now)
    loop = loop_reassign(
        loop=loop, team=other_team, assignee=charlie, actor=alice, reason="cards own this", now=now
    )
    event = loop.events.get(kind="reassigned")
    assert event.data == {
        "from": {"team": team.pk, "assignee": None},
        "to": {"team": other_team.pk, "assignee": charlie.pk},
    }


def test_an_agent_sees_the_case_behind_a_loop_their_team_owns(
    case, customer, other_team, alice, charlie, now
):
    # given the front office's case, and an agent of a third team
    dave = AgentFactory(user__username="dave", teams=[TeamFactory(slug="third")]).user
    assert list(case_list(viewer=charlie)) == []

    # when two tasks on it are handed to the back office
    for title in ("refund", "replacement"):
        loop_open(customer=customer, case=case, kind="task", title=title, team=other_team, now=now)

    # then the back office sees the case (once), its owners still do, the third team does not
    assert list(case_list(viewer=charlie)) == [case]
    assert list(case_list(viewer=alice)) == [case]
    assert list(case_list(viewer=dave)) == []


# --- the sweeper ---------------------------------------------------------------------------


@pytest.fixture
def lead(team):
    user = AgentFactory(user__username="lena", role="lead", teams=[team]).user
    team.lead = user
    team.save()
    return user


def test_sweeper_at_the_minute_before_and_the_minute_of_each_rung(
    customer, team, alice, lead, chat_policy, now
):
    loop = loop_open(
        customer=customer,
        kind="task",
        title="Call back",
        team=team,
        assignee=alice,
        channel="chat",
        now=now,
    )

    assert loops_sweep(now=now + timedelta(minutes=44)).rungs == 0
    assert loops_sweep(now=now + timedelta(minutes=45)).actions == {"notify_owner": 1}
    assert loops_sweep(now=now + timedelta(minutes=59)).rungs == 0
    assert loops_sweep(now=now + timedelta(minutes=60)).actions == {"breach": 1}
    assert loops_sweep(now=now + timedelta(minutes=89)).rungs == 0
    assert loops_sweep(now=now + timedelta(minutes=90)).actions == {"reassign_to_lead": 1}

    loop.refresh_from_db()
    assert loop.breached_at == now + timedelta(minutes=60)
    assert loop.assignee == lead and loop.escalation_level == 3 and loop.next_check_at is None
    kinds = list(loop.events.values_list("kind", flat=True))
    assert kinds == ["opened", "escalated", "breached", "reassigned"]
    assert sorted(OutboxMessage.objects.values_list("recipient", flat=True)) == [
        "alice@example.com",
        "lena@example.com",
        "lena@example.com",
    ]


def test_a_late_sweep_applies_every_missed_rung_once(customer, team, alice, lead, chat_policy, now):
    loop = loop_open(
        customer=customer,
        kind="task",
        title="x",
        team=team,
        assignee=alice,
        channel="chat",
        now=now,
    )
    result = loops_sweep(now=now + timedelta(hours=5))
    assert result.rungs == 3 and result.breached == 1
    again = loops_sweep(now=now + timedelta(hours=5))
    assert again.rungs == 0
    assert loop.events.count() == 4 and OutboxMessage.objects.count() == 3


def test_sweeper_ignores_paused_and_closed_loops(customer, chat_policy, now):
    a = loop_open(customer=customer, kind="task", title="a", channel="chat", now=now)
    b = loop_open(customer=customer, kind="task", title="b", channel="chat", now=now)
    loop_pause(loop=a, now=now)
    loop_close(loop=b, now=now)
    assert loops_sweep(now=now + timedelta(days=1)).rungs == 0


def test_sweeper_works_in_batches(customer, chat_policy, now):
    for n in range(7):
        loop_open(customer=customer, kind="task", title=f"t{n}", channel="chat", now=now)
    result = loops_sweep(now=now + timedelta(minutes=61), batch_size=3)
    assert result.loops == 7 and result.breached == 7
    assert Loop.objects.filter(breached_at__isnull=False).count() == 7


def test_inbox_orders_by_deadline_and_counts_sla_states(customer, team, chat_policy, now):
    late = loop_open(
        customer=customer,
        kind="task",
        title="late",
        team=team,
        channel="chat",
        now=now - timedelta(hours=2),
    )
    soon = loop_open(
        customer=customer,
        kind="task",
        title="soon",
        team=team,
        channel="chat",
        now=now - timedelta(minutes=50),
    )
    fresh = loop_open(
        customer=customer, kind="task", title="fresh", team=team, channel="chat", now=now
    )
    none = loop_open(customer=customer, kind="task", title="none", team=team, now=now)
    loops_sweep(now=now)
    qs = loop_list(viewer=SYSTEM, now=now, state="open")
    assert [lp.title for lp in qs] == ["late", "soon", "fresh", "none"]
    counts = loop_state_counts(qs, now=now)
    assert counts == {"breached": 1, "at_risk": 1, "ok": 1, "paused": 0, "none": 1}
    assert {late.pk, soon.pk, fresh.pk, none.pk} == {lp.pk for lp in qs}


# --- who sees what -------------------------------------------------------------------------


def test_agents_see_their_teams_loops_and_admins_see_all(
    customer, team, other_team, alice, bob, charlie, admin_user, now
):
    mine = loop_open(customer=customer, kind="task", title="front", team=team, now=now)
    theirs = loop_open(customer=customer, kind="task", title="back", team=other_team, now=now)
    assert {lp.pk for lp in loop_list(viewer=alice, now=now)} == {mine.pk}
    assert {lp.pk for lp in loop_list(viewer=bob, now=now)} == {mine.pk}
    assert {lp.pk for lp in loop_list(viewer=charlie, now=now)} == {theirs.pk}
    assert {lp.pk for lp in loop_list(viewer=admin_user, now=now)} == {mine.pk, theirs.pk}
    assert {lp.pk for lp in loop_list(viewer=SYSTEM, now=now)} == {mine.pk, theirs.pk}


def test_counts_put_a_loop_in_the_last_quarter_of_its_time_at_risk(
    customer, team, chat_policy, now
):
    loop = loop_open(customer=customer, kind="task", title="t", team=team, channel="chat", now=now)
    qs = loop_list(viewer=SYSTEM, now=now, state="open")
    # 60-minute SLA: at minute 44 there are 16 minutes left (> a quarter); at 46, 14 (< a quarter).
    for minute, expected in ((44, "ok"), (46, "at_risk")):
        at = now + timedelta(minutes=minute)
        assert loop_sla_state(loop, now=at) == expected
        assert loop_state_counts(qs, now=at)[expected] == 1


def test_a_team_that_owns_a_loop_on_a_case_sees_that_case(case, other_team, charlie, now):
    from lastmile.cases.selectors import case_get, case_list

    assert case_list(viewer=charlie).count() == 0
    loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="Enable online access",
        team=other_team,
        now=now,
    )
    assert case_get(ref=case.ref, viewer=charlie) == case
    assert list(case_list(viewer=charlie)) == [case]


def test_an_overdue_loop_cannot_be_paused_so_the_breach_stays_visible(customer, chat_policy, now):
    loop = loop_open(customer=customer, kind="task", title="x", channel="chat", now=now)
    with pytest.raises(Conflict) as exc:
        loop_pause(loop=loop, reason="hide it", now=now + timedelta(minutes=61))
    assert exc.value.code == "loop_overdue"
    loop.refresh_from_db()
    assert loop.paused_at is None and loop.due_at == now + timedelta(minutes=60)


def test_a_late_imported_message_that_was_already_answered_opens_no_loop(case, now, chat_policy):
    outbound(case, now + timedelta(minutes=10))
    case_set_status(case=case, status=CaseStatus.SOLVED, now=now + timedelta(minutes=11))
    inbound(case, now)  # arrives after the reply it got
    assert Loop.objects.count() == 0
    case.refresh_from_db()
    assert case.status == "solved"


def test_an_older_reply_imported_late_does_not_close_a_newer_reply_loop(case, now, chat_policy):
    inbound(case, now + timedelta(minutes=30))
    outbound(case, now)  # a reply from before the customer's new message
    assert Loop.objects.get().state == "open"


def test_an_explicit_due_at_is_kept_to_the_microsecond(customer, now):
    due = now + timedelta(hours=3, microseconds=371_000)
    assert loop_open(customer=customer, kind="task", title="x", due_at=due, now=now).due_at == due
