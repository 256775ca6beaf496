"""The driver's page and its session writes (Django client): today's stops with what the
driver needs at the door, one tap per step through the jobs' services, each write honouring
an Idempotency-Key, CSRF enforced, and only the driver's own team's stops."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from lastmile.jobs.models import Job, JobEvent, Proof
from lastmile.promises.models import Promise
from tests.customers.factories import IdentityFactory
from tests.jobs.conftest import SIG, book

TUESDAY_9 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def tuesday_morning():
    with time_machine.travel(TUESDAY_9, tick=False):
        yield


@pytest.fixture
def driver(client, alice):
    client.force_login(alice)
    return client


def post(client, url, body=None, key=None):  # type: ignore[no-untyped-def]
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, data=json.dumps(body or {}), content_type="application/json", **headers)


def test_the_page_lists_todays_stops_in_stop_order_with_what_the_driver_needs(
    driver, team, customer, case, morning, now, alice
):
    # Given two of Alice's jobs today, the later-booked one first on the run, a phone
    # number, a delivery note and an open promise on the case
    IdentityFactory(customer=customer, kind="phone", value="+447700900123")
    customer.attributes = {"delivery_notes": "Side gate, dog is friendly"}
    customer.save()
    first = book(team, customer, morning, now=now, case=case, assignee=alice)
    second = book(team, customer, morning, now=now, case=case, assignee=alice)
    Job.objects.filter(pk=first.pk).update(stop_order=2)
    Job.objects.filter(pk=second.pk).update(stop_order=1)
    Promise.objects.create(
        customer=customer,
        case=case,
        text="Take the old machine away",
        channel="phone",
        team=team,
        made_by_name="Alice",
        made_at=now,
        due_at=morning.ends_at,
    )

    # When Alice opens her page
    page = driver.get("/jobs/driver/")

    # Then both stops are there, second first, with the phone as a tel: link, the note,
    # the promise, the lines with their totals, and the signature required
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(f'id="stop-{second.pk}"') < html.index(f'id="stop-{first.pk}"')
    assert 'href="tel:+447700900123"' in html
    assert "Side gate, dog is friendly" in html
    assert "Take the old machine away" in html
    assert "Washing machine" in html and "GBP 399.00" in html and "GBP 424.98" in html
    assert 'data-proof-chip="signature"' in html
    assert "jobs/driver.js" in html


def test_another_teams_driver_does_not_see_the_stop(client, charlie, job):
    client.force_login(charlie)
    page = client.get("/jobs/driver/?date=2026-11-24")
    assert page.status_code == 200
    assert f'id="stop-{job.pk}"' not in page.content.decode()


def test_the_page_needs_a_login(client, job):
    page = client.get("/jobs/driver/")
    assert page.status_code == 302 and "/login/" in page["Location"]


def test_a_step_is_stored_once_however_often_its_key_is_replayed(driver, job):
    # Given Alice starts and arrives
    assert post(driver, f"/jobs/driver/{job.pk}/start", key="k-start").status_code == 200
    first = post(driver, f"/jobs/driver/{job.pk}/arrive", key="k-arrive")
    assert first.status_code == 200 and first.json()["job"]["state"] == "arrived"

    # When her phone sends the same arrive again (its answer was lost)
    again = post(driver, f"/jobs/driver/{job.pk}/arrive", key="k-arrive")

    # Then it is answered as the first time and nothing more is stored
    assert again.status_code == 200
    assert again.json() == first.json()
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds.count("arrived") == 1 and kinds.count("started") == 1


def test_a_proof_replayed_is_stored_once_and_a_key_reused_for_another_body_is_refused(driver, job):
    post(driver, f"/jobs/driver/{job.pk}/start", key="a")
    first = post(driver, f"/jobs/driver/{job.pk}/proofs", {"kind": "qr", "data": "PKG-1"}, "p1")
    again = post(driver, f"/jobs/driver/{job.pk}/proofs", {"kind": "qr", "data": "PKG-1"}, "p1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Proof.objects.filter(job=job).count() == 1

    other = post(driver, f"/jobs/driver/{job.pk}/proofs", {"kind": "qr", "data": "PKG-2"}, "p1")
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert Proof.objects.filter(job=job).count() == 1


def test_completing_without_the_signature_is_refused_naming_it_and_stores_nothing(driver, job):
    post(driver, f"/jobs/driver/{job.pk}/start", key="s")
    post(driver, f"/jobs/driver/{job.pk}/arrive", key="a")
    refused = post(driver, f"/jobs/driver/{job.pk}/complete", key="c")
    assert refused.status_code == 409
    assert refused.json()["code"] == "proof_missing"
    assert refused.json()["errors"][0]["field"] == "proof"
    job.refresh_from_db()
    assert job.state == "arrived"

    # a signature that is no picture is refused, naming the data
    fake = post(driver, f"/jobs/driver/{job.pk}/proofs", {"kind": "signature", "data": "x"}, "x")
    assert fake.status_code == 422 and fake.json()["errors"][0]["field"] == "data"
    assert not Proof.objects.filter(job=job).exists()

    # and once signed, the same key completes (a refusal was not remembered)
    assert (
        post(
            driver, f"/jobs/driver/{job.pk}/proofs", {"kind": "signature", "data": SIG}, "p"
        ).status_code
        == 201
    )
    done = post(driver, f"/jobs/driver/{job.pk}/complete", key="c")
    assert done.status_code == 200 and done.json()["job"]["state"] == "completed"


def test_a_failure_takes_a_structured_reason(driver, job):
    post(driver, f"/jobs/driver/{job.pk}/start", key="s")
    bad = post(driver, f"/jobs/driver/{job.pk}/fail", {"reason": "bored"}, "f1")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
    ok = post(
        driver, f"/jobs/driver/{job.pk}/fail", {"reason": "not_at_home", "note": "No answer"}, "f2"
    )
    assert ok.status_code == 200
    job.refresh_from_db()
    assert (job.state, job.fail_reason) == ("failed", "not_at_home")


def test_a_wrong_pin_is_a_422_naming_data_and_stores_nothing(driver, team, customer, morning, now):
    job = book(team, customer, morning, now=now, proofs=("pin",))
    post(driver, f"/jobs/driver/{job.pk}/start", key="s")
    wrong = "000000" if job.pin != "000000" else "111111"
    bad = post(driver, f"/jobs/driver/{job.pk}/proofs", {"kind": "pin", "data": wrong}, "p")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "data"
    assert not Proof.objects.filter(job=job).exists()


def test_an_outsider_or_a_teammates_stop_is_a_404_and_nothing_changes(
    client, charlie, bob, team, customer, morning, now
):
    job = book(team, customer, morning, now=now, assignee=bob)
    client.force_login(charlie)
    assert post(client, f"/jobs/driver/{job.pk}/start", key="x").status_code == 404
    job.refresh_from_db()
    assert job.state == "scheduled"
    assert Client().post(f"/jobs/driver/{job.pk}/start").status_code == 302  # no login


def test_a_teammates_assigned_stop_is_not_this_drivers(driver, bob, team, customer, morning, now):
    job = book(team, customer, morning, now=now, assignee=bob)
    assert post(driver, f"/jobs/driver/{job.pk}/start", key="x").status_code == 404
    job.refresh_from_db()
    assert job.state == "scheduled"


def test_a_write_without_the_csrf_token_is_refused(alice, job):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = post(client, f"/jobs/driver/{job.pk}/start", key="k")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == "scheduled"


# --- on site: a change of the work with the customer's consent ------------------------------

SPLIT = {
    "ref": "chg-1",
    "ops": [
        {
            "op": "split",
            "line": 1,
            "parts": [
                {"description": "Installation: plumbing", "quantity": 1, "unit_price": 1500},
                {"description": "Installation: removal", "quantity": 1, "unit_price": 2000},
            ],
        }
    ],
}


def test_a_change_proposed_and_accepted_on_the_page_is_stored_once_per_key(driver, job):
    post(driver, f"/jobs/driver/{job.pk}/start", key="s")
    post(driver, f"/jobs/driver/{job.pk}/arrive", key="a")

    proposed = post(driver, f"/jobs/driver/{job.pk}/changes", SPLIT, "c1")
    again = post(driver, f"/jobs/driver/{job.pk}/changes", SPLIT, "c1")
    assert proposed.status_code == again.status_code == 201
    assert again.json() == proposed.json()
    assert proposed.json()["change"]["total_after"] == 39900 + 1500 + 2000
    assert len(proposed.json()["job"]["lines"]) == 2  # not yet accepted

    # The page shows the customer what waits for them, after a reload too
    html = driver.get("/jobs/driver/").content.decode()
    assert "data-pending=" in html and "chg-1" in html

    sig = {"via": "signature", "data": SIG}
    accepted = post(driver, f"/jobs/driver/{job.pk}/changes/chg-1/accept", sig, "c2")
    replay = post(driver, f"/jobs/driver/{job.pk}/changes/chg-1/accept", sig, "c2")
    assert accepted.status_code == replay.status_code == 200
    assert [line["total"] for line in accepted.json()["job"]["lines"]] == [39900, 1500, 2000]
    assert JobEvent.objects.filter(job=job, kind="changed").count() == 1
    html = driver.get("/jobs/driver/").content.decode()
    assert "data-pending=" not in html
    assert (
        "Changed on site: GBP 424.98 → GBP 434.00, accepted by the customer&#x27;s signature"
        in html
    )


def test_a_wrong_pin_for_a_change_is_a_422_on_the_page(driver, team, customer, morning, now):
    job = book(team, customer, morning, now=now, proofs=("pin",))
    post(driver, f"/jobs/driver/{job.pk}/start", key="s")
    post(driver, f"/jobs/driver/{job.pk}/arrive", key="a")
    post(driver, f"/jobs/driver/{job.pk}/changes", SPLIT, "c1")
    wrong = "000000" if job.pin != "000000" else "111111"

    bad = post(
        driver, f"/jobs/driver/{job.pk}/changes/chg-1/accept", {"via": "pin", "data": wrong}, "c2"
    )

    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "data"
    assert not JobEvent.objects.filter(job=job, kind="changed").exists()


def test_a_teammates_stop_cannot_be_changed(driver, bob, team, customer, morning, now):
    job = book(team, customer, morning, now=now, assignee=bob)
    assert post(driver, f"/jobs/driver/{job.pk}/changes", SPLIT, "c").status_code == 404


def test_the_eta_and_done_at_are_told_in_the_teams_zone(driver, team, customer, now, alice):
    from datetime import timedelta

    from lastmile.jobs import services
    from lastmile.loops.models import BusinessHours, SlaPolicy

    # Given a London team (BST in July) and a stop with an ETA of 11:00 UTC
    hours = BusinessHours.objects.create(name="London", timezone="Europe/London", weekly={})
    SlaPolicy.objects.create(name="Visits", kind="visit", team=team, business_hours=hours)
    eleven = datetime(2027, 7, 13, 11, 0, tzinfo=UTC)
    slot = services.slot_create(
        team=team, starts_at=eleven, ends_at=eleven + timedelta(hours=2), capacity=2
    )
    job = book(team, customer, slot, now=now, assignee=alice, proofs=())
    Job.objects.filter(pk=job.pk).update(eta=eleven)

    html = driver.get("/jobs/driver/?date=2027-07-13").content.decode()
    assert "Tue 13 Jul 12:00–14:00 BST" in html and "· ETA 12:00 BST" in html

    services.job_start(job=job, actor=None, now=eleven)
    services.job_arrive(job=job, actor=None, now=eleven)
    services.job_complete(job=job, actor=None, now=eleven + timedelta(minutes=30))
    html = driver.get("/jobs/driver/?date=2027-07-13").content.decode()
    assert "Done at 12:30 BST." in html
