"""Tax rates in the admin: checked, audited; invoices shown, never edited there."""

from __future__ import annotations

import pytest

from lastmile.core.models import AuditEntry
from lastmile.invoices.models import TaxRate
from lastmile.invoices.services import tax_rate_for

pytestmark = pytest.mark.django_db


def test_a_tax_rate_set_in_the_admin_is_audited_and_used(staff, team, admin_user):
    r = staff.post(
        "/admin/invoices/taxrate/add/", {"team": team.pk, "rate_bp": 2000, "label": "VAT"}
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert tax_rate_for(team.pk) == (2000, "VAT")
    entry = AuditEntry.objects.get(object_type="invoices.taxrate")
    assert (entry.action, entry.actor_id, entry.after["rate_bp"]) == (
        "created",
        admin_user.pk,
        2000,
    )


def test_a_rate_over_100_percent_is_refused_in_the_admin(staff, team):
    r = staff.post(
        "/admin/invoices/taxrate/add/", {"team": team.pk, "rate_bp": 12000, "label": "VAT"}
    )
    assert r.status_code == 200 and "at most 10000" in r.content.decode()
    assert not TaxRate.objects.exists() and not AuditEntry.objects.exists()


def test_invoices_are_read_only_in_the_admin(staff):
    assert staff.get("/admin/invoices/invoice/").status_code == 200
    assert staff.get("/admin/invoices/invoice/add/").status_code == 403


def test_amounts_in_the_admin_lists_are_money_not_minor_units(staff, zoe_case, now):
    from lastmile.invoices.services import invoice_issue, payment_record
    from tests.invoices.conftest import lines

    invoice = invoice_issue(
        source="job:1",
        customer_id=zoe_case.customer_id,
        team_id=zoe_case.team_id,
        case_id=zoe_case.pk,
        currency="GBP",
        lines=lines((1, 1299)),
        actor=None,
        now=now,
        send=False,
    )
    payment_record(
        invoice=invoice,
        reference="T-1",
        amount=1299,
        method="card_terminal",
        outcome="accepted",
        actor=None,
        now=now,
    )
    for page in ("/admin/invoices/invoice/", "/admin/invoices/payment/"):
        html = staff.get(page).content.decode()
        assert "£12.99" in html and "1299" not in html, page
    html = staff.get(f"/admin/invoices/invoice/{invoice.pk}/change/").content.decode()
    assert html.count("£12.99") >= 2  # the line's unit price and total
