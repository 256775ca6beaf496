"""Onfleet's task webhooks, sent over real HTTP to the live server and signed as Onfleet
signs them (hex HMAC-SHA512 of the raw body under the hex secret)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests

from lastmile.jobs.models import Job, JobEvent, Proof
from lastmile.jobs.onfleet import fail_reason
from lastmile.loops.models import Loop
from tests.jobs.conftest import book

live = pytest.mark.django_db(transaction=True)

SECRET = "5e" * 32  # hex, as Onfleet shows it


@pytest.fixture
def onfleet(settings, live_server):
    settings.ONFLEET_SECRET = SECRET
    return f"{live_server.url}/hooks/onfleet"


def task_event(trigger: str, job_id: int | None, **details) -> dict:
    metadata = (
        [] if job_id is None else [{"name": "lastmile_job", "type": "string", "value": str(job_id)}]
    )
    return {
        "time": 1795500000000,
        "triggerId": {"taskStarted": 0, "taskCompleted": 3, "taskFailed": 4}.get(trigger, 9),
        "triggerName": trigger,
        "taskId": "11z1BFspwhBYDvIH_FrJfWMm",
        "data": {
            "task": {
                "id": "11z1BFspwhBYDvIH_FrJfWMm",
                "shortId": "8f983639",
                "metadata": metadata,
                "completionDetails": details,
            }
        },
    }


def send(url: str, event: dict, *, secret: str = SECRET, signature: str | None = None):
    raw = json.dumps(event).encode()
    sig = (
        signature
        if signature is not None
        else hmac.new(bytes.fromhex(secret), raw, hashlib.sha512).hexdigest()
    )
    headers = {"Content-Type": "application/json"}
    if sig:
        headers["X-Onfleet-Signature"] = sig
    return requests.post(url, data=raw, headers=headers, timeout=30)


@pytest.fixture
def delivery(team, customer, case, morning, now):
    return book(team, customer, morning, now=now, case=case, proofs=("signature",))


@live
def test_the_handshake_echoes_the_check_value(onfleet):
    r = requests.get(onfleet, params={"check": "f1a5e2"}, timeout=30)
    assert r.status_code == 200 and r.text == "f1a5e2"


@live
def test_without_a_secret_the_endpoint_is_not_there(settings, live_server):
    settings.ONFLEET_SECRET = ""
    r = requests.post(f"{live_server.url}/hooks/onfleet", data=b"{}", timeout=30)
    assert r.status_code == 404 and "LASTMILE_ONFLEET_SECRET" in r.text


@live
def test_an_unsigned_or_missigned_event_is_refused_and_changes_nothing(onfleet, delivery):
    event = task_event("taskStarted", delivery.pk)
    missing = send(onfleet, event, signature="")
    wrong = send(onfleet, event, secret="00" * 32)
    assert (missing.status_code, missing.json()["code"]) == (401, "signature_missing")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "signature_invalid")
    assert Job.objects.get(pk=delivery.pk).state == "scheduled"


@live
def test_started_then_completed_with_onfleets_signature_bills_once_and_a_retry_is_already(
    onfleet, delivery
):
    assert send(onfleet, task_event("taskStarted", delivery.pk)).json()["state"] == "started"
    done = task_event("taskCompleted", delivery.pk, success=True, signatureUploadId="sigUp1")

    first = send(onfleet, done)
    again = send(onfleet, done)  # Onfleet retries what it did not see answered

    assert first.status_code == 200 and first.json() == {
        "result": "applied",
        "job": delivery.pk,
        "state": "completed",
    }
    assert again.json()["result"] == "already"
    job = Job.objects.get(pk=delivery.pk)
    assert job.invoice["number"] and job.followup_loop_id
    assert list(Proof.objects.filter(job=job).values_list("kind", "data")) == [
        ("signature", "onfleet:sigUp1")
    ]
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds.count("completed") == 1 and kinds.count("started") == 1


@live
def test_a_completion_without_the_required_proof_writes_nothing(
    onfleet, team, customer, case, morning, now
):
    """A PIN job completed in Onfleet (which takes no PIN): 409 naming it, and the walk
    through start and arrival is not half written."""
    pin_job = book(team, customer, morning, now=now, case=case, proofs=("pin",))

    r = send(onfleet, task_event("taskCompleted", pin_job.pk, success=True))

    assert r.status_code == 409 and r.json()["code"] == "proof_missing"
    assert "pin" in r.text
    job = Job.objects.get(pk=pin_job.pk)
    assert job.state == "scheduled"
    assert not JobEvent.objects.filter(job=job, kind__in=["started", "arrived"]).exists()


@live
def test_a_failed_task_fails_the_job_with_the_mapped_reason_and_breaks_its_visit_loop(
    onfleet, delivery
):
    r = send(
        onfleet,
        task_event(
            "taskFailed",
            delivery.pk,
            success=False,
            failureReason="CLIENT_NOT_AVAILABLE",
            failureNotes="Nobody answered the bell",
        ),
    )

    assert r.status_code == 200 and r.json()["state"] == "failed"
    job = Job.objects.get(pk=delivery.pk)
    assert job.fail_reason == "not_at_home"
    assert Loop.objects.get(pk=job.visit_loop_id).state == "broken"


@live
def test_tasks_without_a_job_and_triggers_lastmile_ignores_are_acknowledged(onfleet, delivery):
    no_job = send(onfleet, task_event("taskStarted", None))
    other = send(onfleet, task_event("taskAssigned", delivery.pk))
    unknown = send(onfleet, task_event("taskStarted", 987654))

    assert no_job.status_code == 200 and no_job.json()["result"] == "ignored"
    assert other.status_code == 200 and other.json()["result"] == "ignored"
    assert unknown.status_code == 404
    assert Job.objects.get(pk=delivery.pk).state == "scheduled"


@pytest.mark.parametrize(
    ("onfleet_reason", "ours"),
    [
        ("CLIENT_NOT_AVAILABLE", "not_at_home"),
        ("INCORRECT_ADDRESS", "wrong_address"),
        ("CANNOT_FIND_ADDRESS", "wrong_address"),
        ("RECIPIENT_REFUSED", "refused"),
        ("DAMAGED_GOODS", "damaged"),
        ("CANNOT_ACCESS_BUILDING", "access_problem"),
        ("OTHER", "access_problem"),
    ],
)
def test_onfleets_failure_reasons_map_to_ours(onfleet_reason, ours):
    assert fail_reason(onfleet_reason) == ours
