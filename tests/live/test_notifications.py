"""Notifications: what an agent who lost a case still reads of it, the escalation ladder's
rungs reaching the people they name, and how many rows a sweep may write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.customers.services.timeline import interaction_record
from lastmile.live.models import Notification
from lastmile.live.selectors import (
    notification_list,
    notifications_latest,
    notifications_unread_count,
)
from lastmile.loops.models import SlaPolicy
from lastmile.loops.services import loop_open, loops_sweep
from tests.people.factories import AgentFactory, team_lead

pytestmark = pytest.mark.django_db

HOUR = timedelta(minutes=60)


def note(case, actor, body, now):  # type: ignore[no-untyped-def]
    return interaction_record(
        customer=case.customer,
        case=case,
        channel="note",
        direction="note",
        occurred_at=now,
        now=now,
        body=body,
        actor=actor,
    )


def task(case, now, **kw):  # type: ignore[no-untyped-def]
    return loop_open(customer=case.customer, case=case, kind="task", now=now, **kw)


# --- a case the reader lost ------------------------------------------------------------------


def test_a_mention_on_a_case_the_reader_lost_says_who_holds_it_and_nothing_of_the_note(
    client, case, team, other_team, alice, bob, now
):
    # Given a mention of bob in a note on his team's case
    note(case, alice, "@bob the customer's PIN is 4711", now)
    client.force_login(bob)
    assert "PIN is 4711" in client.get("/live/notifications/").content.decode()
    # When bob moves to another team (his old team's case is no longer his to open)
    bob.agent.teams.set([other_team])
    # Then neither the page, the top bar's list nor the selectors show what the note said:
    # the row says which case and who holds it
    page = client.get("/live/notifications/").content.decode()
    menu = client.get("/live/notifications/", {"menu": "1"}).content.decode()
    for html in (page, menu):
        assert "4711" not in html and "mentioned you" not in html
        assert f"held by {team.name}" in html and case.ref in html
    [shown] = notification_list(viewer=bob).object_list
    assert shown.text == "" and shown.held_by == team.name
    assert [n.text for n in notifications_latest(viewer=bob)] == [""]
    # and the badge counts the rows the list shows (the held one is still unread there)
    assert (
        notifications_unread_count(viewer=bob)
        == 1
        == len(page.split('class="live-item is-unread')) - 1
    )
    # When bob is back in the team, Then he reads it again
    bob.agent.teams.set([team])
    assert "PIN is 4711" in client.get("/live/notifications/").content.decode()


def test_a_teammate_and_an_admin_read_a_notification_in_full_an_outsider_does_not(
    case, team, other_team, alice, bob, charlie, now
):
    note(case, alice, "@bob look at the refund", now)
    # charlie cannot open the case: his mention is not even notified (mentions_record)
    note(case, alice, "@charlie look at the refund", now)
    assert not Notification.objects.filter(recipient=charlie).exists()
    [n] = notifications_latest(viewer=bob)
    assert "look at the refund" in n.text and n.held_by == ""
    admin = AgentFactory(user__username="root", role="admin", teams=[]).user
    Notification.objects.filter(recipient=bob).update(recipient=admin)
    [n] = notifications_latest(viewer=admin)
    assert "look at the refund" in n.text


# --- the escalation ladder -----------------------------------------------------------------------


@pytest.fixture
def ladder(db):
    """24/7, 60 minutes for a task: owner at 50 %, lead at 75 %, to the lead at 90 %."""
    return SlaPolicy.objects.create(
        name="Tasks",
        kind="task",
        resolution_minutes=60,
        escalation=[
            {"at": 50, "action": "notify_owner"},
            {"at": 75, "action": "notify_lead"},
            {"at": 90, "action": "reassign_to_lead"},
            {"at": 100, "action": "breach"},
        ],
    )


def test_each_rung_of_the_ladder_notifies_the_person_it_names(case, team, alice, ladder, now):
    # Given a loop of alice's in a team lea leads
    team_lead(team, "lea", first_name="Lea")
    task(case, now, title="Call the branch", team=team, assignee=alice)

    def told():  # type: ignore[no-untyped-def]
        return [(n.recipient.username, n.text) for n in Notification.objects.order_by("id")]

    # When the sweep passes the minute before half the SLA, Then nobody is told
    loops_sweep(now=now + timedelta(minutes=29))
    assert told() == []
    # At 50 %, the owner; at 75 %, the lead; at 90 %, the lead it is now given to
    loops_sweep(now=now + timedelta(minutes=30))
    assert told() == [("alice", f"A loop of yours is running late on {case.ref}: Call the branch")]
    loops_sweep(now=now + timedelta(minutes=45))
    assert told()[1:] == [("lea", f"Escalated to you on {case.ref}: Call the branch")]
    loops_sweep(now=now + timedelta(minutes=54))
    assert told()[2:] == [("lea", f"Given to you as team lead on {case.ref}: Call the branch")]
    # and at 100 %, the breach, to the lead who holds it now
    loops_sweep(now=now + HOUR)
    assert told()[3:] == [("lea", f"SLA breached on {case.ref}: Call the branch")]
    assert set(Notification.objects.values_list("kind", flat=True)) == {"escalation"}


def test_rungs_reached_in_one_sweep_tell_each_person_once_per_loop(case, team, alice, ladder, now):
    lea = team_lead(team, "lea")
    task(case, now, title="Call the branch", team=team, assignee=alice)
    # When one late sweep reaches every rung at once
    loops_sweep(now=now + HOUR)
    # Then alice once, lea once for the rungs (the last: the loop is hers now) and once for
    # the breach
    rows = sorted(Notification.objects.values_list("recipient", "text"))
    assert rows == sorted(
        [
            (alice.pk, f"A loop of yours is running late on {case.ref}: Call the branch"),
            (lea.pk, f"Given to you as team lead on {case.ref}: Call the branch"),
            (lea.pk, f"SLA breached on {case.ref}: Call the branch"),
        ]
    )


def test_a_reassignment_to_the_lead_that_was_skipped_tells_nobody(case, team, alice, now):
    SlaPolicy.objects.create(
        name="Tasks",
        kind="task",
        resolution_minutes=60,
        escalation=[{"at": 90, "action": "reassign_to_lead"}],
    )
    task(case, now, title="Call the branch", team=team, assignee=alice)  # team has no lead
    loops_sweep(now=now + HOUR)
    # Then only the breach (every ladder ends with one) tells alice; the skipped rung nobody
    assert list(Notification.objects.values_list("recipient", "text")) == [
        (alice.pk, f"SLA breached on {case.ref}: Call the branch")
    ]


# --- bounded rows per sweep --------------------------------------------------------------------


@pytest.fixture
def breach_only(db):
    return SlaPolicy.objects.create(
        name="Tasks",
        kind="task",
        resolution_minutes=60,
        escalation=[{"at": 100, "action": "breach"}],
    )


def test_a_leaderless_teams_breaches_of_one_sweep_make_one_summary_row_per_member(
    case, team, alice, bob, breach_only, now
):
    # Given five loops nobody holds, in a team with two members and no lead
    for i in range(5):
        task(case, now, title=f"Call back {i}", team=team)
    # When one sweep breaches them all
    assert loops_sweep(now=now + HOUR).breached == 5
    # Then each member gets one row saying how many, not one per loop
    rows = list(Notification.objects.order_by("recipient_id"))
    assert [n.recipient_id for n in rows] == sorted([alice.pk, bob.pk])
    for n in rows:
        assert n.text.startswith(f"SLA breached on 5 loops of {team.name}: Call back 0")
        assert n.case is None


def test_a_leaderless_teams_single_breach_names_its_case(case, team, alice, bob, breach_only, now):
    task(case, now, title="Call back", team=team)
    loops_sweep(now=now + HOUR)
    assert sorted(Notification.objects.values_list("recipient", "case", "text")) == sorted(
        (u.pk, case.pk, f"SLA breached on {case.ref}: Call back") for u in (alice, bob)
    )


def test_a_sweeps_notification_statements_do_not_grow_with_its_breaches(
    case, team, alice, bob, breach_only, now
):
    later = now + 3 * HOUR
    for i in range(2):
        task(case, now, title=f"Early {i}", team=team)
    for i in range(8):
        task(case, later, title=f"Late {i}", team=team)
    with CaptureQueriesContext(connection) as few:
        loops_sweep(now=now + HOUR)
    with CaptureQueriesContext(connection) as many:
        loops_sweep(now=later + HOUR)
    assert len(many) == len(few)
    assert Notification.objects.count() == 4  # two sweeps x two members


# --- mentions ----------------------------------------------------------------------------------


def test_who_may_open_the_case_is_read_once_for_all_the_agents_a_note_mentions(
    case, team, alice, now
):
    # Given three more agents of the team
    for name in ("dan", "eve", "fay"):
        AgentFactory(user__username=name, teams=[team])
    note(case, alice, "warm up @dan", now)
    # When a note mentions one of them, and one mentions all three
    with CaptureQueriesContext(connection) as one:
        note(case, alice, "@dan see this", now)
    with CaptureQueriesContext(connection) as three:
        note(case, alice, "@dan @eve @fay see this", now)
    # Then the three cost only each agent's teams more (one visibility statement for all)
    assert len(three) - len(one) == 2
    assert Notification.objects.filter(text__contains="see this").count() == 4


# --- assignment ---------------------------------------------------------------------------------


def test_a_bulk_assignment_notifies_the_new_assignee_once_per_case(customer, team, alice, bob, now):
    from lastmile.cases.selectors import cases_visible
    from lastmile.cases.services import cases_bulk_assign
    from tests.cases.factories import CaseFactory

    cases = [CaseFactory(customer=customer, team=team) for _ in range(3)]
    cases_bulk_assign(
        case_ids=[c.pk for c in cases],
        visible=cases_visible(viewer=alice),
        assignee=bob,
        actor=alice,
        now=now,
    )
    rows = Notification.objects.filter(recipient=bob, kind="assigned")
    assert sorted(rows.values_list("case", flat=True)) == sorted(c.pk for c in cases)
    assert not Notification.objects.filter(recipient=alice).exists()
