"""Issuing invoices: numbers per year, idempotency by source, taxes, bad input, the email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.core.errors import InvalidInput
from lastmile.core.models import AuditEntry
from lastmile.invoices.models import Invoice, InvoiceCounter, InvoiceLine
from lastmile.invoices.money import money_code_format, money_format
from lastmile.invoices.services import (
    LineIn,
    invoice_issue,
    tax_of,
    tax_rate_set,
)
from tests.customers.factories import CustomerFactory
from tests.invoices.conftest import lines

pytestmark = pytest.mark.django_db


def issue(case, *, source="job:1", items=None, now, currency="GBP", send=False, **kw):
    return invoice_issue(
        source=source,
        customer_id=case.customer_id,
        team_id=case.team_id,
        case_id=case.pk,
        currency=currency,
        lines=items if items is not None else lines((2, 1299)),
        actor=None,
        now=now,
        send=send,
        **kw,
    )


# --- numbers ----------------------------------------------------------------------------------


def test_numbers_follow_each_other_within_a_year(zoe_case, now):
    numbers = [issue(zoe_case, source=f"job:{n}", now=now).number for n in range(3)]
    assert numbers == ["2026-000001", "2026-000002", "2026-000003"]


def test_a_new_year_starts_again_at_one(zoe_case, now):
    last_of_2026 = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    first_of_2027 = last_of_2026 + timedelta(seconds=1)
    issue(zoe_case, source="job:1", now=last_of_2026)
    issue(zoe_case, source="job:2", now=last_of_2026)
    jan = issue(zoe_case, source="job:3", now=first_of_2027)
    assert jan.number == "2027-000001" and (jan.year, jan.sequence) == (2027, 1)
    assert dict(InvoiceCounter.objects.values_list("year", "last")) == {2026: 2, 2027: 1}


def test_a_refused_issue_takes_no_number(zoe_case, now):
    issue(zoe_case, source="job:1", now=now)
    with pytest.raises(InvalidInput):
        issue(zoe_case, source="job:2", items=lines((0, 100)), now=now)
    assert issue(zoe_case, source="job:3", now=now).number == "2026-000002"


def test_an_issue_rolled_back_by_its_caller_gives_its_number_back(zoe_case, now):
    from django.db import transaction

    issue(zoe_case, source="job:1", now=now)

    class JobFailed(Exception):
        pass

    with pytest.raises(JobFailed), transaction.atomic():
        assert issue(zoe_case, source="job:2", now=now).number == "2026-000002"
        raise JobFailed  # the job's completion fails after the invoice was issued
    assert not Invoice.objects.filter(source="job:2").exists()
    assert issue(zoe_case, source="job:3", now=now).number == "2026-000002"


# --- idempotency ------------------------------------------------------------------------------


def test_issuing_the_same_source_twice_returns_the_first_invoice(zoe_case, now):
    first = issue(zoe_case, source="job:7", now=now)
    again = issue(zoe_case, source="job:7", items=lines((5, 1)), now=now + timedelta(hours=1))
    assert again.pk == first.pk and again.total == first.total == 2598
    assert Invoice.objects.count() == 1 and InvoiceLine.objects.count() == 1
    assert InvoiceCounter.objects.get(year=2026).last == 1


# --- amounts and taxes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtotal", "rate_bp", "tax"),
    [
        (1000, 2000, 200),
        (1, 5000, 1),  # 0.5 → 1: half up
        (3, 5000, 2),  # 1.5 → 2
        (2598, 825, 214),  # 214.335 → 214
        (2606, 825, 215),  # 214.995 → 215
        (2000, 2500, 500),
        (999, 0, 0),
        (0, 2000, 0),
    ],
)
def test_tax_is_rounded_half_up_to_a_minor_unit(subtotal, rate_bp, tax):
    assert tax_of(subtotal, rate_bp) == tax


def test_the_teams_rate_taxes_the_subtotal_once(zoe_case, team, now):
    tax_rate_set(team=team, rate_bp=2000, label="VAT", actor=None, now=now)
    # 26.13 at 20 %: 5.226 → 5.23. At 5.5 %, three lines of 0.05: rounded per line each
    # would be 0.00 (0.00275), once on the subtotal 0.00825 → 0.01.
    invoice = issue(zoe_case, items=lines((1, 5), (1, 5), (1, 5), (2, 1299)), now=now)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (2613, 523, 3136)
    assert (invoice.tax_rate_bp, invoice.tax_label) == (2000, "VAT")
    tax_rate_set(team=team, rate_bp=550, label="VAT", actor=None, now=now)
    small = issue(zoe_case, source="job:2", items=lines((1, 5), (1, 5), (1, 5)), now=now)
    assert (small.subtotal, small.tax, small.total) == (15, 1, 16)
    assert AuditEntry.objects.filter(object_type="invoices.taxrate").count() == 2


def test_a_team_without_a_rate_charges_no_tax(zoe_case, now):
    invoice = issue(zoe_case, items=lines((3, 333)), now=now)
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.tax_rate_bp) == (999, 0, 999, 0)


def test_lines_are_stored_in_order_with_their_totals(zoe_case, now):
    invoice = issue(zoe_case, items=lines((2, 1299), (1, 0)), now=now)
    assert list(
        invoice.lines.values_list("position", "sku", "quantity", "unit_price", "total")
    ) == [
        (1, "SKU-1", 2, 1299, 2598),
        (2, "SKU-2", 1, 0, 0),
    ]


def test_money_is_said_with_the_currencys_symbol_and_minor_unit():
    assert money_format(1299, "GBP") == "£12.99"
    assert money_format(123456, "GBP") == "£1,234.56"
    assert money_format(1200, "EUR") == "€12.00"
    assert money_format(-500, "EUR") == "-€5.00"
    assert money_format(1500, "JPY") == "¥1,500"
    assert money_format(1005, "KWD") == "KWD1.005"
    assert money_format(1299, "EUR", locale="fr_FR") == "12,99\u00a0€"


def test_the_pdf_says_money_with_the_iso_code():
    assert money_code_format(123456, "GBP") == "GBP 1,234.56"
    assert money_code_format(1500, "JPY") == "JPY 1,500"
    assert money_code_format(1005, "KWD") == "KWD 1.005"


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "field", "index"),
    [
        (lines((0, 100)), "quantity", 0),
        (lines((1, 100), (-2, 100)), "quantity", 1),
        (lines((1, -1)), "unit_price", 0),
        ([LineIn("A", "x", 1, 100, "EUR")], "currency", 0),
        ([LineIn("A", " ", 1, 100)], "description", 0),
        ([LineIn("A", "x", True, 100)], "quantity", 0),
        ([], "lines", None),
    ],
)
def test_bad_lines_are_refused_naming_the_field_and_nothing_is_written(
    zoe_case, now, items, field, index
):
    with pytest.raises(InvalidInput) as caught:
        issue(zoe_case, items=items, now=now)
    assert caught.value.status == 422
    assert (caught.value.errors[0].field, caught.value.errors[0].index) == (field, index)
    assert not Invoice.objects.exists() and not InvoiceCounter.objects.exists()


def test_a_currency_must_be_an_iso_code(zoe_case, now):
    with pytest.raises(InvalidInput) as caught:
        issue(zoe_case, currency="pounds", now=now)
    assert caught.value.errors[0].field == "currency"


def test_lines_in_the_invoices_currency_in_any_case_are_accepted(zoe_case, now):
    invoice = issue(zoe_case, currency="gbp", items=lines((1, 100), currency="gbp"), now=now)
    assert invoice.currency == "GBP"


def test_a_case_of_another_customer_is_refused(zoe_case, team, now):
    stranger = CustomerFactory()
    with pytest.raises(InvalidInput) as caught:
        invoice_issue(
            source="job:1",
            customer_id=stranger.pk,
            team_id=team.pk,
            case_id=zoe_case.pk,
            currency="GBP",
            lines=lines((1, 100)),
            actor=None,
            now=now,
        )
    assert caught.value.errors[0].field == "case"
    assert not Invoice.objects.exists()


def test_issuing_emits_invoice_issued_for_the_webhooks(zoe_case, now):
    from lastmile.core.events import event_subscribe, event_unsubscribe

    heard = []

    def listen(name, data, at):
        heard.append((name, data))

    event_subscribe(listen)
    try:
        invoice = issue(zoe_case, now=now)
    finally:
        event_unsubscribe(listen)
    issued = [d for n, d in heard if n == "invoice.issued"]
    assert issued == [
        {
            "invoice": invoice.pk,
            "number": "2026-000001",
            "source": "job:1",
            "customer": zoe_case.customer_id,
            "case": zoe_case.ref,
            "team": zoe_case.team_id,
            "currency": "GBP",
            "subtotal": 2598,
            "tax": 0,
            "total": 2598,
            "state": "issued",
        }
    ]
