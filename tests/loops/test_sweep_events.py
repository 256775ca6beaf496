"""The sweeper's breaches as domain events: every breach reaches the event webhooks with the
loop's data, and a sweep's queries do not grow with how many loops it breaches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.core.events import event_emit_many, event_subscribe, event_unsubscribe
from lastmile.loops.models import Loop, SlaPolicy
from lastmile.loops.services import loop_event_data, loop_open, loops_sweep
from lastmile.webhooks.models import Delivery
from lastmile.webhooks.services.subscriptions import subscription_create

# The subscriptions point at 127.0.0.1, an internal address refused unless allowed.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhooks_to_loopback")]

HOUR = timedelta(minutes=60)


@pytest.fixture
def breach_policy(db):
    """24/7, 60 minutes for a task, one rung: breach at 100 %."""
    return SlaPolicy.objects.create(
        name="Tasks",
        kind="task",
        resolution_minutes=60,
        escalation=[{"at": 100, "action": "breach"}],
    )


def subscribe(name, events, now, team=None):
    sub, _secret = subscription_create(
        name=name, url="http://127.0.0.1:9/hook", events=events, now=now, team=team
    )
    return sub


def open_tasks(customer, n, now, **kw):
    return [
        loop_open(customer=customer, kind="task", title=f"Call back {i}", now=now, **kw)
        for i in range(n)
    ]


# --- every breach is an event -----------------------------------------------------------------


def test_each_breach_of_a_sweep_is_delivered_with_the_loops_data(
    customer, case, team, other_team, alice, breach_policy, now
):
    every = subscribe("breaches", ["loop.breached"], now)
    front = subscribe("front", ["loop.*"], now, team=team)
    subscribe("opened only", ["loop.opened"], now)
    ours = loop_open(
        customer=customer, case=case, kind="task", title="Ours", team=team, assignee=alice, now=now
    )
    theirs = loop_open(customer=customer, kind="task", title="Theirs", team=other_team, now=now)

    result = loops_sweep(now=now + HOUR)

    assert result.breached == 2
    rows = Delivery.objects.filter(event="loop.breached")
    assert sorted((d.subscription.name, d.payload["data"]["loop"]) for d in rows) == sorted(
        [("breaches", ours.pk), ("breaches", theirs.pk), ("front", ours.pk)]
    )
    for loop in (ours, theirs):
        fresh = Loop.objects.get(pk=loop.pk)
        sent = rows.filter(subscription=every, payload__data__loop=loop.pk).get()
        assert sent.payload["data"] == loop_event_data(fresh)
        assert sent.payload["occurred_at"] == "2026-11-23T11:00:00Z"
    assert rows.get(subscription=front).payload["data"]["case"] == case.pk
    assert rows.get(subscription=front).payload["data"]["state"] == "open"
    # One event per breach, told to each interested subscription under the same id.
    assert len({d.event_id for d in rows}) == 2
    assert (
        rows.get(subscription=front).event_id
        == rows.get(subscription=every, payload__data__loop=ours.pk).event_id
    )


def test_a_second_sweep_delivers_no_breach_again(customer, breach_policy, now):
    subscribe("breaches", ["loop.breached"], now)
    open_tasks(customer, 2, now)

    loops_sweep(now=now + HOUR)
    loops_sweep(now=now + HOUR)

    assert Delivery.objects.filter(event="loop.breached").count() == 2


def test_a_sweep_without_subscriptions_delivers_nothing(customer, breach_policy, now):
    open_tasks(customer, 2, now)

    assert loops_sweep(now=now + HOUR).breached == 2
    assert Delivery.objects.count() == 0


def test_a_sweeps_queries_do_not_grow_with_its_breaches(customer, case, team, breach_policy, now):
    # given an active subscription to breaches, and two sweeps breaching 2 and then 6 loops
    subscribe("breaches", ["loop.breached"], now)
    open_tasks(customer, 2, now, case=case, team=team)
    later = now + 2 * HOUR
    open_tasks(customer, 6, later, case=case, team=team)

    # when each sweep runs
    with CaptureQueriesContext(connection) as few:
        assert loops_sweep(now=now + HOUR).breached == 2
    with CaptureQueriesContext(connection) as many:
        assert loops_sweep(now=later + HOUR).breached == 6

    # then both ran the same statements: nothing read or written per loop
    assert len(many) == len(few)
    assert Delivery.objects.filter(event="loop.breached").count() == 8


# --- event_emit_many ---------------------------------------------------------------------------


@pytest.fixture
def heard():
    seen: list[tuple] = []

    def one(name, data, at):
        seen.append(("one", name, data["n"]))

    def batch(name, events):
        seen.append(("many", name, [data["n"] for data, _at in events]))

    def plain(name, data, at):
        seen.append(("plain", name, data["n"]))

    event_subscribe(one, many=batch)
    event_subscribe(plain)
    yield seen, one
    event_unsubscribe(one)
    event_unsubscribe(plain)


def test_a_run_of_events_reaches_a_many_handler_at_once_and_others_one_by_one(heard, now):
    seen, _one = heard

    event_emit_many("thing.happened", [({"n": 1}, now), ({"n": 2}, now)])

    assert [s for s in seen if s[0] != "plain"] == [("many", "thing.happened", [1, 2])]
    assert [s for s in seen if s[0] == "plain"] == [
        ("plain", "thing.happened", 1),
        ("plain", "thing.happened", 2),
    ]


def test_an_empty_run_tells_nobody(heard):
    seen, _one = heard

    event_emit_many("thing.happened", [])

    assert seen == []


def test_unsubscribing_drops_the_many_handler_too(heard, now):
    seen, one = heard
    event_unsubscribe(one)
    event_subscribe(one)  # again, without a many handler: it hears each event itself

    event_emit_many("thing.happened", [({"n": 1}, now), ({"n": 2}, now)])

    assert [s for s in seen if s[0] != "plain"] == [
        ("one", "thing.happened", 1),
        ("one", "thing.happened", 2),
    ]
