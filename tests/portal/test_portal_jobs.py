"""The portal's deliveries and visits: the customer sees their own, moves one to another of
the team's free slots up to the cut-off, and books the re-attempt of one that failed."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from PIL import Image

from lastmile.jobs import services
from lastmile.jobs.models import Job, JobEvent
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from tests.jobs.conftest import LINES
from tests.portal.fixtures import signed_in

pytestmark = pytest.mark.django_db
# The wall clock a minute after ``now`` (portal sessions and links need it), but for the
# test that travels to the cut-off itself.
clock = pytest.mark.usefixtures("portal_clock")

TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def slots(team):
    """Tuesday's three two-hour slots: the morning has room for one, the others for two."""
    made = {}
    for name, hours, capacity in (("morning", 0, 1), ("midday", 2, 2), ("afternoon", 4, 2)):
        start = TUESDAY_10 + timedelta(hours=hours)
        made[name] = services.slot_create(
            team=team, starts_at=start, ends_at=start + timedelta(hours=2), capacity=capacity
        )
    return made


def book(team, customer, slot, now, **kw) -> Job:
    return services.job_create(
        kind="delivery",
        customer=customer,
        team=team,
        window_start=slot.starts_at,
        window_end=slot.ends_at,
        address="1 High Street, Leeds",
        lines=LINES,
        proofs=("signature",),
        actor=None,
        now=now,
        **kw,
    )


@clock
def test_home_lists_the_customers_own_deliveries_only(client, ann, ben, team, slots, now):
    mine = book(team, ann, slots["midday"], now)
    theirs = book(team, ben, slots["afternoon"], now)
    signed_in(client, ann, now)

    home = client.get("/portal/").content.decode()
    other = client.get(f"/portal/jobs/{theirs.pk}/")

    assert f"/portal/jobs/{mine.pk}/" in home and f"/portal/jobs/{theirs.pk}/" not in home
    assert "Deliveries and visits" in home
    assert other.status_code == 404


@clock
def test_a_scheduled_job_offers_the_free_slots_and_moves_to_the_one_chosen(
    client, ann, ben, team, slots, now
):
    job = book(team, ann, slots["midday"], now)
    book(team, ben, slots["morning"], now)  # the morning is full now
    signed_in(client, ann, now)

    page = client.get(f"/portal/jobs/{job.pk}/").content.decode()
    assert f'value="{slots["afternoon"].pk}"' in page
    assert f'value="{slots["morning"].pk}"' not in page  # full
    assert f'value="{slots["midday"].pk}"' not in page  # its own

    r = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["afternoon"].pk})

    assert r.status_code == 302
    job.refresh_from_db()
    assert (job.window_start, job.window_end) == (
        slots["afternoon"].starts_at,
        slots["afternoon"].ends_at,
    )
    assert Loop.objects.get(pk=job.visit_loop_id).due_at == slots["afternoon"].ends_at


@clock
def test_a_full_or_foreign_slot_is_refused_naming_the_slot_and_nothing_moves(
    client, ann, ben, team, other_team, slots, now
):
    job = book(team, ann, slots["midday"], now)
    book(team, ben, slots["morning"], now)
    foreign = services.slot_create(
        team=other_team, starts_at=TUESDAY_10, ends_at=TUESDAY_10 + timedelta(hours=2), capacity=5
    )
    signed_in(client, ann, now)

    full = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["morning"].pk})
    other = client.post(f"/portal/jobs/{job.pk}/", {"slot": foreign.pk})
    junk = client.post(f"/portal/jobs/{job.pk}/", {"slot": "tomorrow"})

    assert full.status_code == other.status_code == junk.status_code == 422
    assert "not a time offered" in other.content.decode()
    job.refresh_from_db()
    assert job.slot_id == slots["midday"].pk


def test_after_the_cut_off_the_time_can_no_longer_be_changed(client, ann, team, slots, now):
    job = book(team, ann, slots["midday"], now)
    # The midday slot's cut-off (the default, two hours before it): Tuesday 10:00.
    late = slots["midday"].starts_at - timedelta(minutes=slots["midday"].cutoff_minutes)
    with time_machine.travel(late + timedelta(minutes=1), tick=False):
        signed_in(client, ann, late + timedelta(minutes=1))
        page = client.get(f"/portal/jobs/{job.pk}/").content.decode()
        r = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["afternoon"].pk})

    assert "can no longer be changed" in page and 'name="slot"' not in page
    assert r.status_code == 422
    job.refresh_from_db()
    assert job.slot_id == slots["midday"].pk


@clock
def test_a_failed_job_is_re_attempted_once_in_the_slot_the_customer_chooses(
    client, ann, team, slots, now
):
    job = book(team, ann, slots["midday"], now)
    services.job_start(job=job, actor=None, now=now)
    services.job_fail(job=job, reason="not_at_home", actor=None, now=now)
    signed_in(client, ann, now)

    page = client.get(f"/portal/jobs/{job.pk}/").content.decode()
    assert "Choose a time for us to try again" in page
    r = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["afternoon"].pk})
    again = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["morning"].pk})

    assert r.status_code == 302
    retry = Job.objects.exclude(pk=job.pk).get(customer=ann)
    assert r["Location"] == f"/portal/jobs/{retry.pk}/?booked=1"
    assert (retry.state, retry.window_start) == ("scheduled", slots["afternoon"].starts_at)
    assert [(line.sku, line.quantity) for line in retry.lines.order_by("position")] == [
        (line.sku, line.quantity) for line in LINES
    ]
    assert retry.required_proofs == ["signature"] and retry.case_id == job.case_id
    assert again.status_code == 409 and Job.objects.filter(customer=ann).count() == 2
    trail = JobEvent.objects.get(job=job, kind="rescheduled")
    assert trail.data["reattempt"] == retry.pk


@clock
def test_moving_a_job_says_where_it_moved_to_in_the_teams_time_zone(client, ann, team, slots, now):
    # given Ann's delivery at midday (UTC), and her team working in Paris (CET in November)
    hours = BusinessHours.objects.create(name="Paris", timezone="Europe/Paris", weekly={})
    SlaPolicy.objects.create(name="Visits", kind="visit", team=team, business_hours=hours)
    job = book(team, ann, slots["midday"], now)
    signed_in(client, ann, now)
    assert "Moved to" not in client.get(f"/portal/jobs/{job.pk}/").content.decode()

    # when she moves it to the afternoon
    r = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["afternoon"].pk}, follow=True)

    # then the page she lands on says so, in the team's time zone
    page = r.content.decode()
    assert r.redirect_chain[-1][0].startswith(f"/portal/jobs/{job.pk}/")
    assert 'role="status"' in page
    assert "Moved to Tue 24 Nov 15:00–17:00 CET" in page
    # and until when it can change again: two hours before the new slot, in the same zone
    assert "You can change the time until Tue 24 Nov 13:00 CET." in page


@clock
def test_booking_the_re_attempt_of_a_failed_job_says_when(client, ann, team, slots, now):
    job = book(team, ann, slots["midday"], now)
    services.job_start(job=job, actor=None, now=now)
    services.job_fail(job=job, reason="not_at_home", actor=None, now=now)
    signed_in(client, ann, now)

    r = client.post(f"/portal/jobs/{job.pk}/", {"slot": slots["afternoon"].pk}, follow=True)

    assert "We will try again Tue 24 Nov 14:00–16:00" in r.content.decode()


def picture() -> str:
    """A real (tiny) PNG as the driver's page sends a signature, as a data URL."""
    out = io.BytesIO()
    Image.new("RGB", (4, 2), (0, 40, 90)).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


@clock
def test_a_completed_job_shows_its_proof_and_its_invoice_not_the_day_to_follow(
    client, ann, team, slots, now
):
    # given Ann's delivery, signed for and completed (which issues its invoice)
    job = book(team, ann, slots["midday"], now)
    at = slots["midday"].starts_at + timedelta(minutes=40)
    services.job_start(job=job, actor=None, now=at)
    services.job_arrive(job=job, actor=None, now=at)
    services.proof_add(job=job, kind="signature", data=picture(), actor=None, now=at)
    job = services.job_complete(job=job, actor=None, now=at)
    signed_in(client, ann, now)

    # when she opens it in the portal
    page = client.get(f"/portal/jobs/{job.pk}/").content.decode()

    # then it says when it was done and with what proof, and links to the invoice's PDF
    pdf = f"/jobs/t/{job.tracking_token}/invoice.pdf"
    assert "Follow it on the day" not in page
    assert "Delivered Tue 24 Nov 12:40" in page
    assert "Signature" in page
    assert f'href="{pdf}"' in page and job.invoice["number"] in page
    got = client.get(pdf)
    assert got.status_code == 200 and got["Content-Type"] == "application/pdf"
