"""A breach counts against whoever held the loop when it breached: the SLA ladder's later
hand-over to the lead (and any reassignment after the breach) does not move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.loops.models import LoopEvent, SlaPolicy
from lastmile.loops.services import loop_close, loop_open, loop_reassign, loops_sweep
from lastmile.people.viewers import SYSTEM
from lastmile.scorecards.selectors import figure_rows, period_parse, scorecards
from tests.scorecards.test_scorecards_api import follow

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def chat_policy(db):  # type: ignore[no-untyped-def]
    """24/7, 60 minutes, breached at 100 % and handed to the lead at 150 %."""
    return SlaPolicy.objects.create(
        name="Chat",
        channel="chat",
        first_reply_minutes=60,
        next_reply_minutes=60,
        resolution_minutes=60,
        escalation=[
            {"at": 100, "action": "breach"},
            {"at": 150, "action": "reassign_to_lead"},
        ],
    )


def _loop(customer, team, who):  # type: ignore[no-untyped-def]
    return loop_open(
        customer=customer,
        kind="task",
        title="Call back",
        team=team,
        assignee=who,
        channel="chat",
        now=T0,
    )


def _breaches() -> dict[str, int]:
    period = period_parse("2026-11", now=T0)
    cards = scorecards(viewer=SYSTEM, period=period)
    return {c.key: c.metrics["breaches"] for c in cards.agents}


def test_the_ladders_hand_over_to_the_lead_leaves_the_breach_with_the_agent(
    customer, team, alice, lena, chat_policy
):
    # given alice's loop breached at 60 minutes and the ladder gave it to lena at 90
    loop = _loop(customer, team, alice)
    assert loops_sweep(now=T0 + timedelta(minutes=60)).actions == {"breach": 1}
    assert loops_sweep(now=T0 + timedelta(minutes=90)).actions == {"reassign_to_lead": 1}
    loop.refresh_from_db()
    assert loop.assignee == lena
    # when lena closes it
    loop_close(loop=loop, now=T0 + timedelta(minutes=120))
    # then the breach is alice's, not lena's, on the card and in its rows
    breaches = _breaches()
    assert breaches["alice"] == 1 and breaches["lena"] == 0
    period = period_parse("2026-11", now=T0)
    rows = figure_rows(viewer=SYSTEM, period=period, figure="breaches", agent=alice)
    assert rows.count == 1 and [lp.pk for lp in rows.items] == [loop.pk]
    assert figure_rows(viewer=SYSTEM, period=period, figure="breaches", agent=lena).count == 0


def test_a_loop_given_away_before_its_deadline_breaches_for_who_then_held_it(
    customer, team, alice, bob, chat_policy
):
    # given alice gave her loop to bob half an hour in, and it breached with bob
    loop = _loop(customer, team, alice)
    loop_reassign(loop=loop, assignee=bob, reason="shift ended", now=T0 + timedelta(minutes=30))
    loops_sweep(now=T0 + timedelta(minutes=60))
    # when bob gives it back to alice after the breach, and she closes it
    loop.refresh_from_db()
    loop_reassign(loop=loop, assignee=alice, reason="back", now=T0 + timedelta(minutes=70))
    loop_close(loop=loop, now=T0 + timedelta(minutes=80))
    # then the breach is bob's
    breaches = _breaches()
    assert breaches["bob"] == 1 and breaches["alice"] == 0


def test_a_reassignment_at_the_instant_of_the_breach_after_its_event_is_after_it(
    customer, team, alice, bob, chat_policy
):
    # given alice's loop breached, and a reassignment to bob written at that same instant
    loop = _loop(customer, team, alice)
    loops_sweep(now=T0 + timedelta(minutes=60))
    loop.refresh_from_db()
    at = loop.breached_at
    LoopEvent.objects.create(
        loop=loop, kind="reassigned", at=at, data={"from": alice.pk, "to": bob.pk}
    )
    type(loop).objects.filter(pk=loop.pk).update(assignee=bob)
    loop.refresh_from_db()
    loop_close(loop=loop, now=at + timedelta(minutes=5))
    # then the breach is alice's: the reassignment's event follows the breach's
    breaches = _breaches()
    assert breaches["alice"] == 1 and breaches["bob"] == 0


def test_an_unassigned_loop_at_the_breach_is_nobodys_breach(customer, team, alice, chat_policy):
    # given a team loop with no assignee breached, then was given to alice who closed it
    loop = _loop(customer, team, None)
    loops_sweep(now=T0 + timedelta(minutes=60))
    loop.refresh_from_db()
    loop_reassign(loop=loop, assignee=alice, reason="picked up", now=T0 + timedelta(minutes=65))
    loop_close(loop=loop, now=T0 + timedelta(minutes=70))
    # then it is no agent's breach, and still the team's
    assert _breaches()["alice"] == 0
    period = period_parse("2026-11", now=T0)
    cards = scorecards(viewer=SYSTEM, period=period)
    assert {c.key: c.metrics["breaches"] for c in cards.teams}[team.slug] == 1


def test_the_apis_breaches_link_lists_the_loops_breached_in_the_agents_hands(
    api, customer, team, alice, lena, chat_policy
):
    # given alice's loop breached and the ladder handed it to lena, who closed it
    loop = _loop(customer, team, alice)
    loops_sweep(now=T0 + timedelta(minutes=60))
    loops_sweep(now=T0 + timedelta(minutes=90))
    loop.refresh_from_db()
    loop_close(loop=loop, now=T0 + timedelta(minutes=120))

    # when each agent's breaches link is followed
    body = api.get("/scorecards", period="2026-11").json()
    rows = {r["agent"]: r for r in body["agents"]}
    listed = {
        name: follow(api, rows[name]["links"]["breaches"]).json() for name in ("alice", "lena")
    }

    # then each lists what its card counts: alice's breach, none of lena's
    assert rows["alice"]["breaches"] == listed["alice"]["count"] == 1
    assert [item["id"] for item in listed["alice"]["items"]] == [loop.pk]
    assert rows["lena"]["breaches"] == listed["lena"]["count"] == 0


def test_the_loops_api_refuses_an_unknown_breached_by_naming_it(api):
    response = api.get("/loops", breached_by="nobody-here")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "breached_by"
