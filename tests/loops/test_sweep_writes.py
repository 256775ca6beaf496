"""The sweeper's writes: plain rows stored as the ORM would store them (``core.db``'s
conversions, COPY on PostgreSQL), and a loop's UPDATE setting only what its rung changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.core import db as core_db
from lastmile.core.db import rows_insert
from lastmile.loops import services
from lastmile.loops.models import Loop, LoopEvent, SlaPolicy
from lastmile.loops.services import loop_open, loops_sweep

pytestmark = pytest.mark.django_db

HOUR = timedelta(minutes=60)
INSTANTS = [
    datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    datetime(2026, 11, 23, 10, 0, 0, 250, tzinfo=UTC),
    datetime(2026, 11, 23, 11, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 11, 23, 10, 0, 1, tzinfo=ZoneInfo("UTC")),
    datetime(2026, 11, 23, 5, 0, tzinfo=timezone(timedelta(hours=-5))),
]
DOCUMENTS = [{"level": 1, "nested": [1, "two", None]}, [], "text", 3, {"é": "ü"}]


def test_plain_rows_read_back_as_the_orm_reads_them(customer, now):
    loop = loop_open(customer=customer, kind="task", title="Call back", now=now)
    rows_insert(
        LoopEvent,
        [
            {"loop_id": loop.pk, "kind": "escalated", "at": at, "reason": f"r{i}", "data": doc}
            for i, (at, doc) in enumerate(zip(INSTANTS, DOCUMENTS, strict=True))
        ],
    )
    got = list(LoopEvent.objects.filter(loop=loop, kind="escalated").order_by("reason"))
    assert [(e.at, e.data) for e in got] == list(zip(INSTANTS, DOCUMENTS, strict=True))
    assert all(e.at.utcoffset() == timedelta(0) for e in got)


def test_plain_rows_with_nulls_and_defaults(now):
    rows_insert(
        OutboxMessage,
        [
            {"key": "a", "recipient": "a@example.com", "created_at": now, "next_attempt_at": now},
            {
                "key": "b",
                "recipient": "b@example.com",
                "created_at": now,
                "next_attempt_at": now,
                "sent_at": None,
                "data": {"x": [1]},
            },
        ],
    )
    a, b = OutboxMessage.objects.order_by("key")
    assert (a.data, a.sent_at, a.status, a.subject) == ({}, None, "pending", "")
    assert (b.data, b.sent_at) == ({"x": [1]}, None)


@pytest.fixture
def notify_then_breach(db):
    """24/7, 60 minutes for a task: notify the owner at 50 %, breach at 100 %."""
    return SlaPolicy.objects.create(
        name="Tasks",
        kind="task",
        resolution_minutes=60,
        escalation=[{"at": 50, "action": "notify_owner"}, {"at": 100, "action": "breach"}],
    )


def test_a_rung_updates_only_the_columns_it_changed(
    customer, team, alice, notify_then_breach, now, monkeypatch
):
    notified = loop_open(
        customer=customer, kind="task", title="A", team=team, assignee=alice, now=now
    )
    late = loop_open(
        customer=customer, kind="task", title="B", team=team, assignee=alice, now=now - HOUR
    )
    Loop.objects.filter(pk=late.pk).update(escalation_level=1, next_check_at=now)

    written: list[tuple[list[int], list[str]]] = []

    def rows_update(model, rows, fields):  # type: ignore[no-untyped-def]
        written.append(([r["pk"] for r in rows], list(fields)))
        core_db.rows_update(model, rows, fields)

    monkeypatch.setattr(services, "rows_update", rows_update)
    result = loops_sweep(now=now + HOUR / 2)

    assert (result.loops, result.rungs, result.breached) == (2, 2, 1)
    # Each loop written once, with its level and next check and what its rung changed:
    # the notified one its at_risk_at (escalated: at risk whatever the time), the breached
    # one its breach too; neither its assignee, which no rung changed.
    assert sorted(written) == sorted(
        [
            ([notified.pk], ["escalation_level", "next_check_at", "at_risk_at"]),
            ([late.pk], ["escalation_level", "next_check_at", "breached_at", "at_risk_at"]),
        ]
    )
    fresh = Loop.objects.get(pk=notified.pk)
    assert (fresh.escalation_level, fresh.breached_at, fresh.assignee_id) == (1, None, alice.pk)
    assert fresh.next_check_at == now + HOUR
    fresh = Loop.objects.get(pk=late.pk)
    assert (fresh.escalation_level, fresh.assignee_id) == (2, alice.pk)
    assert fresh.breached_at == now and fresh.next_check_at is None
