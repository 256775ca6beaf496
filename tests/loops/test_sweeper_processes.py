"""The sweeper with real processes: several at once, and one killed mid-sweep.

Each worker is ``tests/loops/sweeper_worker.py`` in its own Python process with its own database
connection, sweeping the test database at a fixed ``now``. The rows are committed
(``transaction=True``) so the workers see them. PostgreSQL only: there the sweeper claims
rows with ``FOR UPDATE SKIP LOCKED``; SQLite serialises writers, so there is nothing to race.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

from lastmile.channels.models import OutboxMessage
from lastmile.loops.models import Loop, LoopEvent, LoopEventKind, SlaPolicy
from lastmile.loops.services import loop_open, loops_sweep
from tests.customers.factories import CustomerFactory
from tests.people.factories import AgentFactory, TeamFactory, UserFactory

WORKER = Path(__file__).with_name("sweeper_worker.py")
RUNG_KINDS = (LoopEventKind.ESCALATED, LoopEventKind.BREACHED, LoopEventKind.REASSIGNED)
LADDER = [
    {"at": 75, "action": "notify_owner"},
    {"at": 100, "action": "breach"},
    {"at": 150, "action": "reassign_to_lead"},
]
OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # every rung (150 % of 60 min) is due by 10:30
SWEEP_AT = OPENED + timedelta(days=1)
WAIT = 45.0  # seconds: an upper bound, never a pause; every wait below ends on a condition


# --- given: many loops whose every rung is due -----------------------------------------------


@dataclass
class Scene:
    owner: Any
    lead: Any
    team: Any
    policy: SlaPolicy


@pytest.fixture
def scene(db) -> Scene:
    lead = UserFactory(username="lead", email="lead@example.com")
    owner = AgentFactory(user__username="owner").user
    team = TeamFactory(name="Front office", slug="front", lead=lead)
    policy = SlaPolicy.objects.create(
        name="Chat 24/7",
        channel="chat",
        first_reply_minutes=60,
        next_reply_minutes=60,
        resolution_minutes=60,
        escalation=LADDER,
    )
    return Scene(owner=owner, lead=lead, team=team, policy=policy)


def _open_due_loops(scene: Scene, n: int, *, opened: datetime = OPENED) -> list[int]:
    """``n`` open loops as ``loop_open`` makes them, in pks order.

    The first is opened by ``loop_open``; the rest copy every field it computed (policy,
    SLA, clock, due_at, next_check_at) with their own title and "opened" event, in bulk —
    thousands of ``loop_open`` calls would take most of the time budget.
    """
    customer = CustomerFactory()
    first = loop_open(
        customer=customer,
        kind="task",
        title="Call back #0",
        team=scene.team,
        assignee=scene.owner,
        channel="chat",
        now=opened,
    )
    assert first.sla_policy_id == scene.policy.pk and first.next_check_at is not None
    opened_event = LoopEvent.objects.get(loop=first)
    fields = [f.attname for f in Loop._meta.concrete_fields if not f.primary_key]
    copies = []
    for i in range(1, n):
        copy = Loop(**{name: getattr(first, name) for name in fields})
        copy.title = f"Call back #{i}"
        copies.append(copy)
    Loop.objects.bulk_create(copies, batch_size=1000)
    LoopEvent.objects.bulk_create(
        [
            LoopEvent(loop=c, kind=LoopEventKind.OPENED, at=opened_event.at, data=opened_event.data)
            for c in copies
        ],
        batch_size=1000,
    )
    return [first.pk, *(c.pk for c in copies)]


# --- the worker processes -----------------------------------------------------------------------


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


class Worker:
    """One ``sweeper_worker.py`` process, connected and waiting for the start signal."""

    def __init__(self, *, batch_size: int, log: Path) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "lastmile.settings",
            "LASTMILE_DATABASE_URL": _test_database_url(),
            "LASTMILE_VAR_DIR": str(settings.VAR_DIR),
        }
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "--now",
                SWEEP_AT.isoformat(),
                "--batch-size",
                str(batch_size),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            env=env,
        )
        ready = self._line()
        assert ready.get("ready"), ready
        self.backend_pid: int = ready["backend_pid"]

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # EOF at once if the worker died
        if not line:
            self.proc.wait(timeout=WAIT)
            pytest.fail(f"worker exited {self.proc.returncode}:\n{self.log.read_text()}")
        return json.loads(line)

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        done = self._line()
        assert self.proc.wait(timeout=WAIT) == 0, self.log.read_text()
        return done

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=WAIT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def workers(tmp_path):
    """Start workers with ``workers(batch_size=…)``; every one is gone after the test."""
    started: list[Worker] = []

    def start(*, batch_size: int) -> Worker:
        connections.close_all()  # the workers get their own connections; ours reopens on use
        worker = Worker(batch_size=batch_size, log=tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _wait_until(condition: Callable[[], object], *, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.002)


def _other_session() -> psycopg.Connection[Any]:
    """A second database session of the test's own, to hold row locks as a sweeper mid-batch does."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )


# --- what the database says -------------------------------------------------------------------


def _levels() -> dict[int, int]:
    return dict(Loop.objects.values_list("pk", "escalation_level"))


def _rung_events_per_loop() -> Counter[int]:
    return Counter(LoopEvent.objects.filter(kind__in=RUNG_KINDS).values_list("loop_id", flat=True))


def _outbox_per_loop() -> Counter[int]:
    keys = OutboxMessage.objects.filter(key__startswith="loop:").values_list("key", flat=True)
    return Counter(int(key.split(":")[1]) for key in keys)


def _assert_fully_escalated_once(pks: list[int]) -> None:
    assert set(_levels().values()) == {3}
    per_kind = Counter(LoopEvent.objects.filter(kind__in=RUNG_KINDS).values_list("loop_id", "kind"))
    assert set(per_kind) == {(pk, kind) for pk in pks for kind in RUNG_KINDS}  # each rung's event…
    assert set(per_kind.values()) == {1}  # …exactly once
    assert OutboxMessage.objects.count() == 3 * len(pks)
    assert set(OutboxMessage.objects.values_list("key", flat=True)) == {
        f"loop:{pk}:level:{level}" for pk in pks for level in (1, 2, 3)
    }
    assert set(Loop.objects.values_list("next_check_at", flat=True)) == {None}


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_escalate_each_loop_exactly_once(scene, workers):
    # given 3,000 loops with all three rungs due, and two sweepers connected and waiting
    pks = _open_due_loops(scene, 3000)
    a, b = workers(batch_size=50), workers(batch_size=50)

    # when both are told to go at the same instant
    a.go()
    b.go()
    done = [a.result(), b.result()]

    # then every loop climbed the whole ladder once: one event and one message per rung
    _assert_fully_escalated_once(pks)
    assert sum(r["rungs"] for r in done) == 3 * len(pks)  # no rung applied by both
    assert sum(r["loops"] for r in done) == len(pks)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_share_the_work(scene, workers):
    # given 2,000 due loops and two sweepers connected and waiting
    _open_due_loops(scene, 2000)
    a, b = workers(batch_size=50), workers(batch_size=50)

    # when both are told to go at the same instant
    a.go()
    b.go()
    done = [a.result(), b.result()]

    # then each of them applied some of the rungs ("concurrent sweepers split the work")
    assert [r["rungs"] > 0 for r in done] == [True, True], done


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_sweeper_passes_over_loops_another_sweeper_holds_and_escalates_the_rest(scene, workers):
    # given the 50 most overdue loops locked by another sweeper mid-batch, and 1,000 more due loops
    held = _open_due_loops(scene, 50, opened=OPENED - timedelta(hours=1))
    rest = _open_due_loops(scene, 1000)
    with _other_session() as other:  # one transaction until the block ends
        other.execute(f"SELECT id FROM {Loop._meta.db_table} WHERE id = ANY(%s) FOR UPDATE", [held])

        # when a sweeper runs meanwhile, in batches as big as the held set
        worker = workers(batch_size=50)
        worker.go()
        result = worker.result()

    # then it escalated every loop it could claim and left the held ones to their holder
    assert (result["loops"], result["rungs"]) == (len(rest), 3 * len(rest)), result
    levels = _levels()
    assert {levels[pk] for pk in rest} == {3}
    assert {levels[pk] for pk in held} == {0}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sweep_leaves_nothing_half_done_and_the_next_sweep_finishes(
    scene, workers
):
    # given 1,000 due loops, then 1,000 due a minute later, one of which already has its first
    # message being queued by another session: the sweeper's batch that holds that loop will
    # update its loops, write their events and then wait on the message's key — mid-batch
    pks = _open_due_loops(scene, 1000) + _open_due_loops(
        scene, 1000, opened=OPENED + timedelta(minutes=1)
    )
    stuck = pks[1500]
    with _other_session() as holder:
        holder.execute(
            f"INSERT INTO {OutboxMessage._meta.db_table} (key, purpose, channel, recipient, subject,"
            " body, data, status, attempts, created_at, next_attempt_at, last_error)"
            " VALUES (%s, 'escalation', 'email', 'x@example.com', '', '', '{}', 'pending', 0, %s, %s, '')",
            [f"loop:{stuck}:level:1", SWEEP_AT, SWEEP_AT],
        )
        holder_pid = holder.info.backend_pid
        worker = workers(batch_size=10)
        worker.go()

        def blocked_mid_batch() -> str | None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT query FROM pg_stat_activity WHERE pid = %s AND %s = ANY(pg_blocking_pids(pid))",
                    [worker.backend_pid, holder_pid],
                )
                row = cursor.fetchone()
            return row[0] if row else None

        _wait_until(
            lambda: blocked_mid_batch() or worker.proc.poll() is not None,
            what="the sweeper to block",
        )
        # blocked queueing its messages: its loops are updated and their events written
        query = blocked_mid_batch()
        assert query is not None and query.startswith(
            f'INSERT INTO "{OutboxMessage._meta.db_table}"'
        ), query

        # when it is killed there, and the other session gives its message up
        worker.kill()
        holder.rollback()
    assert worker.proc.returncode == -signal.SIGKILL

    def backend_gone() -> bool:  # its transaction is rolled back when its session ends
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [worker.backend_pid])
            return cursor.fetchone() is None

    _wait_until(backend_gone, what="the killed worker's database session to end")

    # then the batches it committed are whole, and the one it was writing left no trace:
    # each loop's level, rung events and messages agree
    levels = _levels()
    assert {levels[pk] for pk in pks[:1000]} == {3}
    assert levels[stuck] == 0
    assert set(levels.values()) == {0, 3}
    events, messages = _rung_events_per_loop(), _outbox_per_loop()
    assert {pk: events[pk] for pk in pks} == levels
    assert {pk: messages[pk] for pk in pks} == levels
    untouched = [pk for pk, level in levels.items() if level == 0]
    still_due = Loop.objects.filter(
        pk__in=untouched, next_check_at__lte=SWEEP_AT, assignee=scene.owner
    )
    assert still_due.count() == len(untouched)

    # and the next sweep does exactly what was left
    result = loops_sweep(now=SWEEP_AT, batch_size=500)
    assert (result.loops, result.rungs) == (len(untouched), 3 * len(untouched))
    _assert_fully_escalated_once(pks)


@pytest.mark.django_db
def test_sweeping_twice_changes_nothing_more(scene):
    # given loops at different points of the ladder: some with every rung due, some with only the first
    _open_due_loops(scene, 30)
    _open_due_loops(scene, 20, opened=SWEEP_AT - timedelta(minutes=50))  # 75 % due, 100 % not yet
    first = loops_sweep(now=SWEEP_AT, batch_size=7)
    assert first.actions == {"notify_owner": 50, "breach": 30, "reassign_to_lead": 30}

    def state() -> tuple[Any, ...]:
        return (
            sorted(
                Loop.objects.values_list(
                    "pk", "escalation_level", "next_check_at", "breached_at", "assignee_id"
                )
            ),
            sorted(LoopEvent.objects.values_list("pk", "loop_id", "kind")),
            sorted(OutboxMessage.objects.values_list("key", "recipient")),
        )

    before = state()

    # when the sweep runs again at the same instant
    again = loops_sweep(now=SWEEP_AT, batch_size=7)

    # then it finds nothing to do and nothing changed
    assert (again.loops, again.rungs, again.notifications) == (0, 0, 0)
    assert state() == before
