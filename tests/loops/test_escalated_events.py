"""The sweeper's escalation rungs short of a breach (notify_owner, notify_lead,
reassign_to_lead) as ``loop.escalated`` domain events: one per rung reached, with the loop's
data as the rung left it, the rung, and the team's lead."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.loops.models import SlaPolicy
from lastmile.loops.services import loop_open, loops_sweep
from tests.people.factories import team_lead

pytestmark = pytest.mark.django_db

HOUR = timedelta(minutes=60)


@pytest.fixture
def heard():
    seen: list[tuple[str, dict, object]] = []

    def one(name, data, at):
        seen.append((name, data, at))

    event_subscribe(one, names=["loop.escalated"])
    yield seen
    event_unsubscribe(one)


@pytest.fixture
def ladder(db):
    """24/7, 60 minutes for a task: tell the owner at 50 %, the lead at 75 %, give the loop
    to the lead at 90 %, breach at 100 %."""
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


def test_each_rung_short_of_a_breach_is_an_escalated_event(
    customer, case, team, alice, ladder, now, heard
):
    # Given a loop of Alice's, in a team Lea leads
    lea = team_lead(team, "lea")
    loop = loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="Call back",
        team=team,
        assignee=alice,
        now=now,
    )
    # When the sweeper runs at 50 % of the SLA, Then Alice's rung is told, once
    loops_sweep(now=now + HOUR / 2)
    loops_sweep(now=now + HOUR / 2)
    assert [(d["action"], d["assignee"], d["lead"]) for _, d, _ in heard] == [
        ("notify_owner", alice.pk, lea.pk)
    ]
    # When it runs past 90 %, Then the lead's rung and the reassignment are told, the latter
    # with the loop now the lead's; the breach is not one of them
    loops_sweep(now=now + HOUR)
    assert [(d["action"], d["assignee"]) for _, d, _ in heard] == [
        ("notify_owner", alice.pk),
        ("notify_lead", alice.pk),
        ("reassign_to_lead", lea.pk),
    ]
    moved = heard[2][1]
    assert (moved["loop"], moved["case"], moved["team"]) == (loop.pk, case.pk, team.pk)
    assert (moved["from"], moved["to"], moved["level"]) == (alice.pk, lea.pk, 3)
    assert heard[2][2] == now + HOUR * 0.9
