"""The jobs API: the issue's bodies and answers, 422s naming the field, 409s naming the
state or the missing proof, scoping to the token's teams, and Idempotency-Key replays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lastmile.invoices.models import Invoice
from lastmile.invoices.selectors import pdf_url
from lastmile.jobs import services
from lastmile.jobs.models import IdempotentAnswer, Job, JobEvent, Proof
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from tests.jobs.conftest import SIG, TUESDAY_12, TUESDAY_14, book, png

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def body(customer, case=None, **kw):  # type: ignore[no-untyped-def]
    out = {
        "kind": "delivery",
        "customer": {"id": customer.pk},
        "team": "front",
        "window": {"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T12:00:00Z"},
        "address": "1 High Street, Leeds",
        "lines": [
            {
                "sku": "WM-1",
                "description": "Washing machine",
                "quantity": 2,
                "unit_price": 1299,
                "currency": "GBP",
            }
        ],
        "proof": ["signature"],
    }
    if case is not None:
        out["case"] = case.ref
    out.update(kw)
    return out


def post(api, path, payload=None, key=None):  # type: ignore[no-untyped-def]
    headers = dict(api.headers)
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return api.client.post(
        f"/api/v1{path}",
        json.dumps(payload if payload is not None else {}),
        content_type="application/json",
        **headers,
    )


def error_fields(r):  # type: ignore[no-untyped-def]
    return [e["field"] for e in r.json()["errors"]]


# --- creating ------------------------------------------------------------------------------


def test_posting_the_issues_body_books_the_job(integration, customer, case, morning):
    r = integration.post("/jobs", body(customer, case, proof=["signature", "pin"]))
    assert r.status_code == 201, r.json()
    job = Job.objects.get()
    out = r.json()
    assert out["id"] == job.pk and out["state"] == "scheduled" and out["case"] == case.ref
    assert out["tracking_url"].endswith(f"/jobs/t/{job.tracking_token}/")
    assert out["pin"] == job.pin and len(job.pin) == 6
    assert out["window"] == {"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T12:00:00Z"}
    assert out["visit_due"].startswith("due Tue 24 Nov 12:00 UTC")
    assert out["invoice"] is None and out["followup_loop"] is None
    assert Loop.objects.get(pk=out["visit_loop"]).due_at == TUESDAY_12


def test_a_job_without_a_pin_answers_none(integration, customer, morning):
    r = integration.post("/jobs", body(customer))
    assert r.status_code == 201 and r.json()["pin"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"window": {"start": "2026-11-24T12:00:00Z", "end": "2026-11-24T10:00:00Z"}},
            "window.end",
        ),
        ({"window": {"start": "2026-11-23T08:00:00Z", "end": "2026-11-23T09:00:00Z"}}, "window"),
        ({"window": {"start": "2026-11-24T10:00:00Z"}}, "window.end"),
        (
            {"lines": [{"description": "x", "quantity": -2, "unit_price": 5, "currency": "GBP"}]},
            "lines[0].quantity",
        ),
        (
            {"lines": [{"description": "x", "quantity": 1, "unit_price": -5, "currency": "GBP"}]},
            "lines[0].unit_price",
        ),
        ({"proof": ["fingerprint"]}, "proof[0]"),
        ({"kind": "pickup"}, "kind"),
        ({"team": "nobody"}, "team"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(integration, customer, morning, change, field):
    r = integration.post("/jobs", body(customer, **change))
    assert r.status_code == 422, r.json()
    assert field in error_fields(r), r.json()
    assert not Job.objects.exists() and not Loop.objects.exists()


def test_a_slot_in_the_past_is_a_422(integration, team, customer, now):
    services.slot_create(
        team=team,
        starts_at=now.replace(hour=9),
        ends_at=now.replace(hour=11),
        capacity=3,
    )
    r = integration.post(
        "/jobs",
        body(customer, window={"start": "2026-11-23T09:00:00Z", "end": "2026-11-23T11:00:00Z"}),
    )
    assert r.status_code == 422 and error_fields(r) == ["window.start"]


def test_a_full_slot_is_a_422(integration, customer, afternoon):
    window = {"start": "2026-11-24T12:00:00Z", "end": "2026-11-24T14:00:00Z"}
    assert integration.post("/jobs", body(customer, window=window)).status_code == 201
    r = integration.post("/jobs", body(customer, window=window))
    assert r.status_code == 422 and error_fields(r) == ["window"]
    assert "full" in r.json()["detail"] and Job.objects.count() == 1


def test_an_agent_books_only_for_their_own_teams(as_charlie, customer, morning):
    r = as_charlie.post("/jobs", body(customer))
    assert r.status_code == 403 and not Job.objects.exists()


# --- reading -------------------------------------------------------------------------------


def test_slots_show_their_free_places(
    integration, as_charlie, team, customer, morning, afternoon, now
):
    book(team, customer, afternoon, now=now)
    r = integration.get("/jobs/slots", team="front", date="2026-11-24")
    assert r.status_code == 200
    assert [
        (s["start"], s["capacity"], s["booked"], s["free"], s["bookable"]) for s in r.json()
    ] == [
        ("2026-11-24T10:00:00Z", 2, 0, 2, True),
        ("2026-11-24T12:00:00Z", 1, 1, 0, False),
    ]
    assert integration.get("/jobs/slots", team="front", date="2026-11-25").json() == []
    assert as_charlie.get("/jobs/slots", team="front", date="2026-11-24").status_code == 404
    assert integration.get("/jobs/slots", team="front", date="24/11").status_code == 422


def test_the_list_filters_by_day_team_and_state_and_is_paged(
    integration, team, customer, morning, afternoon, now
):
    a = book(team, customer, morning, now=now)
    b = book(team, customer, afternoon, now=now)
    services.job_start(job=b, actor=None, now=now)
    r = integration.get("/jobs", date="2026-11-24", team="front")
    assert r.json()["count"] == 2 and [j["id"] for j in r.json()["items"]] == [a.pk, b.pk]
    assert [j["id"] for j in integration.get("/jobs", state="started").json()["items"]] == [b.pk]
    assert integration.get("/jobs", date="2026-11-25").json()["count"] == 0
    page = integration.get("/jobs", limit=1, offset=1).json()
    assert page["count"] == 2 and [j["id"] for j in page["items"]] == [b.pk]
    assert integration.get("/jobs", state="lost").status_code == 422
    for day in ("0", "2026-13-01", "24/11/2026"):
        r = integration.get("/jobs", date=day)
        assert r.status_code == 422 and error_fields(r) == ["date"], day


@pytest.mark.parametrize("n", [2, 5])
def test_a_page_of_jobs_costs_the_same_queries_however_many_jobs(
    integration, team, other_team, customer, morning, now, n, django_assert_num_queries
):
    # Given n jobs in two teams, with lines and proofs, and a visit policy with business hours
    hours = BusinessHours.objects.create(name="London", timezone="Europe/London", weekly={})
    SlaPolicy.objects.create(name="Visits", kind="visit", team=team, business_hours=hours)
    evening = services.slot_create(
        team=other_team, starts_at=TUESDAY_12, ends_at=TUESDAY_14, capacity=10
    )
    morning.capacity = 10
    morning.save()
    for i in range(n):
        job = book(team if i % 2 else other_team, customer, morning if i % 2 else evening, now=now)
        services.job_start(job=job, actor=None, now=now)
        services.proof_add(job=job, kind="photo", data=png(i), actor=None, now=now)
    # Then the page is read in a fixed number of queries: the token, the count, the page,
    # its lines and proofs, the policies (none per job)
    with django_assert_num_queries(7):
        r = integration.get("/jobs", date="2026-11-24")
    assert r.json()["count"] == n
    told = {j["team"]: j["visit_due"] for j in r.json()["items"]}
    assert told == {"front": told["front"], "back": told["back"]}
    assert "GMT" in told["front"] and "UTC" in told["back"]


def test_jobs_are_scoped_to_the_tokens_teams(as_alice, as_charlie, job):
    assert as_alice.get(f"/jobs/{job.pk}").status_code == 200
    assert as_charlie.get(f"/jobs/{job.pk}").status_code == 404
    assert as_charlie.get("/jobs").json()["count"] == 0
    r = post(as_charlie, f"/jobs/{job.pk}/start")
    assert r.status_code == 404 and Job.objects.get().state == "scheduled"


def test_a_drivers_token_never_sees_the_pin(
    as_alice, integration, team, customer, morning, alice, now
):
    job = book(team, customer, morning, now=now, proofs=["pin"])
    assert as_alice.get(f"/jobs/{job.pk}").json()["pin"] is None
    assert integration.get(f"/jobs/{job.pk}").json()["pin"] == job.pin


# --- the day of the job --------------------------------------------------------------------


def test_the_day_through_the_api_ends_with_the_invoice_and_the_followup(as_alice, job):
    for step in ("start", "arrive"):
        assert post(as_alice, f"/jobs/{job.pk}/{step}").status_code == 200
    r = post(as_alice, f"/jobs/{job.pk}/complete")
    assert r.status_code == 409 and r.json()["code"] == "proof_missing"
    assert r.json()["errors"] == [{"index": None, "field": "proof", "reason": "signature missing"}]
    r = post(
        as_alice,
        f"/jobs/{job.pk}/proofs",
        {"kind": "signature", "data": SIG},
    )
    assert r.status_code == 201 and r.json()["kind"] == "signature"
    r = post(as_alice, f"/jobs/{job.pk}/complete")
    assert r.status_code == 200 and r.json()["state"] == "completed"
    out = as_alice.get(f"/jobs/{job.pk}").json()
    invoice = Invoice.objects.get()
    assert out["invoice"] == {
        "number": invoice.number,
        "total": invoice.total,
        "currency": "GBP",
        "pdf_url": pdf_url(invoice),
    }
    assert Loop.objects.get(pk=out["followup_loop"]).kind == "followup"
    assert [p["kind"] for p in out["proofs"]] == ["signature"]


def test_an_invalid_transition_is_a_409_naming_the_states(as_alice, job):
    r = post(as_alice, f"/jobs/{job.pk}/complete")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert "is scheduled" in r.json()["detail"] and "arrived" in r.json()["detail"]


def test_a_wrong_pin_is_refused_through_the_api(as_alice, team, customer, morning, now):
    job = book(team, customer, morning, now=now, proofs=["pin"])
    post(as_alice, f"/jobs/{job.pk}/start")
    wrong = "000000" if job.pin != "000000" else "111111"
    r = post(as_alice, f"/jobs/{job.pk}/proofs", {"kind": "pin", "data": wrong})
    assert r.status_code == 422 and error_fields(r) == ["data"] and not Proof.objects.exists()


def test_fail_takes_a_structured_reason(as_alice, job):
    post(as_alice, f"/jobs/{job.pk}/start")
    r = post(as_alice, f"/jobs/{job.pk}/fail", {"reason": "aliens"})
    assert r.status_code == 422 and error_fields(r) == ["reason"]
    r = post(as_alice, f"/jobs/{job.pk}/fail", {"reason": "access_problem", "note": "gate locked"})
    assert r.status_code == 200 and r.json()["fail_reason"] == "access_problem"


def test_a_customer_moves_the_job_to_another_slot(integration, job, afternoon):
    window = {"start": "2026-11-24T12:00:00Z", "end": "2026-11-24T14:00:00Z"}
    r = post(integration, f"/jobs/{job.pk}/reschedule", {"window": window})
    assert r.status_code == 200 and r.json()["window"] == window
    assert Loop.objects.get(pk=r.json()["visit_loop"]).due_at == TUESDAY_14


# --- Idempotency-Key -----------------------------------------------------------------------


def test_a_replayed_proof_is_stored_once_and_answered_the_same(as_alice, job):
    post(as_alice, f"/jobs/{job.pk}/start")
    payload = {"kind": "photo", "data": png(1)}
    first = post(as_alice, f"/jobs/{job.pk}/proofs", payload, key="proof-1")
    again = post(as_alice, f"/jobs/{job.pk}/proofs", payload, key="proof-1")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert Proof.objects.count() == 1 and JobEvent.objects.filter(kind="proof").count() == 1
    assert IdempotentAnswer.objects.get(key="proof-1").job_id == job.pk


def test_a_replayed_transition_is_stored_once_and_answered_the_same(as_alice, job):
    first = post(as_alice, f"/jobs/{job.pk}/start", key="start-1")
    post(as_alice, f"/jobs/{job.pk}/arrive", key="arrive-1")
    again = post(as_alice, f"/jobs/{job.pk}/start", key="start-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.json()["state"] == "started"
    assert JobEvent.objects.filter(kind="started").count() == 1
    # Without the key the same step is a new request, refused by the state machine.
    assert post(as_alice, f"/jobs/{job.pk}/start").status_code == 409


def test_a_replayed_creation_books_one_job(integration, customer, morning):
    first = post(integration, "/jobs", body(customer), key="order-77")
    again = post(integration, "/jobs", body(customer), key="order-77")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert Job.objects.count() == 1 and Loop.objects.count() == 1


def test_a_replayed_completion_bills_once(as_alice, job):
    for step in ("start", "arrive"):
        post(as_alice, f"/jobs/{job.pk}/{step}")
    post(as_alice, f"/jobs/{job.pk}/proofs", {"kind": "signature", "data": SIG})
    first = post(as_alice, f"/jobs/{job.pk}/complete", key="done-1")
    again = post(as_alice, f"/jobs/{job.pk}/complete", key="done-1")
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert Invoice.objects.count() == 1 and Loop.objects.filter(kind="followup").count() == 1


def test_a_key_reused_for_another_request_is_refused(as_alice, job):
    post(as_alice, f"/jobs/{job.pk}/start")
    post(as_alice, f"/jobs/{job.pk}/proofs", {"kind": "photo", "data": png(2)}, key="k")
    r = post(as_alice, f"/jobs/{job.pk}/proofs", {"kind": "photo", "data": png(3)}, key="k")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert error_fields(r) == ["Idempotency-Key"] and Proof.objects.count() == 1


def test_a_refused_write_is_not_remembered(as_alice, job):
    refused = post(as_alice, f"/jobs/{job.pk}/arrive", key="arrive-early")
    assert refused.status_code == 409 and not IdempotentAnswer.objects.exists()
    post(as_alice, f"/jobs/{job.pk}/start")
    assert post(as_alice, f"/jobs/{job.pk}/arrive", key="arrive-early").status_code == 200


def test_keys_belong_to_one_token(integration, as_alice, job):
    post(as_alice, f"/jobs/{job.pk}/start", key="same")
    r = post(integration, f"/jobs/{job.pk}/arrive", key="same")
    assert r.status_code == 200 and IdempotentAnswer.objects.filter(key="same").count() == 2


def test_a_bad_key_is_a_422(as_alice, job):
    r = post(as_alice, f"/jobs/{job.pk}/start", key="x" * 201)
    assert r.status_code == 422 and error_fields(r) == ["Idempotency-Key"]
    assert Job.objects.get().state == "scheduled"


def test_answers_older_than_a_week_are_forgotten(as_alice, job, now):
    post(as_alice, f"/jobs/{job.pk}/start", key="old")
    assert services.idempotent_answers_prune(now=now + timedelta(days=7)) == 0
    assert services.idempotent_answers_prune(now=now + timedelta(days=7, seconds=1)) == 1
    assert not IdempotentAnswer.objects.exists() and Job.objects.get().state == "started"
