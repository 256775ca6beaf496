"""Two web processes and two workers on Redis against one PostgreSQL, killed with SIGKILL at
random moments (a seeded RNG), and what must still hold afterwards:

- every loop is escalated once and breached once (its LoopEvents), whoever swept it;
- every outbox message is sent: each arrives at the SMTP sink, and twice only if a worker
  died holding its claim (SMTP has no exactly-once: the resend carries the same Message-ID,
  made from the outbox key, so the far end can drop it);
- every webhook delivery arrives at least once and is recorded once: one Delivery row per
  event and subscription, one successful attempt each;
- every loop a web process answered 201 for exists;
- every breach of a loop in an agent's hands opens one coaching lesson (the worker's
  ``breach_lessons_task``, queued when the sweep commits, or the periodic catch-up where a
  worker died holding that task).

The processes are the product's own (``lastmile serve``, ``lastmile worker``) as subprocesses
on the test database's committed rows (``transaction=True``). Loops come due during the run:
some opened before it, some opened through the API of both web processes while they are being
killed. A kicker process enqueues the sweep and the deliveries every second, as each worker's
scheduler does every minute. After the chaos, one late run of each delivery "a lease later"
(the clock is an argument) takes over the claims the killed workers left, as the periodic run
would a quarter of an hour on, and the breach lessons' catch-up its grace later.
"""

from __future__ import annotations

import email
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.db import transaction

from lastmile.api.services import token_create
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import LEASE, outbox_deliver, outbox_enqueue, outbox_message
from lastmile.coaching.models import Lesson
from lastmile.coaching.services import CATCH_UP_GRACE, breach_lessons_catch_up
from lastmile.core.clock import utcnow
from lastmile.loops.models import Loop, LoopEvent, LoopEventKind
from lastmile.loops.services import loop_open
from lastmile.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus
from lastmile.webhooks.services.subscriptions import deliveries_send, subscription_create
from lastmile.webhooks.signing import DELIVERY_HEADER
from tests.core.test_queue import needs_redis
from tests.customers.factories import CustomerFactory
from tests.net import free_port
from tests.people.factories import AgentFactory, TeamFactory, team_lead
from tests.project.fleet import Fleet, wait_for

pytestmark = [pytest.mark.postgres_only, needs_redis, pytest.mark.django_db(transaction=True)]

SEED = 19
CHAOS_SECONDS = 30.0
LOOPS_BEFORE = 40  # opened by the test, due during the chaos
DIRECT_MESSAGES = 40  # outbox messages queued by the test before the processes start
EVENTS = ["loop.escalated", "loop.breached"]


def _api_driver(
    ports: list[int],
    token: str,
    customer_id: int,
    stop: threading.Event,
    rng: random.Random,
    seen: dict,
) -> None:
    """Open loops and read lists on both web processes, alternately, until ``stop``; what
    was answered goes in ``seen``, by outcome (and ``answered`` by port). The loops are due 6
    to 10 s on: a request may wait seconds while its web process boots."""
    seen.update(
        created=[],
        reads=0,
        late=0,
        refused=0,
        errors=Counter(),
        refusals=Counter(),
        answered=Counter(),
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    i = 0
    while not stop.is_set():
        port = ports[i % len(ports)]
        i += 1
        base = f"http://127.0.0.1:{port}/api/v1/loops"
        try:
            if i % 3:
                due = utcnow() + timedelta(seconds=rng.uniform(6, 10))
                r = session.post(
                    base,
                    json={
                        "kind": "task",
                        "title": f"Call back (api {i})",
                        "customer": {"id": customer_id},
                        "team": "front",
                        "assignee": "alice",
                        "due_at": due.isoformat(),
                    },
                    timeout=10,
                )
                if r.status_code == 201:
                    seen["created"].append(r.json()["id"])
                    seen["answered"][port] += 1
                elif r.status_code == 422 and "due_at is in the past" in r.text:
                    # the request waited in the backlog of a booting process past its due
                    # time: a right answer, not a failure
                    seen["late"] += 1
                else:
                    seen["errors"][f"POST {r.status_code}: {r.text[:200]}"] += 1
            else:
                r = session.get(base, params={"team": "front"}, timeout=10)
                if r.status_code == 200:
                    seen["reads"] += 1
                    seen["answered"][port] += 1
                else:
                    seen["errors"][f"GET {r.status_code}: {r.text[:200]}"] += 1
        except requests.RequestException as exc:
            seen["refused"] += 1  # that web process is down: not an accepted request
            seen["refusals"][type(exc).__name__] += 1
            stop.wait(0.05)
        stop.wait(0.02)


def _sink_by_message_id(envelopes: list) -> tuple[Counter, dict[str, str]]:
    """How many times each Message-ID arrived, and the outbox key each carried."""
    counts: Counter = Counter()
    keys: dict[str, str] = {}
    for envelope in list(envelopes):
        message = email.message_from_bytes(envelope.content)
        counts[message["Message-ID"]] += 1
        keys[message["Message-ID"]] = message["X-Lastmile-Key"]
    return counts, keys


def test_killed_web_and_worker_processes_lose_and_double_nothing(
    cli_env, smtp_sink, receiver, webhooks_to_loopback, tmp_path: Path
):
    rng = random.Random(SEED)
    now = utcnow()
    # given: a team whose notices go by email, two subscriptions to the loops' rungs, an
    # API token, loops coming due during the run and outbox messages already queued
    team = TeamFactory(name="Front office", slug="front", email="front@example.com")
    team_lead(team, "lead")
    alice = AgentFactory(user__username="alice", user__email="alice@example.com", teams=[team])
    customer = CustomerFactory()
    subscriptions = [
        subscription_create(name=f"hook {n}", url=receiver.url, events=EVENTS, now=now)[0]
        for n in (1, 2)
    ]
    _, token = token_create(name="multiprocess", now=now)
    for n in range(LOOPS_BEFORE):
        loop_open(
            customer=customer,
            kind="task",
            title=f"Call back #{n}",
            team=team,
            assignee=alice.user,
            due_at=now + timedelta(seconds=rng.uniform(8, CHAOS_SECONDS)),
            now=now,
        )
    with transaction.atomic():
        outbox_enqueue(
            [
                outbox_message(
                    key=f"direct:{n}", recipient=f"c{n}@example.com", subject=f"#{n}", now=now
                )
                for n in range(DIRECT_MESSAGES)
            ]
        )

    env = {
        **cli_env,
        "LASTMILE_VAR_DIR": str(tmp_path / "var"),
        "LASTMILE_QUEUE_URL": f"redis://127.0.0.1:6379/{rng.randrange(1, 16)}",
        "LASTMILE_QUEUE_NAME": f"lastmile-multiprocess-{uuid.uuid4().hex}",
        "LASTMILE_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "LASTMILE_EMAIL_HOST": "127.0.0.1",
        "LASTMILE_EMAIL_PORT": str(smtp_sink_port(smtp_sink)),
        "LASTMILE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    (tmp_path / "var").mkdir()
    fleet = Fleet(env=env, log_dir=tmp_path)
    webs = [fleet.add_web(f"web{n}", free_port(), threads=2) for n in (1, 2)]
    workers = [fleet.add_worker(f"worker{n}") for n in (1, 2)]
    fleet.add_kicker(interval=1.0)
    stop = threading.Event()
    driven: dict = {}
    driver = None
    try:
        fleet.start_all()
        fleet.wait_ready(webs)
        fleet.note("web processes listening")

        # when: API traffic on both web processes while a random worker or web process is
        # SIGKILLed every 2 to 5 s (a worker and a web process by turns) and started again
        ports = [w.port for w in webs]
        driver = threading.Thread(
            target=_api_driver,
            args=(ports, token, customer.pk, stop, random.Random(SEED + 1), driven),
            daemon=True,
        )
        driver.start()
        # the kills start once both web processes have answered
        answered = wait_for(
            lambda: all(driven.get("answered", {}).get(p) for p in ports), timeout=30
        )
        assert answered, f"the web processes never answered: {driven}\n{fleet.report()}"
        fleet.note("both web processes answered")
        chaos_end = time.monotonic() + CHAOS_SECONDS
        turn = 0
        while time.monotonic() < chaos_end:
            time.sleep(rng.uniform(2, 5))
            turn += 1  # a worker, then a web process, then a worker…: both kinds die often
            victim = rng.choice(workers if turn % 2 else webs)
            fleet.kill(victim)
            time.sleep(rng.uniform(0, 1))
            fleet.start(victim)
        stop.set()
        driver.join(timeout=30)
        fleet.note("chaos over")
        fleet.wait_ready(webs)

        # then (after the queues drain): every loop has taken both rungs
        def all_rungs_taken() -> bool:
            return not Loop.objects.filter(kind="task", escalation_level__lt=2).exists()

        wait_for(all_rungs_taken, timeout=40, step=0.5)
        fleet.note("every loop has taken both rungs")

        def settled() -> bool:
            return (
                not OutboxMessage.objects.filter(status="pending", claimed_at__isnull=True).exists()
                and not Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0).exists()
            )

        wait_for(settled, timeout=30, step=0.5)
        fleet.note("settled")
    finally:
        stop.set()
        fleet.close()
        _queue_drop(env["LASTMILE_QUEUE_URL"], env["LASTMILE_QUEUE_NAME"])
    orphaned = {
        "outbox": list(
            OutboxMessage.objects.filter(status="pending", claimed_at__isnull=False).values_list(
                "key", flat=True
            )
        ),
        "deliveries": list(
            Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0).values_list(
                "pk", flat=True
            )
        ),
    }
    # The claims the killed workers held, taken over a lease (a backoff) later.
    later = utcnow()
    outbox_deliver(now=later + LEASE + timedelta(minutes=1))
    deliveries_send(now=later + timedelta(minutes=5))
    # The breach lessons a killed worker's task never opened, as the periodic catch-up opens
    # them once the task's grace has passed.
    caught_up = breach_lessons_catch_up(now=later + CATCH_UP_GRACE)

    problems: list[str] = []
    loops = list(Loop.objects.filter(kind="task").values_list("pk", flat=True))
    rungs: dict[int, Counter] = defaultdict(Counter)
    for loop_id, kind in LoopEvent.objects.filter(
        kind__in=[LoopEventKind.ESCALATED, LoopEventKind.BREACHED]
    ).values_list("loop_id", "kind"):
        rungs[loop_id][kind] += 1
    for loop_id in loops:
        got = rungs[loop_id]
        if got[LoopEventKind.ESCALATED] != 1 or got[LoopEventKind.BREACHED] != 1:
            problems.append(f"loop {loop_id}: rung events {dict(got)} (want one of each)")
    missing = set(driven.get("created", [])) - set(loops)
    if missing:
        problems.append(f"loops answered 201 but not in the database: {sorted(missing)}")

    messages = list(OutboxMessage.objects.values("key", "status", "attempts", "last_error"))
    want_keys = {f"direct:{n}" for n in range(DIRECT_MESSAGES)}
    want_keys |= {f"loop:{pk}:level:{level}" for pk in loops for level in (1, 2)}
    by_key = {m["key"]: m for m in messages}
    if want_keys - set(by_key):
        problems.append(f"outbox keys missing: {sorted(want_keys - set(by_key))[:20]}")
    arrived, key_of = _sink_by_message_id(smtp_sink.envelopes)
    arrived_by_key = Counter({key_of[mid]: n for mid, n in arrived.items()})
    resent = []
    for key, m in sorted(by_key.items()):
        n = arrived_by_key.get(key, 0)
        if m["status"] != "sent":
            problems.append(f"outbox {key}: {m['status']} ({m['last_error']})")
        if n == 0:
            problems.append(f"outbox {key}: never arrived at the SMTP sink")
        elif n > 1 and m["attempts"] < 2:
            problems.append(f"outbox {key}: arrived {n} times from one claim (sent twice)")
        elif n > 1:
            resent.append(key)

    deliveries = list(
        Delivery.objects.values("pk", "uuid", "subscription_id", "event", "payload", "status")
    )
    per_event = Counter(
        (d["subscription_id"], d["event"], d["payload"]["data"]["loop"]) for d in deliveries
    )
    for sub in subscriptions:
        for loop_id in loops:
            for event in EVENTS:
                n = per_event.get((sub.pk, event, loop_id), 0)
                if n != 1:
                    problems.append(f"{event} of loop {loop_id} to {sub.name}: {n} Delivery rows")
    received = Counter(r.headers.get(DELIVERY_HEADER.lower()) for r in receiver.requests)
    successes = Counter(
        DeliveryAttempt.objects.filter(response_code__gte=200, response_code__lt=300).values_list(
            "delivery_id", flat=True
        )
    )
    for d in deliveries:
        if d["status"] != DeliveryStatus.DELIVERED:
            problems.append(f"delivery {d['pk']}: {d['status']}")
        if received[str(d["uuid"])] < 1:
            problems.append(f"delivery {d['pk']}: never received")
        if successes[d["pk"]] != 1:
            problems.append(
                f"delivery {d['pk']}: {successes[d['pk']]} successful attempts recorded"
            )

    lessons = Counter(
        Lesson.objects.filter(breached_loop__isnull=False).values_list(
            "breached_loop_id", flat=True
        )
    )
    # One lesson per breach: the worker's task's, or the catch-up's where a worker died
    # holding the task; never two, though both may have run for it.
    for loop_id in loops:
        if lessons[loop_id] != 1:
            problems.append(f"loop {loop_id}: {lessons[loop_id]} breach lessons (want 1)")

    kills = {m.name: m.kills for m in fleet.members.values()}
    summary = (
        f"loops {len(loops)} ({len(driven.get('created', []))} through the API), "
        f"outbox {len(messages)} (resent after a lost claim: {len(resent)}), "
        f"deliveries {len(deliveries)} (received {sum(received.values())}), "
        f"orphaned claims taken over late {orphaned}, breach lessons caught up late "
        f"{caught_up}, API reads {driven.get('reads')}, "
        f"refused as due in the past after waiting {driven.get('late')}, "
        f"refused while down {driven.get('refused')} {dict(driven.get('refusals', {}))}, API errors {dict(driven.get('errors', {}))}, "
        f"kills {kills}"
    )
    print(summary, *fleet.events, sep="\n")
    if problems:  # a few of each kind of problem, then what the processes said
        kinds: dict[str, list[str]] = defaultdict(list)
        for p in problems:
            kinds[p.split(":")[0].split(" ")[0]].append(p)
        shown = [f"{len(problems)} problems"]
        for some in kinds.values():
            shown += some[:8] + ([f"... and {len(some) - 8} more"] if len(some) > 8 else [])
        pytest.fail("\n".join([summary, *shown, fleet.report()]), pytrace=False)
    assert not driven.get("errors"), summary  # an accepted connection never got a 5xx
    assert sum(kills.values()) >= 5 and driven.get("created"), summary


def _queue_drop(url: str, name: str) -> None:
    """Remove this run's huey keys (queue, schedule, results) from the shared Redis."""
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)


def smtp_sink_port(sink) -> int:  # the fixture set Django's EMAIL_PORT to the sink's port
    from django.conf import settings

    return settings.EMAIL_PORT
