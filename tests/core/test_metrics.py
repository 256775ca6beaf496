"""/metrics: Prometheus's text format behind a token; requests by URL pattern; gauges that
are a count of the database at scrape time; the queue's depth and age; several processes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from huey import RedisHuey, SqliteHuey
from prometheus_client.parser import text_string_to_metric_families

from lastmile.channels import segment
from lastmile.channels.models import OutboxMessage
from lastmile.core.metrics.queue import StampedSerializer, oldest_age_seconds, stamp_of
from lastmile.core.metrics.views import scrape_registry
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_open
from lastmile.webhooks.models import Delivery, Subscription
from tests.core.test_queue import needs_redis
from tests.customers.factories import CustomerFactory

TOKEN = "metrics-token-for-tests"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def token(settings):
    settings.LASTMILE_METRICS_TOKEN = TOKEN
    return TOKEN


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by (name, sorted labels); parsing fails on bad text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client) -> dict:
    response = client.get("/metrics", **AUTH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# --- the token -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_token_configured_the_endpoint_is_off_and_says_why(client, settings):
    settings.LASTMILE_METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404
    assert "LASTMILE_METRICS_TOKEN" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [None, f"Basic {TOKEN}", "Bearer wrong-token", f"Bearer {TOKEN}x", "Bearer "],
    ids=["none", "basic", "wrong", "longer", "empty"],
)
def test_a_missing_or_wrong_token_is_refused_with_401_and_no_metrics(client, token, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"lastmile_" not in response.content


@pytest.mark.django_db
def test_the_token_gets_every_family_in_prometheus_text_format(client, token):
    families = {
        f.name
        for f in text_string_to_metric_families(client.get("/metrics", **AUTH).content.decode())
    }
    assert {
        "lastmile_http_requests",
        "lastmile_http_request_duration_seconds",
        "lastmile_interactions_recorded",
        "lastmile_loops_open",
        "lastmile_loops_breached",
        "lastmile_loops_due",
        "lastmile_loops_due_oldest_seconds",
        "lastmile_outbox_messages",
        "lastmile_outbox_due_oldest_seconds",
        "lastmile_webhook_deliveries",
        "lastmile_queue_tasks",
        "lastmile_queue_oldest_task_seconds",
        "lastmile_metrics_part_up",
    } <= families


# --- gauges: a recount of the database ------------------------------------------------------


def _loop(customer, team, now, **columns):  # type: ignore[no-untyped-def]
    loop = loop_open(customer=customer, team=team, kind="task", title="t", now=now)
    Loop.objects.filter(pk=loop.pk).update(**columns)
    return loop


def _outbox(now, status, next_attempt_at):  # type: ignore[no-untyped-def]
    return OutboxMessage.objects.create(
        key=f"test:{uuid.uuid4()}",
        recipient="lead@example.com",
        status=status,
        created_at=now,
        next_attempt_at=next_attempt_at,
    )


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.django_db
def test_loop_outbox_and_webhook_gauges_equal_a_recount_of_the_database(
    client, token, team, other_team, now
):
    # given loops in every state the gauges tell apart, in two teams and in none
    customer = CustomerFactory()
    hour = timedelta(hours=1)
    _loop(customer, team, now, due_at=now - hour, at_risk_at=now - 2 * hour)  # overdue
    _loop(customer, team, now, due_at=now + hour, at_risk_at=now, next_check_at=now - hour)
    _loop(customer, team, now, due_at=now + hour, breached_at=now - hour)  # marked breached
    _loop(customer, team, now, due_at=None, breached_at=now - hour)  # breached, no deadline
    _loop(customer, team, now, due_at=None, breached_at=now - hour, paused_at=now)  # paused
    _loop(customer, team, now, state="closed", closed_at=now, due_at=now - hour)
    _loop(customer, other_team, now, due_at=now - 2 * hour, next_check_at=now - 2 * hour)
    _loop(customer, None, now, due_at=now - hour)
    # and outbox messages and webhook deliveries pending, due, failed and done
    _outbox(now, "pending", now - 3 * hour)
    _outbox(now, "pending", now + hour)  # held by a contact rule
    _outbox(now, "failed", now - hour)
    _outbox(now, "sent", now - hour)
    hook = Subscription.objects.create(name="crm", url="https://crm.example/h", created_at=now)
    for status, at in [("pending", now - 5 * hour), ("failed", None), ("failed", None)]:
        Delivery.objects.create(
            subscription=hook,
            event="loop.breached",
            event_id=uuid.uuid4(),
            payload={},
            status=status,
            created_at=now,
            next_attempt_at=at,
        )

    # when the endpoint is scraped
    found = scrape(client)

    # then each gauge is what counting the rows one by one gives
    loops = list(Loop.objects.select_related("team"))
    opened = [lp for lp in loops if lp.state == "open"]

    def breached(lp: Loop) -> bool:
        if lp.due_at is not None:
            return lp.due_at <= now or lp.breached_at is not None
        return lp.breached_at is not None and lp.paused_at is None

    for slug in ("front", "back", "(none)"):
        mine = [lp for lp in opened if (lp.team.slug if lp.team else "(none)") == slug]
        assert value(found, "lastmile_loops_open", team=slug) == len(mine)
        assert value(found, "lastmile_loops_breached", team=slug) == sum(map(breached, mine))
    assert value(found, "lastmile_loops_open", team="front") == 5
    assert value(found, "lastmile_loops_breached", team="front") == 3
    due = [lp for lp in opened if lp.next_check_at is not None and lp.next_check_at <= now]
    assert value(found, "lastmile_loops_due") == len(due) == 2
    assert value(found, "lastmile_loops_due_oldest_seconds") == 2 * 3600

    outbox = list(OutboxMessage.objects.all())
    for status in ("pending", "failed"):
        expected = sum(m.status == status for m in outbox)
        assert value(found, "lastmile_outbox_messages", status=status) == expected
    assert value(found, "lastmile_outbox_due") == 1
    assert value(found, "lastmile_outbox_due_oldest_seconds") == 3 * 3600

    deliveries = list(Delivery.objects.all())
    for status in ("pending", "failed"):
        expected = sum(d.status == status for d in deliveries)
        assert value(found, "lastmile_webhook_deliveries", status=status) == expected
    assert value(found, "lastmile_webhook_due_oldest_seconds") == 5 * 3600
    assert all(value(found, "lastmile_metrics_part_up", part=p) == 1 for p in ("loops", "outbox"))


@pytest.mark.django_db
def test_the_queue_gauges_are_the_queues_depth_and_its_oldest_tasks_wait(
    client, token, tmp_path, monkeypatch
):
    import huey.contrib.djhuey as djhuey

    # given a queue holding two tasks, the first queued 90 s before the scrape's clock
    clock = iter([1_000_000.0, 1_000_060.0])
    queue = SqliteHuey(
        "metrics-test",
        filename=str(tmp_path / "q.sqlite3"),
        serializer=StampedSerializer(clock=lambda: next(clock)),
    )

    @queue.task()
    def nothing() -> None:
        pass

    nothing()
    nothing()
    monkeypatch.setattr(djhuey, "HUEY", queue)
    # then its depth is 2 and the oldest task's age is counted from its stamp
    assert value(scrape(client), "lastmile_queue_tasks") == 2
    assert oldest_age_seconds(queue.storage, now=1_000_090.0) == 90.0
    # and a worker still reads the stamped message (a task comes off the queue whole)
    task = queue.dequeue()
    assert task is not None and task.name == "nothing"
    assert oldest_age_seconds(queue.storage, now=1_000_090.0) == 30.0


@needs_redis
def test_on_redis_the_oldest_task_is_the_one_the_workers_take_next():
    # given two tasks queued on Redis 60 s apart (a queue of this test's own)
    clock = iter([2_000_000.0, 2_000_060.0])
    queue = RedisHuey(
        f"metrics-test-{uuid.uuid4().hex}",
        url="redis://127.0.0.1:6379/15",
        serializer=StampedSerializer(clock=lambda: next(clock)),
    )

    @queue.task()
    def nothing() -> None:
        pass

    try:
        nothing()
        nothing()
        # then the age is the first one's; once a worker took it, the second one's
        assert oldest_age_seconds(queue.storage, now=2_000_100.0) == 100.0
        assert queue.dequeue() is not None
        assert oldest_age_seconds(queue.storage, now=2_000_100.0) == 40.0
        assert queue.dequeue() is not None
        assert oldest_age_seconds(queue.storage, now=2_000_100.0) == 0.0
    finally:
        queue.flush()


def test_a_stamped_message_reads_as_before_and_an_unstamped_one_has_no_stamp():
    import pickle

    serializer = StampedSerializer(clock=lambda: 1234.5)
    data = serializer.serialize({"a": 1})
    assert stamp_of(data) == 1234.5
    assert pickle.loads(data) == {"a": 1}  # a reader without the stamp (an earlier worker)
    plain = pickle.dumps({"a": 1})
    assert stamp_of(plain) is None and serializer.deserialize(plain) == {"a": 1}


# --- requests by URL pattern ---------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_counted_by_url_pattern_never_by_the_path_asked_for(client, token):
    before = scrape(client)
    client.get("/cases/LM-123/")
    client.get("/cases/LM-456/")
    client.get("/no/such/page-789")
    after = scrape(client)
    route = "cases/<str:ref>/"
    delta = value(after, "lastmile_http_requests_total", route=route, method="GET", status="3xx")
    assert (
        delta
        - value(before, "lastmile_http_requests_total", route=route, method="GET", status="3xx")
        == 2
    )
    assert (
        value(after, "lastmile_http_request_duration_seconds_count", route=route, method="GET")
        - value(before, "lastmile_http_request_duration_seconds_count", route=route, method="GET")
        == 2
    )
    assert (
        value(after, "lastmile_http_requests_total", route="unmatched", method="GET", status="4xx")
        - value(
            before, "lastmile_http_requests_total", route="unmatched", method="GET", status="4xx"
        )
        == 1
    )
    label_values = {v for (_name, labels) in after for _k, v in labels}
    assert not {v for v in label_values if "LM-" in v or "page-789" in v}


@pytest.mark.django_db
def test_an_unusual_method_is_counted_as_other(client, token):
    client.generic("BREW", "/healthz")
    found = scrape(client)
    assert not any(dict(labels).get("method") == "BREW" for _n, labels in found)
    assert value(
        found, "lastmile_http_requests_total", route="healthz", method="other", status="4xx"
    )


# --- against a served instance --------------------------------------------------------------


def test_a_served_instance_counts_ingested_events_and_serves_metrics_over_http(
    live_server, transactional_db, token
):
    # given a Segment source and the served metrics before
    _, key = segment.source_create(name="shop", now=datetime.now(UTC))
    url = f"{live_server.url}/metrics"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def served() -> dict:
        response = requests.get(url, headers=headers, timeout=30)
        assert response.status_code == 200
        return samples(response.text)

    before = served()
    # when a batch of three events is ingested over HTTP
    batch = {
        "batch": [
            {"type": "track", "event": "Order Completed", "userId": "u-1", "messageId": f"m-{i}"}
            for i in range(3)
        ]
    }
    response = requests.post(
        f"{live_server.url}/v1/batch",
        data=json.dumps(batch),
        auth=(key, ""),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    after = served()

    # then the three interactions are counted, and the request under its route
    recorded = {
        labels: v - before.get((name, labels), 0.0)
        for (name, labels), v in after.items()
        if name == "lastmile_interactions_recorded_total"
    }
    assert sum(recorded.values()) == Interaction.objects.count() == 3
    batch_requests = [
        (dict(labels), v - before.get((name, labels), 0.0))
        for (name, labels), v in after.items()
        if name == "lastmile_http_requests_total"
        and dict(labels)["route"] == "v1/batch"
        # earlier tests in this process left other series of the route (their delta is 0)
        and v != before.get((name, labels), 0.0)
    ]
    assert batch_requests == [({"route": "v1/batch", "method": "POST", "status": "2xx"}, 1.0)]
    assert requests.get(url, headers={"Authorization": "Bearer no"}, timeout=30).status_code == 401


# --- several processes -----------------------------------------------------------------------

TWO_PROCESSES = """
import os, sys
from lastmile.core.metrics.http import REQUESTS
pid = os.fork()
REQUESTS.labels("healthz", "GET", "2xx").inc()
if pid:
    os.waitpid(pid, 0)
else:
    os._exit(0)
"""


@pytest.mark.django_db
def test_with_a_multiprocess_directory_the_scrape_adds_up_every_processs_counts(
    tmp_path, monkeypatch, cli_env
):
    # given two processes (a parent and its fork) that each counted one request
    env = {**cli_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", TWO_PROCESSES], env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    # when this process scrapes with the same directory set
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from prometheus_client import generate_latest

    found = samples(generate_latest(scrape_registry()).decode())
    # then the two counts are added up, and the database's gauges are still there
    assert (
        value(found, "lastmile_http_requests_total", route="healthz", method="GET", status="2xx")
        == 2
    )
    assert ("lastmile_loops_due", ()) in found
