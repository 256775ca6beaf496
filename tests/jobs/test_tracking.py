"""The customer's tracking page: no login, window, status and ETA; after delivery the proof
(kind and time, the signature as an image); an unknown token is a plain 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from lastmile.jobs import services
from lastmile.jobs.models import Job
from tests.core.test_security_headers import inline_code

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
