"""A loop given to a person (``loop_reassign``: console, admin, API, the inbox's bulk bar) is
told as the internal event ``loop.assigned``; the live app tells the new assignee, never the
person who gave it to themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.live.models import Notification
from lastmile.live.reactions import on_loop_assigned
from lastmile.loops.bulk import loops_bulk_reassign
from lastmile.loops.services import loop_open, loop_reassign

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """The ``loop.assigned`` events, as a subscriber hears them."""
    events: list[tuple[dict, object]] = []

    def hear(name, data, at):  # type: ignore[no-untyped-def]
        events.append((data, at))

    event_subscribe(hear, names=["loop.assigned"])
    yield events
    event_unsubscribe(hear)


def test_a_reassignment_is_told_with_who_had_it_and_who_gave_it(case, team, alice, bob, now, heard):
    loop = loop_open(customer=case.customer, case=case, kind="task", title="Refund", now=now)
    loop_reassign(loop=loop, assignee=bob, actor=alice, now=now + timedelta(minutes=1))
    ((data, at),) = heard
    assert at == now + timedelta(minutes=1)
    assert (data["loop"], data["assignee"], data["team"], data["actor"]) == (
        loop.pk,
        bob.pk,
        team.pk,
        alice.pk,
    )
    assert data["before"] == {"team": team.pk, "assignee": None}
    assert data["case"] == case.pk and data["title"] == "Refund"


def test_giving_a_loop_to_whoever_holds_it_tells_nothing(case, alice, now, heard):
    loop = loop_open(
        customer=case.customer, case=case, kind="task", title="t", assignee=alice, now=now
    )
    loop_reassign(loop=loop, assignee=alice, actor=alice, now=now)
    assert heard == []


def test_the_new_assignee_is_notified_and_the_actor_is_not(case, alice, bob, now):
    loop = loop_open(customer=case.customer, case=case, kind="task", title="Refund", now=now)
    loop_reassign(loop=loop, assignee=bob, actor=alice, now=now)
    (n,) = Notification.objects.all()
    assert (n.recipient_id, n.case_id) == (bob.pk, case.pk)
    assert "Refund" in n.text and case.ref in n.text
    assert n.text.startswith("Loop given to you") and n.kind == "assigned"
    # Taking a loop yourself tells nobody.
    other = loop_open(customer=case.customer, case=case, kind="task", title="Call", now=now)
    loop_reassign(loop=other, assignee=alice, actor=alice, now=now)
    assert Notification.objects.count() == 1


def test_a_bulk_reassignment_notifies_the_new_assignee_once_per_loop(case, alice, bob, now):
    loops = [
        loop_open(customer=case.customer, case=case, kind="task", title=f"t{i}", now=now)
        for i in range(3)
    ]
    loops_bulk_reassign(
        loop_ids=[lp.pk for lp in loops], viewer=alice, actor=alice, now=now, assignee=bob
    )
    assert Notification.objects.filter(recipient=bob).count() == 3
    assert not Notification.objects.filter(recipient=alice).exists()


def test_the_live_app_hears_loop_assigned():
    """``LiveConfig.ready`` subscribes the reaction (the tests above go through it)."""
    from lastmile.core.events import _hearing

    assert on_loop_assigned in _hearing("loop.assigned", internal=True)
