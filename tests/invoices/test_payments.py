"""Payments: paid once, replays idempotent, a refusal opens the billing team's follow-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from lastmile.core.errors import Conflict, ErrorCode, InvalidInput
from lastmile.invoices.models import Invoice, Payment
from lastmile.invoices.services import invoice_issue, invoice_void, payment_record
from lastmile.loops.models import Loop
from tests.invoices.conftest import lines
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(zoe_case, now):
    return invoice_issue(
        source="job:1",
        customer_id=zoe_case.customer_id,
        team_id=zoe_case.team_id,
        case_id=zoe_case.pk,
        currency="GBP",
        lines=lines((2, 1299)),
        actor=None,
        now=now,
        send=False,
    )


def pay(invoice, *, reference="T-1", amount=2598, method="card_terminal", outcome="accepted", now):
    return payment_record(
        invoice=invoice,
        reference=reference,
        amount=amount,
        method=method,
        outcome=outcome,
        actor=None,
        now=now,
    )


def test_an_accepted_payment_marks_the_invoice_paid(invoice, now):
    recorded = pay(invoice, now=now)
    assert recorded.created and recorded.payment.outcome == "accepted"
    fresh = Invoice.objects.get(pk=invoice.pk)
    assert (fresh.state, fresh.paid_at) == ("paid", now)
    assert invoice.state == "paid"  # the caller's object follows


def test_a_second_accepted_payment_is_refused_already_paid_and_nothing_changes(invoice, now):
    pay(invoice, reference="T-1", now=now)
    with pytest.raises(Conflict) as caught:
        pay(invoice, reference="T-2", now=now + timedelta(minutes=1))
    assert caught.value.status == 409
    assert caught.value.code == ErrorCode.ALREADY_PAID == "already_paid"
    assert "paid already by T-1" in caught.value.detail
    assert list(Payment.objects.values_list("reference", flat=True)) == ["T-1"]


def test_the_same_reference_replayed_returns_the_first_payment(invoice, now):
    first = pay(invoice, now=now)
    again = pay(invoice, now=now + timedelta(minutes=5))
    assert not again.created and again.payment.pk == first.payment.pk
    assert again.payment.at == now and Payment.objects.count() == 1


def test_a_reference_replayed_with_other_details_is_a_conflict(invoice, now):
    pay(invoice, outcome="refused", now=now)
    with pytest.raises(Conflict) as caught:
        pay(invoice, outcome="accepted", now=now)
    assert caught.value.errors[0].field == "reference"
    assert Payment.objects.count() == 1 and Invoice.objects.get().state == "issued"


def test_an_accepted_payment_must_be_the_total(invoice, now):
    with pytest.raises(InvalidInput) as caught:
        pay(invoice, amount=2000, now=now)
    assert caught.value.errors[0].field == "amount"
    assert not Payment.objects.exists() and Invoice.objects.get().state == "issued"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reference": " "}, "reference"),
        ({"amount": 0}, "amount"),
        ({"amount": "2598"}, "amount"),
        ({"method": "cheque"}, "method"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_bad_payments_are_refused_naming_the_field(invoice, now, changes, field):
    with pytest.raises(InvalidInput) as caught:
        pay(invoice, now=now, **changes)
    assert caught.value.errors[0].field == field
    assert not Payment.objects.exists()


def test_a_refused_payment_leaves_the_invoice_open_with_a_followup_for_the_team(
    invoice, zoe_case, now
):
    recorded = pay(invoice, reference="T-9", method="payment_link", outcome="refused", now=now)
    assert Invoice.objects.get().state == "issued"
    loop = Loop.objects.get(pk=recorded.payment.followup_loop_id)
    assert (loop.kind, loop.state, loop.team_id, loop.case_id, loop.customer_id) == (
        "followup",
        "open",
        zoe_case.team_id,
        zoe_case.pk,
        zoe_case.customer_id,
    )
    assert loop.title == "Payment refused on invoice 2026-000001: collect £25.98"
    # Then the customer pays another way: accepted.
    assert pay(invoice, reference="T-10", method="cash", now=now).invoice.state == "paid"


def test_the_billing_team_setting_takes_the_followup(invoice, now, settings):
    billing = TeamFactory(slug="billing", name="Billing")
    settings.LASTMILE_BILLING_TEAM = "billing"
    recorded = pay(invoice, outcome="refused", now=now)
    assert recorded.payment.followup_loop.team_id == billing.pk


def test_a_billing_team_that_does_not_exist_fails_loudly(invoice, now, settings):
    settings.LASTMILE_BILLING_TEAM = "nobody"
    with pytest.raises(ImproperlyConfigured):
        pay(invoice, outcome="refused", now=now)
    assert not Payment.objects.exists()


def test_a_void_invoice_takes_no_payment(invoice, now):
    invoice_void(invoice=invoice, reason="issued by mistake", actor=None, now=now)
    with pytest.raises(Conflict):
        pay(invoice, now=now)
    assert not Payment.objects.exists()


def test_a_paid_invoice_cannot_be_voided(invoice, now):
    pay(invoice, now=now)
    with pytest.raises(Conflict):
        invoice_void(invoice=invoice, reason="oops", actor=None, now=now)
    assert Invoice.objects.get().state == "paid"


def test_voiding_keeps_the_number_and_twice_changes_nothing(invoice, now):
    first = invoice_void(invoice=invoice, reason="duplicate", actor=None, now=now)
    again = invoice_void(invoice=invoice, reason="again", actor=None, now=now + timedelta(hours=1))
    assert (again.state, again.voided_at, again.void_reason) == ("void", now, "duplicate")
    assert first.number == again.number == "2026-000001"


def test_the_database_refuses_a_second_accepted_payment_row(invoice, now):
    from django.db import IntegrityError, transaction

    pay(invoice, now=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            invoice=invoice,
            reference="T-X",
            amount=2598,
            currency="GBP",
            method="cash",
            outcome="accepted",
            at=now,
        )


def test_invoice_events_reach_a_subscription_to_invoices_of_the_team(
    invoice, zoe_case, other_team, now, webhooks_to_loopback
):
    from lastmile.webhooks.models import Delivery
    from lastmile.webhooks.services.subscriptions import subscription_create

    mine, _ = subscription_create(
        name="erp", url="http://127.0.0.1:9/erp", events=["invoice.*"], now=now
    )
    subscription_create(
        name="other",
        url="http://127.0.0.1:9/other",
        events=["invoice.*"],
        team=other_team,
        now=now,
    )
    pay(invoice, reference="T-1", outcome="refused", now=now)
    pay(invoice, reference="T-2", now=now)
    sent = list(
        Delivery.objects.order_by("id").values_list("subscription__name", "event", "payload")
    )
    assert [(name, event) for name, event, _ in sent] == [
        ("erp", "invoice.payment_refused"),
        ("erp", "invoice.paid"),
    ]
    refused, paid = (payload["data"] for _, _, payload in sent)
    assert refused["number"] == paid["number"] == "2026-000001"
    assert refused["followup_loop"] == Payment.objects.get(reference="T-1").followup_loop_id
    assert (paid["state"], paid["payment"], paid["method"]) == ("paid", "T-2", "card_terminal")
