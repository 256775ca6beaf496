"""Moving a case to another team takes the open loops its old team held with it (as a
Zendesk/Freshdesk group move does): the new team has the reply loop in its inbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.selectors import case_history
from lastmile.cases.services import case_move, case_team_set
from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.customers.models import Direction
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, LoopEventKind, LoopKind, LoopState
from lastmile.loops.services import loop_close, loop_open
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards(db):
    return TeamFactory(name="Cards", slug="cards")


@pytest.fixture
def heard():
    """The ``loop.assigned`` events told, in order."""
    events = []

    def hear(name, data, at):
        events.append(data)

    event_subscribe(hear, names=["loop.assigned"])
    yield events
    event_unsubscribe(hear)


def _reply_loop(case, now):
    interaction_record(
        customer=case.customer,
        case=case,
        channel="sms",
        direction=Direction.INBOUND,
        occurred_at=now,
        now=now,
        body="Where is my card?",
        customer_words=False,
    )
    return Loop.objects.get(case=case, kind=LoopKind.REPLY, state=LoopState.OPEN)


def test_moving_a_case_moves_the_old_teams_open_loops_to_the_new_team(
    case, team, other_team, cards, alice, admin_user, heard, now
):
    # given a case of the front office with its open reply loop, assigned to alice, and a
    # back-office task on it
    reply = _reply_loop(case, now)
    assert reply.team_id == team.pk
    Loop.objects.filter(pk=reply.pk).update(assignee=alice)
    task = loop_open(
        customer=case.customer, case=case, kind="task", title="Check", team=other_team, now=now
    )
    later = now + timedelta(minutes=5)

    # when the case is moved to Cards
    case_move(case=case, team=cards, actor=admin_user, now=later)

    # then the reply loop is Cards', unassigned (alice is not in Cards); the task stays
    reply.refresh_from_db()
    task.refresh_from_db()
    assert (reply.team_id, reply.assignee_id) == (cards.pk, None)
    assert (task.team_id, task.assignee_id) == (other_team.pk, None)
    # and the loop's trail and its loop.assigned event say so, with the actor
    event = reply.events.get(kind=LoopEventKind.REASSIGNED)
    assert event.actor == admin_user and event.at == later
    assert event.data == {
        "from": {"team": team.pk, "assignee": alice.pk},
        "to": {"team": cards.pk, "assignee": None},
    }
    assert "Cards" in event.reason and case.ref in event.reason
    assert [e["loop"] for e in heard] == [reply.pk]
    assert heard[0]["actor"] == admin_user.pk
    # and the case's history names the loops that moved with it
    moved = [e for e in case_history(case=case) if e.kind == "loops_moved"]
    assert [(e.data, e.actor) for e in moved] == [
        ({"team": "cards", "loops": [reply.pk]}, admin_user)
    ]


def test_an_assignee_in_the_new_team_keeps_the_loop(case, team, cards, admin_user, now):
    reply = _reply_loop(case, now)
    both = AgentFactory(user__username="dana", teams=[team, cards]).user
    Loop.objects.filter(pk=reply.pk).update(assignee=both)

    case_team_set(case=case, team=cards, actor=admin_user, now=now)

    reply.refresh_from_db()
    assert (reply.team_id, reply.assignee_id) == (cards.pk, both.pk)


def test_closed_loops_and_a_change_of_assignee_only_move_nothing(
    case, team, cards, alice, bob, admin_user, now
):
    reply = _reply_loop(case, now)
    loop_close(loop=reply, actor=alice, reason="answered by phone", now=now)

    # an assignee change in the same team moves no loop
    case_move(case=case, team=team, actor=admin_user, now=now)
    # a move to Cards leaves the closed loop where it was
    case_move(case=case, team=cards, actor=admin_user, now=now)

    reply.refresh_from_db()
    assert reply.team_id == team.pk
    assert not reply.events.filter(kind=LoopEventKind.REASSIGNED).exists()
    assert not [e for e in case_history(case=case) if e.kind == "loops_moved"]


def test_the_case_page_history_says_the_loops_moved_with_it(client, case, cards, admin_user, now):
    _reply_loop(case, now)
    case_move(case=case, team=cards, actor=admin_user, now=now)

    client.force_login(admin_user)
    page = client.get(f"/cases/{case.ref}/").content.decode()

    assert "moved 1 open loop with it" in page and "loops_moved" not in page
