"""The on-site changes through the API: /api/v1/jobs/{id}/changes to propose, list, and
/changes/{ref}/accept or /decline; 422s naming the field, a wrong PIN, Idempotency-Key
replays, and the invoice billing the accepted lines."""

from __future__ import annotations

import pytest

from lastmile.invoices.models import Invoice
from lastmile.jobs.models import IdempotentAnswer, JobChange, JobEvent
from tests.jobs.conftest import SIG, book
from tests.jobs.test_api import error_fields, post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

SPLIT = {
    "ref": "split-1",
    "ops": [
        {
            "op": "split",
            "line": 1,
            "parts": [
                {"description": "Installation: plumbing", "unit_price": 1500},
                {"description": "Installation: removal", "unit_price": 2000},
            ],
        }
    ],
    "note": "the old machine is plumbed in behind the boiler",
}


def at_door(api, job):  # type: ignore[no-untyped-def]
    assert post(api, f"/jobs/{job.pk}/start").status_code == 200
    assert post(api, f"/jobs/{job.pk}/arrive").status_code == 200


def test_a_split_proposed_and_signed_for_changes_the_job_and_its_invoice(as_alice, job):
    at_door(as_alice, job)

    proposed = post(as_alice, f"/jobs/{job.pk}/changes", SPLIT)
    assert proposed.status_code == 201, proposed.content
    change = proposed.json()
    assert (change["ref"], change["state"], change["proposed_by"]) == (
        "split-1",
        "proposed",
        "alice",
    )
    assert (change["total_before"], change["total_after"]) == (42498, 43400)
    assert [line["total"] for line in change["after"]] == [39900, 1500, 2000]
    # Proposed only: the job's lines are as they were
    assert len(as_alice.get(f"/jobs/{job.pk}").json()["lines"]) == 2

    accepted = post(
        as_alice, f"/jobs/{job.pk}/changes/split-1/accept", {"via": "signature", "data": SIG}
    )
    assert accepted.status_code == 200
    assert (accepted.json()["state"], accepted.json()["consent"]) == ("accepted", "signature")
    assert [line["description"] for line in as_alice.get(f"/jobs/{job.pk}").json()["lines"]] == [
        "Washing machine",
        "Installation: plumbing",
        "Installation: removal",
    ]

    post(as_alice, f"/jobs/{job.pk}/proofs", {"kind": "signature", "data": SIG})
    done = post(as_alice, f"/jobs/{job.pk}/complete").json()
    assert Invoice.objects.get(source=f"job:{job.pk}").subtotal == 43400
    assert done["invoice"]["total"] == 43400
    listed = as_alice.get(f"/jobs/{job.pk}/changes").json()
    assert [(c["ref"], c["state"]) for c in listed] == [("split-1", "accepted")]


def test_a_negative_price_is_a_422_naming_the_field(as_alice, job):
    at_door(as_alice, job)
    bad = {"ops": [{"op": "add", "description": "Hose", "quantity": 1, "unit_price": -100}]}

    r = post(as_alice, f"/jobs/{job.pk}/changes", bad)

    assert r.status_code == 422 and error_fields(r) == ["ops[0].unit_price"]
    assert not JobChange.objects.exists()


def test_a_negative_quantity_in_a_part_is_a_422_naming_the_field(as_alice, job):
    at_door(as_alice, job)
    bad = {
        "ops": [
            {
                "op": "split",
                "line": 0,
                "parts": [
                    {"description": "A", "quantity": 1, "unit_price": 1},
                    {"description": "B", "quantity": -1, "unit_price": 1},
                ],
            }
        ]
    }
    r = post(as_alice, f"/jobs/{job.pk}/changes", bad)
    assert r.status_code == 422 and error_fields(r) == ["ops[0].parts[1].quantity"]


def test_a_wrong_pin_is_a_422_and_nothing_changes(as_alice, team, customer, morning, now):
    job = book(team, customer, morning, now=now, proofs=("pin",))
    at_door(as_alice, job)
    post(as_alice, f"/jobs/{job.pk}/changes", SPLIT)
    wrong = "000000" if job.pin != "000000" else "111111"

    r = post(as_alice, f"/jobs/{job.pk}/changes/split-1/accept", {"via": "pin", "data": wrong})

    assert r.status_code == 422 and error_fields(r) == ["data"]
    assert "wrong PIN" in r.json()["detail"]
    assert JobChange.objects.get(ref="split-1").state == "proposed"
    ok = post(as_alice, f"/jobs/{job.pk}/changes/split-1/accept", {"via": "pin", "data": job.pin})
    assert ok.status_code == 200 and ok.json()["consent"] == "pin"


def test_accepting_twice_answers_the_same_and_changes_once(as_alice, job):
    at_door(as_alice, job)
    post(as_alice, f"/jobs/{job.pk}/changes", SPLIT)
    consent = {"via": "signature", "data": SIG}

    first = post(as_alice, f"/jobs/{job.pk}/changes/split-1/accept", consent)
    again = post(as_alice, f"/jobs/{job.pk}/changes/split-1/accept", consent)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert JobEvent.objects.filter(job=job, kind="changed").count() == 1


def test_a_replayed_proposal_with_its_key_is_stored_once(as_alice, job):
    at_door(as_alice, job)
    body = {k: v for k, v in SPLIT.items() if k != "ref"}

    first = post(as_alice, f"/jobs/{job.pk}/changes", body, key="change-1")
    again = post(as_alice, f"/jobs/{job.pk}/changes", body, key="change-1")

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()  # (PostgreSQL's jsonb keeps no key order)
    assert JobChange.objects.count() == 1
    assert IdempotentAnswer.objects.get(key="change-1").job_id == job.pk


def test_a_declined_change_leaves_the_lines(as_alice, job):
    at_door(as_alice, job)
    post(as_alice, f"/jobs/{job.pk}/changes", SPLIT)
    r = post(as_alice, f"/jobs/{job.pk}/changes/split-1/decline", {"reason": "not today"})
    assert r.status_code == 200 and r.json()["decline_reason"] == "not today"
    assert len(as_alice.get(f"/jobs/{job.pk}").json()["lines"]) == 2
    later = post(
        as_alice, f"/jobs/{job.pk}/changes/split-1/accept", {"via": "signature", "data": SIG}
    )
    assert later.status_code == 409


def test_changes_are_scoped_to_the_tokens_teams(as_alice, as_charlie, job):
    at_door(as_alice, job)
    post(as_alice, f"/jobs/{job.pk}/changes", SPLIT)

    assert as_charlie.get(f"/jobs/{job.pk}/changes").status_code == 404
    r = post(
        as_charlie, f"/jobs/{job.pk}/changes/split-1/accept", {"via": "signature", "data": SIG}
    )
    assert r.status_code == 404
    assert JobChange.objects.get(ref="split-1").state == "proposed"


def test_a_change_before_arriving_is_a_409(as_alice, job):
    r = post(as_alice, f"/jobs/{job.pk}/changes", SPLIT)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
