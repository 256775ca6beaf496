"""Slots are made and checked in the admin; jobs are shown, never edited there."""

from __future__ import annotations

import pytest

from lastmile.jobs.models import Slot
from tests.jobs.conftest import SIG, TUESDAY_10, TUESDAY_12, book

pytestmark = pytest.mark.django_db


def test_the_slot_and_job_screens_render_with_bookings(staff, team, customer, morning, now):
    book(team, customer, morning, now=now)
    page = staff.get("/admin/jobs/slot/").content.decode()
    assert "Front office" in page and 'class="field-booked">1<' in page
    assert staff.get("/admin/jobs/slot/add/").status_code == 200
    assert staff.get("/admin/jobs/job/").status_code == 200


def test_a_slot_ending_before_it_starts_is_refused_in_the_admin(staff, team):
    r = staff.post(
        "/admin/jobs/slot/add/",
        {
            "team": team.pk,
            "starts_at_0": "2026-11-24",
            "starts_at_1": "12:00:00",
            "ends_at_0": "2026-11-24",
            "ends_at_1": "10:00:00",
            "capacity": 2,
            "cutoff_minutes": 120,
        },
    )
    assert r.status_code == 200 and "must be after starts_at" in r.content.decode()
    assert not Slot.objects.exists()


def test_capacity_cannot_drop_below_the_bookings(staff, team, customer, morning, now):
    book(team, customer, morning, now=now)
    book(team, customer, morning, now=now)
    r = staff.post(
        f"/admin/jobs/slot/{morning.pk}/change/",
        {
            "team": team.pk,
            "starts_at_0": "2026-11-24",
            "starts_at_1": "10:00:00",
            "ends_at_0": "2026-11-24",
            "ends_at_1": "12:00:00",
            "capacity": 1,
            "cutoff_minutes": 120,
        },
    )
    assert "2 jobs are booked" in r.content.decode()
    morning.refresh_from_db()
    assert morning.capacity == 2 and (morning.starts_at, morning.ends_at) == (
        TUESDAY_10,
        TUESDAY_12,
    )


def test_jobs_cannot_be_changed_in_the_admin(staff, team, customer, morning, now):
    job = book(team, customer, morning, now=now)
    page = staff.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert 'name="state"' not in page and 'name="tracking_token"' not in page


def test_the_job_screen_links_the_tracking_page_and_the_invoice_pdf(
    staff, team, customer, morning, now
):
    from lastmile.invoices.models import Invoice
    from lastmile.jobs import services

    job = book(team, customer, morning, now=now)
    services.job_start(job=job, actor=None, now=now)
    services.job_arrive(job=job, actor=None, now=now)
    page = staff.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert f'href="{services.tracking_url(job)}"' in page
    services.proof_add(job=job, kind="signature", data=SIG, actor=None, now=now)
    services.job_complete(job=job, actor=None, now=now)

    page = staff.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    invoice = Invoice.objects.get(source=f"job:{job.pk}")
    assert f'href="/api/v1/invoices/{invoice.pk}/pdf"' in page
    assert f"{invoice.number} · £" in page and "(PDF)" in page
    assert '"number":' not in page and "&quot;number&quot;" not in page  # no raw JSON
    assert staff.get(f"/api/v1/invoices/{invoice.pk}/pdf").status_code == 200


def test_the_job_screen_shows_the_changes_made_on_site(staff, team, customer, morning, now):
    from datetime import timedelta

    from lastmile.jobs import services

    job = book(team, customer, morning, now=now)
    services.job_start(job=job, actor=None, now=now)
    services.job_arrive(job=job, actor=None, now=now + timedelta(minutes=5))
    change = services.change_propose(
        job=job, ref="chg-9", ops=[{"op": "remove", "line": 1}], actor=None, now=now
    )
    services.change_accept(job=job, ref="chg-9", via="signature", data=SIG, actor=None, now=now)

    page = staff.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "chg-9" in page and "£424.98" in page and "= £399.00" in page
    listed = staff.get("/admin/jobs/jobchange/").content.decode()
    assert "chg-9" in listed and "£424.98 → £399.00" in listed
    assert staff.get(f"/admin/jobs/jobchange/{change.pk}/change/").status_code == 200
