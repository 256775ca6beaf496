"""``Loop.at_risk_at``, stored by every service that moves a deadline or escalates a loop,
lets the inbox count its loops by index ranges (``loop_state_counts``); the counts keep
agreeing with ``loop_sla_state`` (the rule in Python) whichever service wrote the loop last."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from lastmile.loops.selectors import loop_list, loop_sla_state, loop_state_counts
from lastmile.loops.services import (
    AT_RISK_ALWAYS,
    loop_at_risk_at,
    loop_open,
    loop_pause,
    loop_reassign,
    loop_resume,
    loops_sweep,
)
from lastmile.people.viewers import SYSTEM

pytestmark = pytest.mark.django_db

LADDER = [
    {"at": 75, "action": "notify_owner"},
    {"at": 100, "action": "breach"},
    {"at": 150, "action": "reassign_to_lead"},
]


@pytest.fixture
def office_policy(db):
    """Business hours (Berlin, 9-17 on weekdays): the ladder's 75 % rung is in business
    time, the at-risk quarter in wall-clock time, so the two part."""
    hours = BusinessHours.objects.create(
        name="Berlin office",
        timezone="Europe/Berlin",
        weekly={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    return SlaPolicy.objects.create(
        name="Email",
        channel="email",
        first_reply_minutes=240,
        next_reply_minutes=240,
        resolution_minutes=240,
        business_hours=hours,
        escalation=LADDER,
    )


def _agrees(loop: Loop, *, around: list) -> None:
    """The stored at_risk_at is what the services compute, and the counts of this one loop
    say what ``loop_sla_state`` says, at each instant of ``around`` and a microsecond
    either side."""
    loop.refresh_from_db()
    assert loop.at_risk_at == loop_at_risk_at(loop)
    qs = Loop.objects.filter(pk=loop.pk)
    for base in around:
        for at in (base - timedelta(microseconds=1), base, base + timedelta(microseconds=1)):
            expected = loop_sla_state(loop, now=at)
            counts = loop_state_counts(qs, now=at)
            assert counts[expected] == 1 and sum(counts.values()) == 1, (at, expected, counts)


def _instants(loop: Loop, now) -> list:
    loop.refresh_from_db()
    marks = [now, now + timedelta(hours=1), now + timedelta(days=1), now + timedelta(days=3)]
    edges = (loop.due_at, loop.at_risk_at)
    return marks + [t for t in edges if t is not None and t != AT_RISK_ALWAYS]


def test_open_pause_resume_and_reassign_keep_at_risk_at(customer, team, office_policy, now):
    loop = loop_open(customer=customer, kind="task", title="t", team=team, channel="email", now=now)
    assert loop.at_risk_at is not None and loop.at_risk_at < loop.due_at
    _agrees(loop, around=_instants(loop, now))

    loop = loop_pause(loop=loop, reason="waiting", now=now + timedelta(minutes=30))
    assert loop.at_risk_at is None and loop.due_at is None
    _agrees(loop, around=_instants(loop, now))

    # Resumed the next day: the deadline moves, and at_risk_at with it.
    loop = loop_resume(loop=loop, now=now + timedelta(days=1))
    loop.refresh_from_db()
    assert loop.at_risk_at == loop_at_risk_at(loop) and loop.at_risk_at < loop.due_at
    _agrees(loop, around=_instants(loop, now))

    # Given to another agent: the deadline stays, and so does at_risk_at.
    before = loop.at_risk_at
    loop = loop_reassign(loop=loop, team=team, now=now + timedelta(days=1, minutes=5))
    loop.refresh_from_db()
    assert loop.at_risk_at == before


def test_a_fixed_deadline_and_the_sweeper_keep_at_risk_at(customer, team, office_policy, now):
    fixed = loop_open(
        customer=customer,
        kind="task",
        title="fixed",
        team=team,
        due_at=now + timedelta(hours=2, microseconds=500_001),
        now=now,
    )
    _agrees(fixed, around=_instants(fixed, now))
    policed = loop_open(
        customer=customer, kind="task", title="p", team=team, channel="email", now=now
    )
    # The sweeper takes the 75 % rung (business time): at risk from then on, whatever the
    # wall clock says; then the breach.
    for hours in (3, 4, 6):
        loops_sweep(now=now + timedelta(hours=hours))
        for loop in (fixed, policed):
            loop.refresh_from_db()
            if loop.escalation_level:
                assert loop.at_risk_at == AT_RISK_ALWAYS
            _agrees(loop, around=_instants(loop, now))


def test_reply_loops_opened_by_messages_store_at_risk_at(case, office_policy, now):
    case.channel = "email"
    case.save(update_fields=["channel"])
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="inbound",
        body="hi",
        occurred_at=now,
        now=now,
    )
    (loop,) = Loop.objects.filter(case=case, state="open")
    assert loop.at_risk_at is not None
    _agrees(loop, around=_instants(loop, now))


def test_the_counts_cover_paused_unplanned_and_marked_loops_together(
    customer, team, office_policy, now
):
    """A mix: paused, no deadline, marked breached before its deadline, escalated,
    on track; the counts equal the Python rule's tally."""
    made = [
        loop_open(customer=customer, kind="task", title=str(i), team=team, channel=ch, now=now)
        for i, ch in enumerate(["email", "email", "email", "", "email"])
    ]
    loop_pause(loop=made[0], now=now + timedelta(minutes=1))
    loops_sweep(now=now + timedelta(hours=3, minutes=30))  # the 75 % rung of every email loop
    # One marked breached a little before its deadline (a fixed deadline between seconds).
    Loop.objects.filter(pk=made[2].pk).update(breached_at=now + timedelta(hours=3))
    qs = loop_list(viewer=SYSTEM, now=now, state="open")
    loops = list(Loop.objects.all())
    for at in (now, now + timedelta(hours=3, minutes=31), now + timedelta(days=2)):
        tally = dict.fromkeys(("breached", "at_risk", "ok", "paused", "none"), 0)
        for loop in loops:
            tally[loop_sla_state(loop, now=at)] += 1
        assert loop_state_counts(qs, now=at) == tally


def test_the_counts_read_ranges_of_indexes_on_sqlite(customer, team, alice, now):
    """Each count is a SEARCH of an index, never a scan of the table (on SQLite, which has
    no statistics, the plan is the one the code gets)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "sqlite":
        pytest.skip("the plans checked are SQLite's")
    loop_open(customer=customer, kind="task", title="t", team=team, now=now)
    qs = loop_list(viewer=alice, now=now, state="open")
    with CaptureQueriesContext(connection) as queries:
        loop_state_counts(qs, now=now)
    assert len(queries.captured_queries) == 5
    with connection.cursor() as cur:
        for q in queries.captured_queries:
            cur.execute("EXPLAIN QUERY PLAN " + q["sql"])
            plan = " / ".join(row[-1] for row in cur.fetchall())
            assert "SEARCH loops_loop USING" in plan and "SCAN loops_loop" not in plan, plan
            # the big ranges are read from the index alone
            if "at_risk_at" in q["sql"] or "breached_at" not in q["sql"]:
                assert "COVERING INDEX" in plan or '"due_at" IS NULL' in q["sql"], plan
