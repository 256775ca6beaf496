"""The customer's tracking page: no login, window, status and ETA; after delivery the proof
(kind and time, the signature as an image); an unknown token is a plain 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from lastmile.invoices.models import Invoice
from lastmile.invoices.services import payment_record
from lastmile.jobs import services
from lastmile.jobs.models import Job
from lastmile.loops.models import BusinessHours, SlaPolicy
from tests.core.test_security_headers import inline_code
from tests.jobs.conftest import book, png

SIGNATURE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
TUESDAY_10_40 = datetime(2026, 11, 24, 10, 40, tzinfo=UTC)


def test_a_booked_job_shows_its_window_status_and_eta_without_login(client, job):
    Job.objects.filter(pk=job.pk).update(eta=TUESDAY_10_40)
    page = client.get(f"/jobs/t/{job.tracking_token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Booked" in html
    assert "Tue 24 Nov 10:00–12:00" in html
    assert 'id="track-eta">10:40' in html
    assert 'id="track-proof"' not in html  # nothing proved yet
    assert 'id="track-refresh"' in html  # until it is done
    assert job.pin == "" or job.pin not in html
    assert inline_code(html) == []
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_the_link_the_notices_carry_reaches_the_page(client, job):
    page = client.get(urlsplit(services.tracking_url(job)).path, follow=True)
    assert page.status_code == 200 and "Your delivery" in page.content.decode()


def test_after_delivery_the_proof_is_shown_with_the_signature_image(client, job, now):
    later = now + timedelta(days=1)
    services.job_start(job=job, actor=None, now=later)
    services.job_arrive(job=job, actor=None, now=later)
    services.proof_add(job=job, kind="signature", data=SIGNATURE, actor=None, now=later)
    services.job_complete(job=job, actor=None, now=later)

    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()

    assert "Delivered" in html
    assert 'id="track-proof"' in html and "Signature" in html
    assert f'src="{SIGNATURE}"' in html
    assert "Tue 24 Nov 10:00 UTC" in html  # when it was signed and done
    assert 'id="track-eta"' not in html
    assert 'id="track-refresh"' not in html


def test_a_proof_is_not_shown_before_completion(client, job, now):
    later = now + timedelta(days=1)
    services.job_start(job=job, actor=None, now=later)
    services.proof_add(job=job, kind="signature", data=SIGNATURE, actor=None, now=later)
    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()
    assert "On the way" in html and SIGNATURE not in html


def test_an_unknown_token_is_a_plain_404(client, job):
    assert client.get("/jobs/t/not-a-token/").status_code == 404
    assert client.get(f"/jobs/t/{job.tracking_token[:-1]}/").status_code == 404
    assert client.get(f"/jobs/t/{'x' * 65}/").status_code == 404


def test_after_completion_the_page_links_the_invoice_pdf_under_the_tracking_token(client, job, now):
    later = now + timedelta(days=1)
    assert client.get(f"/jobs/t/{job.tracking_token}/invoice.pdf").status_code == 404  # not yet
    services.job_start(job=job, actor=None, now=later)
    services.job_arrive(job=job, actor=None, now=later)
    services.proof_add(job=job, kind="signature", data=SIGNATURE, actor=None, now=later)
    done = services.job_complete(job=job, actor=None, now=later)

    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()
    link = f"/jobs/t/{job.tracking_token}/invoice.pdf"
    assert f'href="{link}"' in html and done.invoice["number"] in html
    assert "GBP 424.98" in html

    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Cache-Control"] == "private, no-store"


def test_another_token_opens_no_invoice(client, job, now):
    later = now + timedelta(days=1)
    services.job_start(job=job, actor=None, now=later)
    services.job_arrive(job=job, actor=None, now=later)
    services.proof_add(job=job, kind="signature", data=SIGNATURE, actor=None, now=later)
    services.job_complete(job=job, actor=None, now=later)

    token = job.tracking_token
    other = token[:-1] + ("x" if token[-1] != "x" else "y")
    assert client.get(f"/jobs/t/{other}/invoice.pdf").status_code == 404
    assert client.get("/jobs/t/nope/invoice.pdf").status_code == 404
    # and the invoices API's PDF still needs a token or a session
    invoice_id = Job.objects.get(pk=job.pk).invoice["id"]
    assert client.get(f"/api/v1/invoices/{invoice_id}/pdf").status_code == 401


def test_every_time_is_told_in_the_teams_zone_with_its_abbreviation(client, team, customer, now):
    # Given a London team (its visit policy's business hours) and a July job: BST, UTC+1
    hours = BusinessHours.objects.create(name="London", timezone="Europe/London", weekly={})
    SlaPolicy.objects.create(name="Visits", kind="visit", team=team, business_hours=hours)
    eleven = datetime(2027, 7, 13, 11, 0, tzinfo=UTC)
    slot = services.slot_create(
        team=team, starts_at=eleven, ends_at=eleven + timedelta(hours=2), capacity=2
    )
    job = book(team, customer, slot, now=now)
    Job.objects.filter(pk=job.pk).update(eta=eleven)

    # Then the tracking page says 12:00 BST for 11:00 UTC, the window too
    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()
    assert 'id="track-eta">12:00 BST' in html
    assert "Tue 13 Jul 12:00–14:00 BST" in html

    # and once done, when it was done and signed
    services.job_start(job=job, actor=None, now=eleven)
    services.job_arrive(job=job, actor=None, now=eleven)
    services.proof_add(job=job, kind="signature", data=SIGNATURE, actor=None, now=eleven)
    services.job_complete(job=job, actor=None, now=eleven + timedelta(minutes=30))
    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()
    assert 'id="track-done">Tue 13 Jul 12:30 BST' in html
    assert "Tue 13 Jul 12:00 BST" in html and "UTC" not in html


def test_a_photo_proof_is_shown_and_the_page_says_when_the_invoice_is_paid(
    client, team, customer, morning, now
):
    job = book(team, customer, morning, now=now, proofs=("photo",))
    later = now + timedelta(days=1)
    services.job_start(job=job, actor=None, now=later)
    services.job_arrive(job=job, actor=None, now=later)
    photo = services.proof_add(job=job, kind="photo", data=png(5), actor=None, now=later)
    done = services.job_complete(job=job, actor=None, now=later)

    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()
    assert f'src="{photo.data}"' in html and 'alt="Photo taken at the door"' in html
    assert 'id="track-unpaid"' in html and 'id="track-paid"' not in html

    invoice = Invoice.objects.get(pk=done.invoice["id"])
    payment_record(
        invoice=invoice,
        reference="TERM-1",
        amount=invoice.total,
        method="card_terminal",
        outcome="accepted",
        actor=None,
        now=later + timedelta(minutes=5),
    )
    html = client.get(f"/jobs/t/{job.tracking_token}/").content.decode()
    assert 'id="track-paid">Paid on Tue 24 Nov 10:05 UTC' in html
    assert 'id="track-unpaid"' not in html
