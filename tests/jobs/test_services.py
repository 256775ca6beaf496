"""The jobs services: booking into a slot, changing the slot, the day's steps as a strict
state machine, proofs, completion (loops, invoice, events) and failure."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from lastmile.core.errors import Conflict, InvalidInput
from lastmile.invoices.models import Invoice
from lastmile.invoices.selectors import pdf_url
from lastmile.jobs import services
from lastmile.jobs.models import Job, JobEvent, JobLine, Proof, Slot
from lastmile.jobs.services import LineIn
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from lastmile.loops.selectors import loop_explain
from lastmile.webhooks.models import Delivery
from lastmile.webhooks.services.subscriptions import subscription_create
from tests.customers.factories import CustomerFactory
from tests.jobs.conftest import LINES, SIG, TUESDAY_10, TUESDAY_12, TUESDAY_14, book, png

pytestmark = pytest.mark.django_db


def fields(exc: pytest.ExceptionInfo) -> list[str]:  # type: ignore[type-arg]
    return [e.field for e in exc.value.errors]


def at_door(job, now):  # type: ignore[no-untyped-def]
    services.job_start(job=job, actor=None, now=now)
    return services.job_arrive(job=job, actor=None, now=now + timedelta(minutes=30))


# --- booking ---------------------------------------------------------------------------------


def test_a_job_is_booked_into_the_slot_with_its_lines_and_a_visit_loop(job, morning, case):
    assert job.state == "scheduled" and job.slot_id == morning.pk
    assert (job.window_start, job.window_end) == (TUESDAY_10, TUESDAY_12)
    assert list(JobLine.objects.filter(job=job).values_list("sku", "quantity", "unit_price")) == [
        ("WM-1", 1, 39900),
        ("INST", 2, 1299),
    ]
    loop = Loop.objects.get(pk=job.visit_loop_id)
    assert (loop.kind, loop.state, loop.case_id, loop.team_id) == (
        "visit",
        "open",
        case.pk,
        job.team_id,
    )
    assert list(JobEvent.objects.filter(job=job).values_list("kind", flat=True)) == ["created"]
    assert len(job.tracking_token) >= 32 and job.pin == ""


def test_the_visit_loop_is_due_at_the_end_of_the_chosen_window_and_says_so(job):
    loop = Loop.objects.get(pk=job.visit_loop_id)
    assert loop.due_at == TUESDAY_12
    opened = loop.events.get(kind="opened")
    assert opened.reason == (
        "due Tue 24 Nov 12:00 UTC: the end of the window the customer chose "
        "(Tue 24 Nov 10:00–12:00 UTC)"
    )
    # and the loop's explanation (the case page, GET /api/v1/loops) says it the same way
    assert loop_explain(loop) == opened.reason


@pytest.mark.parametrize("hours", [1, 2, 5, 30])
def test_the_visit_loop_is_never_due_before_the_slot_ends(team, customer, now, hours):
    # Given slots of several lengths, starting at several times
    start = now + timedelta(hours=2 + hours)
    slot = services.slot_create(
        team=team, starts_at=start, ends_at=start + timedelta(hours=hours), capacity=1
    )
    job = book(team, customer, slot, now=now)
    # Then the loop is due exactly at the slot's end, and rescheduling keeps that rule
    assert Loop.objects.get(pk=job.visit_loop_id).due_at == slot.ends_at
    later = services.slot_create(
        team=team, starts_at=slot.ends_at, ends_at=slot.ends_at + timedelta(hours=3), capacity=1
    )
    moved = services.job_reschedule(
        job=job, window_start=later.starts_at, window_end=later.ends_at, actor=None, now=now
    )
    assert Loop.objects.get(pk=moved.visit_loop_id).due_at == later.ends_at


def test_a_job_requiring_a_pin_gets_six_random_digits(team, customer, morning, now):
    a = book(team, customer, morning, now=now, proofs=["pin"])
    b = book(team, customer, morning, now=now, proofs=["pin", "signature"])
    assert a.pin.isdigit() and len(a.pin) == 6 and b.pin.isdigit()
    assert a.tracking_token != b.tracking_token


def test_a_window_that_ends_before_it_starts_is_refused_naming_the_field(team, customer, now):
    with pytest.raises(InvalidInput) as refused:
        services.job_create(
            kind="delivery",
            customer=customer,
            team=team,
            window_start=TUESDAY_12,
            window_end=TUESDAY_10,
            address="x",
            actor=None,
            now=now,
        )
    assert fields(refused) == ["window.end"]
    assert not Job.objects.exists() and not Loop.objects.exists()


def test_a_window_the_team_does_not_offer_is_refused(team, customer, morning, now):
    with pytest.raises(InvalidInput) as refused:
        services.job_create(
            kind="visit",
            customer=customer,
            team=team,
            window_start=TUESDAY_10,
            window_end=TUESDAY_14,
            address="x",
            actor=None,
            now=now,
        )
    assert fields(refused) == ["window"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (LineIn("A", "Thing", 0, 100, "GBP"), "lines[0].quantity"),
        (LineIn("A", "Thing", -1, 100, "GBP"), "lines[0].quantity"),
        (LineIn("A", "Thing", 1, -1, "GBP"), "lines[0].unit_price"),
        (LineIn("A", "Thing", 1, 100, "gbp"), "lines[0].currency"),
        (LineIn("A", " ", 1, 100, "GBP"), "lines[0].description"),
    ],
)
def test_a_bad_line_is_refused_naming_its_field(team, customer, morning, now, line, field):
    with pytest.raises(InvalidInput) as refused:
        book(team, customer, morning, now=now, lines=[line])
    assert fields(refused) == [field]
    assert not Job.objects.exists() and not JobLine.objects.exists()


def test_lines_in_two_currencies_are_refused(team, customer, morning, now):
    with pytest.raises(InvalidInput) as refused:
        book(team, customer, morning, now=now, lines=[LINES[0], LineIn("B", "b", 1, 5, "EUR")])
    assert fields(refused) == ["lines[1].currency"]
    assert "GBP" in refused.value.errors[0].reason


def test_a_slot_that_has_begun_is_refused(team, customer, now):
    slot = services.slot_create(
        team=team,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        capacity=5,
    )
    with pytest.raises(InvalidInput) as refused:
        book(team, customer, slot, now=now)
    assert fields(refused) == ["window.start"] and "started" in refused.value.errors[0].reason


def test_bookings_close_at_the_cut_off(team, customer, morning, now):
    # The morning slot starts 10:00 Tuesday with the default cut-off of 120 minutes.
    book(team, customer, morning, now=datetime(2026, 11, 24, 7, 59, tzinfo=UTC))
    with pytest.raises(InvalidInput) as refused:
        book(team, customer, morning, now=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    assert fields(refused) == ["window.start"]
    assert "08:00" in refused.value.errors[0].reason
    assert Job.objects.count() == 1


def test_a_full_slot_is_refused_and_a_cancelled_job_gives_its_place_back(
    team, customer, afternoon, now
):
    first = book(team, customer, afternoon, now=now)
    with pytest.raises(InvalidInput) as refused:
        book(team, customer, afternoon, now=now)
    assert (
        fields(refused) == ["window"] and "full (1 of 1 booked)" in refused.value.errors[0].reason
    )
    assert Job.objects.count() == 1 and Loop.objects.count() == 1
    services.job_cancel(job=first, reason="customer moved house", actor=None, now=now)
    assert Loop.objects.get(pk=first.visit_loop_id).state == "cancelled"
    assert book(team, customer, afternoon, now=now).state == "scheduled"


def test_a_case_of_another_customer_is_refused(team, morning, case, now):
    stranger = CustomerFactory()
    with pytest.raises(InvalidInput) as refused:
        book(team, stranger, morning, now=now, case=case)
    assert fields(refused) == ["case"]


def test_an_assignee_outside_the_team_is_refused(team, customer, morning, charlie, now):
    with pytest.raises(InvalidInput) as refused:
        book(team, customer, morning, now=now, assignee=charlie)
    assert fields(refused) == ["assignee"]


# --- changing the slot -----------------------------------------------------------------------


def test_rescheduling_moves_the_job_and_its_visit_loop(job, afternoon, now):
    old_loop = job.visit_loop_id
    moved = services.job_reschedule(
        job=job, window_start=TUESDAY_12, window_end=TUESDAY_14, actor=None, now=now
    )
    assert moved.slot_id == afternoon.pk and moved.window_end == TUESDAY_14
    assert Loop.objects.get(pk=old_loop).state == "cancelled"
    new_loop = Loop.objects.get(pk=moved.visit_loop_id)
    assert new_loop.state == "open" and new_loop.due_at == TUESDAY_14
    event = JobEvent.objects.get(job=job, kind="rescheduled")
    assert event.data["from"] == "Tue 24 Nov 10:00–12:00 UTC"
    assert event.data["to"] == "Tue 24 Nov 12:00–14:00 UTC"


def test_rescheduling_after_the_booked_slots_cut_off_is_refused(job, afternoon):
    with pytest.raises(InvalidInput) as refused:
        services.job_reschedule(
            job=job,
            window_start=TUESDAY_12,
            window_end=TUESDAY_14,
            actor=None,
            now=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        )
    assert fields(refused) == ["window"] and "changes closed" in refused.value.errors[0].reason
    job.refresh_from_db()
    assert job.slot_id != afternoon.pk and Loop.objects.get(pk=job.visit_loop_id).state == "open"


def test_rescheduling_into_a_full_slot_is_refused(job, afternoon, team, customer, now):
    book(team, customer, afternoon, now=now)
    with pytest.raises(InvalidInput) as refused:
        services.job_reschedule(
            job=job, window_start=TUESDAY_12, window_end=TUESDAY_14, actor=None, now=now
        )
    assert fields(refused) == ["window"]
    job.refresh_from_db()
    assert job.window_end == TUESDAY_12


def test_a_started_job_cannot_be_rescheduled(job, afternoon, now):
    services.job_start(job=job, actor=None, now=now)
    with pytest.raises(Conflict) as refused:
        services.job_reschedule(
            job=job, window_start=TUESDAY_12, window_end=TUESDAY_14, actor=None, now=now
        )
    assert refused.value.code == "invalid_transition"


# --- the day of the job ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "step", "state"),
    [
        ([], "arrive", "scheduled"),
        ([], "complete", "scheduled"),
        ([], "fail", "scheduled"),
        (["start"], "start", "started"),
        (["start"], "complete", "started"),
        (["start", "arrive"], "arrive", "arrived"),
    ],
)
def test_a_step_the_state_does_not_allow_is_a_conflict_naming_the_states(
    job, now, steps, step, state
):
    run = {
        "start": services.job_start,
        "arrive": services.job_arrive,
        "complete": services.job_complete,
        "fail": lambda **kw: services.job_fail(reason="refused", **kw),
    }
    for s in steps:
        run[s](job=job, actor=None, now=now)
    events = JobEvent.objects.count()
    with pytest.raises(Conflict) as refused:
        run[step](job=job, actor=None, now=now)
    assert refused.value.code == "invalid_transition" and refused.value.status == 409
    assert f"is {state}" in refused.value.detail
    assert Job.objects.get(pk=job.pk).state == state and JobEvent.objects.count() == events


def test_completing_without_the_required_proof_is_refused_naming_it(team, customer, morning, now):
    job = book(team, customer, morning, now=now, proofs=["signature", "photo"])
    at_door(job, now)
    services.proof_add(job=job, kind="photo", data=png(1), actor=None, now=now)
    with pytest.raises(Conflict) as refused:
        services.job_complete(job=job, actor=None, now=now)
    assert refused.value.code == "proof_missing" and refused.value.status == 409
    assert fields(refused) == ["proof"] and refused.value.errors[0].reason == "signature missing"
    assert Job.objects.get(pk=job.pk).state == "arrived"
    assert Loop.objects.get(pk=job.visit_loop_id).state == "open"
    assert not Invoice.objects.exists()


def test_a_wrong_pin_is_refused_and_the_right_one_is_stored_as_matched(
    team, customer, morning, now
):
    job = book(team, customer, morning, now=now, proofs=["pin"])
    at_door(job, now)
    wrong = "000000" if job.pin != "000000" else "111111"
    with pytest.raises(InvalidInput) as refused:
        services.proof_add(job=job, kind="pin", data=wrong, actor=None, now=now)
    assert fields(refused) == ["data"] and not Proof.objects.exists()
    proof = services.proof_add(job=job, kind="pin", data=job.pin, actor=None, now=now)
    assert proof.data == "matched" and job.pin not in proof.data
    assert services.job_complete(job=job, actor=None, now=now).state == "completed"


def test_a_pin_proof_on_a_job_without_a_pin_is_refused(job, now):
    at_door(job, now)
    with pytest.raises(InvalidInput) as refused:
        services.proof_add(job=job, kind="pin", data="123456", actor=None, now=now)
    assert fields(refused) == ["kind"]


def test_a_proof_before_the_driver_set_off_is_refused(job, now):
    with pytest.raises(Conflict):
        services.proof_add(job=job, kind="signature", data=SIG, actor=None, now=now)
    assert not Proof.objects.exists()


def test_a_proof_keeps_the_hash_of_what_was_sent(job, now):
    at_door(job, now)
    proof = services.proof_add(job=job, kind="signature", data=SIG, actor=None, now=now)
    assert proof.content_hash == hashlib.sha256(SIG.encode()).hexdigest()
    assert proof.data == SIG


@pytest.fixture
def subscribed(receiver, webhooks_to_loopback, now):
    return subscription_create(name="crm", url=receiver.url, events=["job.*"], now=now)[0]


def test_completion_closes_the_visit_bills_once_opens_the_followup_and_tells(
    job, case, now, subscribed
):
    at_door(job, now)
    services.proof_add(job=job, kind="signature", data=SIG, actor=None, now=now)
    done = services.job_complete(job=job, actor=None, now=now + timedelta(hours=1))
    assert done.state == "completed" and done.completed_at == now + timedelta(hours=1)
    assert Loop.objects.get(pk=job.visit_loop_id).state == "closed"
    followup = Loop.objects.get(pk=done.followup_loop_id)
    assert (followup.kind, followup.state, followup.case_id) == ("followup", "open", case.pk)
    assert followup.title == "Check the customer is happy after the delivery"
    invoice = Invoice.objects.get(source=f"job:{job.pk}")
    assert invoice.subtotal == 39900 + 2 * 1299 and invoice.currency == "GBP"
    assert pdf_url(invoice).endswith(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert done.invoice == {
        "id": invoice.pk,
        "number": invoice.number,
        "total": invoice.total,
        "currency": "GBP",
        "pdf_url": pdf_url(invoice),
    }
    delivery = Delivery.objects.get(event="job.completed")
    assert delivery.payload["data"]["invoice"]["number"] == invoice.number
    assert delivery.payload["data"]["followup_loop"] == followup.pk
    assert delivery.payload["data"]["team"] == job.team_id
    # Completing again is refused and bills nothing more.
    with pytest.raises(Conflict):
        services.job_complete(job=job, actor=None, now=now + timedelta(hours=2))
    assert Invoice.objects.count() == 1 and Loop.objects.filter(kind="followup").count() == 1


def test_a_job_without_lines_completes_without_an_invoice(team, customer, morning, now):
    job = book(team, customer, morning, now=now, lines=[], proofs=[])
    at_door(job, now)
    done = services.job_complete(job=job, actor=None, now=now)
    assert done.invoice is None and not Invoice.objects.exists()


@pytest.fixture
def office_hours(team):
    hours = BusinessHours.objects.create(
        name="London office",
        timezone="Europe/London",
        weekly={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    return SlaPolicy.objects.create(
        name="Follow-ups", kind="followup", team=team, business_hours=hours, position=1
    )


@pytest.mark.parametrize(
    ("done_at", "due_at"),
    [
        # Monday 15:00 → the close of Wednesday
        (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), datetime(2026, 11, 25, 17, 0, tzinfo=UTC)),
        # Friday 16:00 → the close of Tuesday (the weekend is no business day)
        (datetime(2026, 11, 27, 16, 0, tzinfo=UTC), datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        # Saturday → Tuesday
        (datetime(2026, 11, 28, 11, 0, tzinfo=UTC), datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
    ],
)
def test_the_followup_is_due_two_business_days_later_under_the_teams_hours(
    team, office_hours, done_at, due_at
):
    due, why = services.followup_due(team=team, now=done_at)
    assert due == due_at
    assert "2nd business day" in why and "London office" in why


def test_without_business_hours_the_followup_is_two_days_later(team, now):
    due, why = services.followup_due(team=team, now=now)
    assert due == now + timedelta(days=2) and "24/7" in why


def test_failing_takes_a_structured_reason_breaks_the_visit_and_tells(job, now, subscribed):
    services.job_start(job=job, actor=None, now=now)
    with pytest.raises(InvalidInput) as refused:
        services.job_fail(job=job, reason="dog ate it", actor=None, now=now)
    assert fields(refused) == ["reason"]
    failed = services.job_fail(
        job=job, reason="not_at_home", note="left a card", actor=None, now=now
    )
    assert failed.state == "failed" and failed.fail_reason == "not_at_home"
    loop = Loop.objects.get(pk=job.visit_loop_id)
    assert loop.state == "broken" and loop.events.get(kind="broken").reason == (
        "failed (not at home: left a card)"
    )
    data = Delivery.objects.get(event="job.failed").payload["data"]
    assert (data["job"], data["reason"], data["state"]) == (job.pk, "not_at_home", "failed")


def test_a_slot_is_checked_when_made(team):
    with pytest.raises(InvalidInput) as refused:
        services.slot_create(team=team, starts_at=TUESDAY_12, ends_at=TUESDAY_10, capacity=-1)
    assert fields(refused) == ["ends_at", "capacity"]
    assert not Slot.objects.exists()


def test_a_stop_order_is_set_through_its_service_and_not_below_one(job, now):
    moved = services.job_stop_order_set(job=job, stop_order=3, actor=None, now=now)
    assert (moved.stop_order, Job.objects.get(pk=job.pk).stop_order) == (3, 3)
    with pytest.raises(InvalidInput) as refused:
        services.job_stop_order_set(job=job, stop_order=0, actor=None, now=now)
    assert refused.value.errors[0].field == "stop_order"
    assert Job.objects.get(pk=job.pk).stop_order == 3


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("signature", "x"),
        ("photo", "not-an-image"),
        ("photo", "data:image/png;base64,iVBO"),  # a PNG's first bytes, not a picture
        ("signature", "data:text/plain;base64,aGVsbG8="),
        ("photo", "data:image/png;base64," + base64.b64encode(b"GIF89a" + b"\0" * 40).decode()),
    ],
)
def test_a_signature_or_photo_that_is_not_a_picture_is_refused_naming_the_data(
    job, now, kind, data
):
    at_door(job, now)
    with pytest.raises(InvalidInput) as refused:
        services.proof_add(job=job, kind=kind, data=data, actor=None, now=now)
    assert fields(refused) == ["data"] and refused.value.status == 422
    assert "PNG or JPEG" in refused.value.errors[0].reason
    assert not Proof.objects.exists()


def test_a_picture_as_bare_base64_or_jpeg_is_stored_as_a_data_url(job, now):
    at_door(job, now)
    bare = services.proof_add(job=job, kind="photo", data=png(7, bare=True), actor=None, now=now)
    assert bare.data == png(7)
    jpeg = services.proof_add(job=job, kind="photo", data=png(9, fmt="JPEG"), actor=None, now=now)
    assert jpeg.data.startswith("data:image/jpeg;base64,")


def test_a_qr_code_is_text_up_to_the_limit(job, now):
    at_door(job, now)
    with pytest.raises(InvalidInput) as refused:
        services.proof_add(
            job=job, kind="qr", data="P" * (services.MAX_QR_CHARS + 1), actor=None, now=now
        )
    assert fields(refused) == ["data"]
    assert services.proof_add(job=job, kind="qr", data="PKG-1", actor=None, now=now).data == "PKG-1"


def test_a_consent_signature_that_is_not_a_picture_is_refused(job, now):
    at_door(job, now)
    change = services.change_propose(
        job=job, ref="c1", ops=[{"op": "remove", "line": 1}], actor=None, now=now
    )
    with pytest.raises(InvalidInput) as refused:
        services.change_accept(
            job=job, ref=change.ref, via="signature", data="x", actor=None, now=now
        )
    assert fields(refused) == ["data"]
