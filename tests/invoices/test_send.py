"""Sending invoices: the worker draws the PDF and emails it, once; on the case attached, or
to a customer without a case by an unguessable link; the completion through the API waits
for neither."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail

from lastmile.api.services import token_create
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.core.ids import token_hash
from lastmile.invoices.models import Invoice
from lastmile.invoices.selectors import pdf_url
from lastmile.invoices.services import (
    SEND_GRACE,
    invoice_deliver,
    invoice_issue,
    invoices_send_pending,
)
from lastmile.invoices.tasks import invoice_send_task
from lastmile.mail.models import Attachment, EmailMessage
from tests.api.client import Api
from tests.invoices.conftest import SIGNATURE, booked, lines

pytestmark = pytest.mark.django_db

LINK = "http://testserver/api/v1/invoices/shared/"


@pytest.fixture
def worker():
    """The worker runs each task as soon as it is queued (huey's immediate mode)."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield
    HUEY.immediate = False


@pytest.fixture
def public_url(settings):
    settings.LASTMILE_PUBLIC_URL = "http://testserver"


def issue(customer_id, team_id, case_id, *, now, source="job:1", send=True):
    return invoice_issue(
        source=source,
        customer_id=customer_id,
        team_id=team_id,
        case_id=case_id,
        currency="GBP",
        lines=lines((2, 1299)),
        actor=None,
        now=now,
        send=send,
    )


def issue_on(case, **kw):
    return issue(case.customer_id, case.team_id, case.pk, **kw)


def issue_without_case(customer, team, **kw):
    return issue(customer.pk, team.pk, None, **kw)


# --- on the case: the PDF attached -------------------------------------------------------


def test_issuing_queues_the_send_for_the_worker_and_emails_nothing_itself(
    zoe_case, now, django_capture_on_commit_callbacks
):
    # when an invoice is issued with send, and its transaction commits (the worker is off)
    with django_capture_on_commit_callbacks() as callbacks:
        invoice = issue_on(zoe_case, now=now)

    # then it is numbered and pending, nothing is emailed yet, and a task waits for commit
    assert (invoice.number, invoice.send_status, invoice.sent_to) == ("2026-000001", "pending", "")
    assert not OutboxMessage.objects.exists() and not EmailMessage.objects.exists()
    assert len(callbacks) == 1


@pytest.mark.usefixtures("frozen_clock")
def test_the_worker_emails_the_pdf_on_the_case_through_the_outbox(
    zoe_case, now, worker, django_capture_on_commit_callbacks
):
    # when the invoice's transaction commits and the worker runs its task
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue_on(zoe_case, now=now)

    # then the PDF went by email on the case, attached, and the invoice says where
    invoice.refresh_from_db()
    assert (invoice.send_status, invoice.sent_to, invoice.sent_at) == (
        "sent",
        "zoe@example.com",
        now,
    )
    message = OutboxMessage.objects.get()
    assert (message.recipient, message.channel, message.case_id) == (
        "zoe@example.com",
        "email:files",
        zoe_case.pk,
    )
    assert "2026-000001" in message.body and "£25.98" in message.body
    email = EmailMessage.objects.get(case=zoe_case)
    attachment = Attachment.objects.get(email=email)
    assert (attachment.filename, attachment.content_type) == (
        "invoice-2026-000001.pdf",
        "application/pdf",
    )
    assert email.interaction.case_id == zoe_case.pk  # on the case's timeline
    assert invoice.link_token_hash == ""  # no link: the PDF is attached


def test_a_task_run_twice_emails_once(zoe_case, now):
    # given an issued invoice whose task is delivered twice (a retry, a duplicate)
    invoice = issue_on(zoe_case, now=now)

    # when the task runs twice
    invoice_send_task.call_local(invoice.pk)
    invoice_send_task.call_local(invoice.pk)

    # then one email is queued, and a third run by the service is told there was nothing
    assert OutboxMessage.objects.count() == 1 and EmailMessage.objects.count() == 1
    assert invoice_deliver(invoice_id=invoice.pk, now=now) is None
    assert Invoice.objects.get().send_status == "sent"


def test_an_invoice_issued_without_send_is_never_sent(zoe_case, now):
    invoice = issue_on(zoe_case, now=now, send=False)
    assert invoice.send_status == ""
    assert invoice_deliver(invoice_id=invoice.pk, now=now) is None
    assert invoices_send_pending(now=now + timedelta(days=1)) == 0
    assert not OutboxMessage.objects.exists()


def test_the_invoice_email_leaves_the_customers_question_unanswered(team, now):
    from lastmile.loops.models import Loop
    from tests.cases.factories import customer_case

    case = customer_case(
        team=team,
        name="Zoë",
        email="zoe@example.com",
        subject="Washer",
        channel="email",
        now=now,
        wrote="Where is my washer?",
    )
    invoice = issue_on(case, now=now)
    invoice_deliver(invoice_id=invoice.pk, now=now)
    assert OutboxMessage.objects.count() == 1
    assert list(Loop.objects.values_list("kind", "state")) == [("reply", "open")]


def test_a_customer_without_an_email_address_gets_the_invoice_unsent(team, now):
    from tests.cases.factories import CaseFactory

    case = CaseFactory(team=team)
    invoice = issue_on(case, now=now)
    sent = invoice_deliver(invoice_id=invoice.pk, now=now)
    assert sent is not None and (sent.send_status, sent.sent_to) == ("unsent", "")
    assert not OutboxMessage.objects.exists()
    assert invoice_deliver(invoice_id=invoice.pk, now=now) is None  # not tried again


# --- without a case: a link through the outbox --------------------------------------------


def test_an_invoice_without_a_case_is_emailed_to_the_customer_with_a_link(
    zoe, team, now, client, public_url
):
    # given an invoice of Zoë's with no case
    invoice = issue_without_case(zoe, team, now=now)

    # when the worker sends it
    invoice_deliver(invoice_id=invoice.pk, now=now)

    # then a notification to her address is in the outbox, with a link to the PDF
    invoice.refresh_from_db()
    assert (invoice.send_status, invoice.sent_to) == ("sent", "zoe@example.com")
    message = OutboxMessage.objects.get()
    assert (message.purpose, message.channel, message.recipient, message.customer_id) == (
        "notification",
        "email",
        "zoe@example.com",
        zoe.pk,
    )
    assert message.subject == "Invoice 2026-000001" and "£25.98" in message.body
    token = message.body.split(LINK, 1)[1].split()[0]
    # the token is only in the email: the invoice keeps its hash
    assert len(token) >= 32 and invoice.link_token_hash == token_hash(token)
    assert token not in str(Invoice.objects.values().get())

    # and the link opens the PDF with no login
    r = client.get(f"/api/v1/invoices/shared/{token}")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and "invoice-2026-000001.pdf" in r["Content-Disposition"]


def test_a_wrong_link_token_is_a_404(zoe, team, now, client):
    invoice = issue_without_case(zoe, team, now=now)
    invoice_deliver(invoice_id=invoice.pk, now=now)
    for token in ("x" * 32, "short", invoice.link_token_hash):  # the stored hash is no key
        r = client.get(f"/api/v1/invoices/shared/{token}")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_the_link_email_goes_out_under_the_notification_contact_rule(zoe, team, now, public_url):
    from lastmile.channels.models import ContactRule

    # given a notification rule of quiet hours that holds the night
    ContactRule.objects.filter(purpose="notification").delete()
    ContactRule.objects.create(purpose="notification", quiet_start=time(21), quiet_end=time(8))
    night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    invoice = issue_without_case(zoe, team, now=night)
    invoice_deliver(invoice_id=invoice.pk, now=night)

    # then it is held at night and goes in the morning, with the link
    assert outbox_deliver(now=night).sent == 0 and mail.outbox == []
    assert outbox_deliver(now=night + timedelta(hours=10)).sent == 1
    assert mail.outbox[0].to == ["zoe@example.com"] and LINK in mail.outbox[0].body


def test_a_customer_without_a_case_or_an_email_address_is_left_unsent(team, now):
    from tests.customers.factories import CustomerFactory

    customer = CustomerFactory()
    invoice = issue_without_case(customer, team, now=now)
    sent = invoice_deliver(invoice_id=invoice.pk, now=now)
    assert sent is not None and (sent.send_status, sent.sent_to) == ("unsent", "")
    assert not OutboxMessage.objects.exists() and sent.link_token_hash == ""


# --- the sweep of lost tasks ----------------------------------------------------------------


def test_the_periodic_sweep_sends_what_its_task_left_pending(zoe_case, now):
    # given an invoice whose task never ran (the queue was down)
    invoice = issue_on(zoe_case, now=now)

    # then the sweep leaves it to its task for a while, then sends it, once
    assert invoices_send_pending(now=now + SEND_GRACE - timedelta(seconds=1)) == 0
    assert invoices_send_pending(now=now + SEND_GRACE) == 1
    assert invoices_send_pending(now=now + SEND_GRACE * 2) == 0
    assert OutboxMessage.objects.count() == 1
    assert Invoice.objects.get(pk=invoice.pk).send_status == "sent"


def test_a_queue_that_cannot_be_reached_leaves_the_invoice_pending(
    zoe_case, now, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError("queue down")

    monkeypatch.setattr("lastmile.invoices.tasks.invoice_send_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue_on(zoe_case, now=now)
    assert Invoice.objects.get(pk=invoice.pk).send_status == "pending"


# --- the completion of a job through the API ------------------------------------------------


@pytest.mark.usefixtures("frozen_clock")
def test_completing_a_job_answers_with_the_invoice_before_the_worker_emails_it(
    client, alice, zoe_case, now, worker, django_capture_on_commit_callbacks
):
    # given a job on Zoë's case, arrived and signed for
    job = booked(zoe_case, now)
    api = Api(client, token_create(name="alice-phone", now=now, agent=alice.agent)[1])
    assert api.post(f"/jobs/{job.pk}/start").status_code == 200
    assert api.post(f"/jobs/{job.pk}/arrive").status_code == 200
    proof = {"kind": "signature", "data": SIGNATURE}
    assert api.post(f"/jobs/{job.pk}/proofs", proof).status_code == 201

    # when the driver completes it (the request's transaction done, the worker not yet run)
    with django_capture_on_commit_callbacks() as callbacks:
        r = api.post(f"/jobs/{job.pk}/complete")

    # then the answer carries the invoice's number, total and PDF link, and nothing is sent
    assert r.status_code == 200
    invoice = Invoice.objects.get()
    assert r.json()["invoice"] == {
        "number": "2026-000001",
        "total": 39900,
        "currency": "GBP",
        "pdf_url": pdf_url(invoice),
    }
    assert invoice.send_status == "pending" and not EmailMessage.objects.exists()
    # and the PDF link draws the PDF on demand before the worker has run
    pdf = api.client.get(f"/api/v1/invoices/{invoice.pk}/pdf", **api.headers)  # the pdf_url's path
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

    # when the worker runs what the completion queued
    for callback in callbacks:
        callback()

    # then the invoice is emailed on the case, once
    assert Invoice.objects.get().send_status == "sent"
    assert Attachment.objects.get().filename == "invoice-2026-000001.pdf"
