"""Invoices issued at the same instant on PostgreSQL: no number twice, none skipped, and one
source billed once."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from lastmile.invoices.models import Invoice, InvoiceCounter
from lastmile.invoices.services import invoice_issue
from tests.invoices.conftest import lines

PER_THREAD = 8


def run_together(*targets):
    """Run each target in its own thread (its own connection), started at once; the
    exceptions they raised."""
    start = threading.Barrier(len(targets))
    errors = []

    def run(target):
        try:
            start.wait()
            target()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return errors


def issuer(case, now, sources, results):
    def issue_all():
        for source in sources:
            invoice = invoice_issue(
                source=source,
                customer_id=case.customer_id,
                team_id=case.team_id,
                case_id=case.pk,
                currency="GBP",
                lines=lines((1, 100)),
                actor=None,
                now=now,
                send=False,
            )
            results.append((source, invoice.number))

    return issue_all


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_invoices_issued_at_once_take_every_number_once(zoe_case, now):
    results: list[tuple[str, str]] = []
    errors = run_together(
        issuer(zoe_case, now, [f"a:{n}" for n in range(PER_THREAD)], results),
        issuer(zoe_case, now, [f"b:{n}" for n in range(PER_THREAD)], results),
        issuer(zoe_case, now, [f"c:{n}" for n in range(PER_THREAD)], results),
    )
    assert errors == []
    numbers = sorted(number for _, number in results)
    assert numbers == [f"2026-{n:06d}" for n in range(1, 3 * PER_THREAD + 1)]
    assert Invoice.objects.count() == 3 * PER_THREAD
    assert InvoiceCounter.objects.get(year=2026).last == 3 * PER_THREAD


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_one_source_issued_at_once_is_one_invoice_and_one_number(zoe_case, now):
    results: list[tuple[str, str]] = []
    errors = run_together(*(issuer(zoe_case, now, ["job:1"], results) for _ in range(3)))
    assert errors == []
    assert [number for _, number in results] == ["2026-000001"] * 3
    assert Invoice.objects.count() == 1
    assert InvoiceCounter.objects.get(year=2026).last == 1  # the losers' numbers given back
    following = issuer(zoe_case, now, ["job:2"], results)
    following()
    assert results[-1] == ("job:2", "2026-000002")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_one_invoice_at_once_email_it_once(zoe_case, now):
    from lastmile.channels.models import OutboxMessage
    from lastmile.invoices.services import invoice_deliver
    from lastmile.mail.models import EmailMessage

    # given an invoice waiting for its email, and its task run by two workers at once
    invoice = invoice_issue(
        source="job:1",
        customer_id=zoe_case.customer_id,
        team_id=zoe_case.team_id,
        case_id=zoe_case.pk,
        currency="GBP",
        lines=lines((1, 100)),
        actor=None,
        now=now,
    )
    results = []

    def send():
        results.append(invoice_deliver(invoice_id=invoice.pk, now=now))

    errors = run_together(send, send, send)

    # then one of them sent it and the others found nothing to do
    assert errors == []
    assert sorted(r is None for r in results) == [False, True, True]
    assert OutboxMessage.objects.count() == 1 and EmailMessage.objects.count() == 1
    assert Invoice.objects.get().send_status == "sent"
