"""An outside dispatch system's ETA (the API's ``/eta`` and Onfleet's ``taskEta``), the
re-attempt of a failed job through the API, the driver's notes, and the driver page's keys
kept per signed-in user."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.jobs import services
from lastmile.jobs.models import IdempotentAnswer, Job, JobEvent
from lastmile.loops.models import Loop, LoopKind
from tests.customers.factories import IdentityFactory
from tests.jobs.conftest import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def reachable(customer):
    IdentityFactory(customer=customer, kind="email", value="priya@example.com")
    return customer


def post(client, token, path, body, key=None):  # type: ignore[no-untyped-def]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(
        f"/api/v1{path}", json.dumps(body), content_type="application/json", **headers
    )


@pytest.fixture
def token(now):
    from lastmile.api.services import token_create

    return token_create(name="dispatch", now=now)[1]


def test_an_eta_past_the_window_tells_the_customer_once_and_opens_a_recovery_loop(
    client, token, team, reachable, case, morning, now
):
    job = book(team, reachable, morning, now=now, case=case)
    late = job.window_end + timedelta(minutes=40)

    first = post(client, token, f"/jobs/{job.pk}/eta", {"eta": late.isoformat()}, key="eta-1")
    again = post(client, token, f"/jobs/{job.pk}/eta", {"eta": late.isoformat()}, key="eta-1")

    assert first.status_code == 200, first.json()
    assert first.json()["eta"].startswith(late.strftime("%Y-%m-%dT%H:%M"))
    assert again.json() == first.json()
    delays = [m for m in OutboxMessage.objects.all() if m.key.endswith(":delay")]
    assert len(delays) == 1
    assert Loop.objects.filter(kind=LoopKind.RECOVERY, customer=reachable).count() == 1
    assert JobEvent.objects.filter(job=job, kind="eta").count() == 1


def test_a_bad_eta_is_a_422_naming_it(client, token, team, customer, morning, now):
    job = book(team, customer, morning, now=now)
    r = post(client, token, f"/jobs/{job.pk}/eta", {"eta": "soon"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "eta"
    assert Job.objects.get(pk=job.pk).eta is None


def test_a_failed_job_is_re_attempted_once_through_the_api(
    client, token, team, customer, morning, afternoon, now, frozen_clock
):
    job = book(team, customer, morning, now=now, notes="Side gate, dog is friendly")
    services.job_start(job=job, actor=None, now=now)
    services.job_fail(job=job, reason="not_at_home", actor=None, now=now)
    window = {"start": afternoon.starts_at.isoformat(), "end": afternoon.ends_at.isoformat()}

    r = post(client, token, f"/jobs/{job.pk}/reattempt", {"window": window}, key="re-1")
    replay = post(client, token, f"/jobs/{job.pk}/reattempt", {"window": window}, key="re-1")
    second = post(client, token, f"/jobs/{job.pk}/reattempt", {"window": window}, key="re-2")

    assert r.status_code == 201, r.json()
    again = Job.objects.get(pk=r.json()["id"])
    assert again.window_start == afternoon.starts_at and again.notes == "Side gate, dog is friendly"
    assert r.json()["notes"] == "Side gate, dog is friendly"
    assert (replay.status_code, replay.json()) == (201, r.json())
    assert second.status_code == 409
    assert Job.objects.filter(customer=customer).count() == 2


def test_onfleets_task_eta_sets_the_eta(client, settings, team, reachable, case, morning, now):
    import hashlib
    import hmac

    settings.ONFLEET_SECRET = "5e" * 32
    job = book(team, reachable, morning, now=now, case=case)
    sent_at = job.window_start - timedelta(minutes=30)
    event = {
        "time": int(sent_at.timestamp() * 1000),
        "triggerName": "taskEta",
        "etaSeconds": 1800,
        "taskId": "t1",
        "data": {"task": {"metadata": [{"name": "lastmile_job", "value": str(job.pk)}]}},
    }
    raw = json.dumps(event).encode()
    sig = hmac.new(bytes.fromhex("5e" * 32), raw, hashlib.sha512).hexdigest()

    r = client.post(
        "/hooks/onfleet", raw, content_type="application/json", HTTP_X_ONFLEET_SIGNATURE=sig
    )

    assert r.status_code == 200, r.content
    assert Job.objects.get(pk=job.pk).eta == job.window_start


def test_the_driver_pages_keys_belong_to_each_user(
    client, team, customer, morning, now, alice, bob
):
    """The same key from two drivers is two writes, each answered to its own driver; the
    page's keys need no API token."""
    first = book(team, customer, morning, now=now, assignee=alice)
    second = book(team, customer, morning, now=now, assignee=bob)
    answers = []
    for user, job in ((alice, first), (bob, second)):
        client.force_login(user)
        r = client.post(
            f"/jobs/driver/{job.pk}/start",
            "{}",
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="tap-1",
        )
        answers.append(r)
    assert [r.status_code for r in answers] == [200, 200]
    assert Job.objects.get(pk=first.pk).state == Job.objects.get(pk=second.pk).state == "started"
    rows = IdempotentAnswer.objects.filter(key="tap-1")
    assert sorted(a.user_id for a in rows) == sorted([alice.pk, bob.pk])
    assert all(a.token_id is None for a in rows)
