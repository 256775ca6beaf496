"""The case page's billing panel (invoices/_case_billing.html): the case's jobs, from the
app that grants ``case.jobs``, and its invoices, each with its links, for whoever may see
them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from lastmile.core import events
from lastmile.invoices.selectors import CASE_JOBS, case_billing
from lastmile.invoices.services import invoice_issue
from lastmile.jobs import services as jobs
from lastmile.jobs.selectors import jobs_of_case
from tests.invoices.conftest import delivered, lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs_granted():
    # the jobs app registers its selector for the panel when Django starts
    assert jobs_of_case in events.grants(CASE_JOBS)


def render(case, user):  # type: ignore[no-untyped-def]
    request = RequestFactory().get(f"/cases/{case.ref}/")
    request.user = user
    return render_to_string("invoices/_case_billing.html", {"case": case}, request=request)


def test_the_panel_shows_the_cases_jobs_and_invoices_with_their_links(
    zoe_case, alice, now, jobs_granted
):
    # given a completed delivery on Zoë's case, and a second invoice on it (no job)
    job = delivered(zoe_case, now)
    extra = invoice_issue(
        source="repair:7",
        customer_id=zoe_case.customer_id,
        team_id=zoe_case.team_id,
        case_id=zoe_case.pk,
        currency="GBP",
        lines=lines((1, 1299)),
        actor=None,
        now=now + timedelta(days=2),
        send=False,
    )

    # when Alice, of the case's team, opens the case page
    html = render(zoe_case, alice)

    # then the job is there with its tracking page and invoice number (Alice is not staff:
    # the job's label links to the tracking page, not to the admin she cannot open)
    assert f'id="case-job-{job.pk}"' in html
    assert f"Delivery #{job.pk}" in html and "Completed" in html
    assert "/admin/" not in html
    assert (
        f'<a href="{jobs.tracking_url(job)}" target="_blank" rel="noopener">Delivery #{job.pk}</a>'
        in html
    )
    assert f'href="{jobs.tracking_url(job)}"' in html
    number = job.invoice["number"]
    # and both invoices, newest first, each linking to its PDF, their totals as money
    first = job.invoice["id"]
    assert html.index(f"case-invoice-{extra.pk}") < html.index(f"case-invoice-{first}")
    assert f'href="/api/v1/invoices/{first}/pdf"' in html and f"{number} (PDF)" in html
    assert "£399.00" in html and "£12.99" in html and "39900" not in html


def test_the_links_header_is_for_screen_readers_with_the_consoles_class(
    zoe_case, alice, now, jobs_granted
):
    delivered(zoe_case, now)
    html = render(zoe_case, alice)
    assert '<span class="sr-only">Links</span>' in html and "visually-hidden" not in html
    # and each table scrolls in its own box on a narrow screen
    assert html.count('<div class="table-wrap" role="region"') == 2
    assert html.count('tabindex="0"') == 2  # the keyboard reaches them to scroll


def test_a_staff_viewer_gets_the_jobs_admin_page(zoe_case, alice, now, jobs_granted):
    # given a completed delivery, and Alice made staff (she may open the admin)
    job = delivered(zoe_case, now)
    alice.is_staff = True

    # when the case page's panel is drawn for her (through the tag the console includes)
    html = render(zoe_case, alice)

    # then the job's label links to its admin page
    assert f'<a href="/admin/jobs/job/{job.pk}/change/">Delivery #{job.pk}</a>' in html


def test_the_selector_reads_jobs_in_window_order_and_invoices_newest_first(
    zoe_case, alice, now, jobs_granted
):
    first = delivered(zoe_case, now)
    later = delivered(zoe_case, now + timedelta(days=1))
    billing = case_billing(case=zoe_case, viewer=alice)
    assert [j.id for j in billing.jobs] == [first.pk, later.pk]
    assert [i.invoice.number for i in billing.invoices] == ["2026-000002", "2026-000001"]
    assert billing.invoices[0].sent == "being sent"  # its worker has not run


def test_an_outsider_sees_no_panel_and_a_teammate_the_same_as_the_owner(
    zoe_case, alice, bob, charlie, now, jobs_granted
):
    delivered(zoe_case, now)
    assert render(zoe_case, bob) == render(zoe_case, alice)
    assert case_billing(case=zoe_case, viewer=charlie).empty
    assert render(zoe_case, charlie).strip() == ""


def test_without_a_jobs_grant_the_panel_shows_the_invoices_alone(zoe_case, alice, now, monkeypatch):
    monkeypatch.setitem(events._grants, CASE_JOBS, [])
    delivered(zoe_case, now)
    billing = case_billing(case=zoe_case, viewer=alice)
    assert billing.jobs == [] and len(billing.invoices) == 1
    assert "case-invoice-" in render(zoe_case, alice)


def test_a_case_with_no_job_or_invoice_shows_nothing(zoe_case, alice, jobs_granted):
    assert render(zoe_case, alice).strip() == ""


def test_the_console_case_page_carries_the_panel(client, zoe_case, alice, now, jobs_granted):
    # given a completed delivery on Zoë's case
    job = delivered(zoe_case, now)

    # when Alice, of the case's team, opens the case in the console
    client.force_login(alice)
    page = client.get(reverse("console:case", kwargs={"ref": zoe_case.ref}))

    # then the page shows the job and its invoice with its PDF link
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="case-job-{job.pk}"' in html
    # and, Alice not being staff, no link to the admin's page of the job
    assert f"/admin/jobs/job/{job.pk}/change/" not in html
    assert f'href="/api/v1/invoices/{job.invoice["id"]}/pdf"' in html
