"""Every write of invoices: issuing an invoice (numbered, taxed), sending it (by the worker:
its PDF attached to an email on the case, or a link to it emailed to a customer without a
case), recording a payment, voiding, and the per-team tax rate.

Numbers are ``<year>-<6 digits>``, sequential per calendar year (UTC) without a gap: the
year's ``InvoiceCounter`` row is locked in the transaction that writes the invoice, so two
issues take turns and a rolled-back issue gives its number back (``MAX()+1`` would hand two
concurrent issues the same number).

Money is integer minor units. A line's total is ``quantity * unit_price``; the tax is the
team's rate applied once to the invoice's subtotal, rounded half up to a minor unit.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from lastmile.cases.models import Case
from lastmile.core.audit import audited_delete, audited_save
from lastmile.core.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    FieldError,
    InvalidInput,
)
from lastmile.core.events import event_emit
from lastmile.core.ids import token_hash
from lastmile.customers.models import Customer
from lastmile.customers.services.customers import customer_live
from lastmile.invoices.models import (
    MAX_RATE_BP,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoiceState,
    Payment,
    PaymentMethod,
    PaymentOutcome,
    SendStatus,
    TaxRate,
)
from lastmile.invoices.money import money_format
from lastmile.loops.models import LoopKind
from lastmile.loops.services import loop_open
from lastmile.people.models import Team
from lastmile.people.viewers import Actor

log = logging.getLogger(__name__)

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = 10**13  # minor units: 100 billion in a two-decimal currency
CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class LineIn:
    """One line to invoice. ``unit_price`` in minor units of ``currency``; ``currency`` may
    be left "" (the invoice's), else it must be the invoice's."""

    sku: str
    description: str
    quantity: int
    unit_price: int
    currency: str = ""


class AlreadyPaid(Conflict):
    """An invoice is paid once: a second accepted payment (another reference) is refused."""

    def __init__(self, invoice: Invoice, payment: Payment | None) -> None:
        by = f" by {payment.reference}" if payment is not None else ""
        super().__init__(
            f"invoice {invoice.number} is paid already{by}",
            code=ErrorCode.ALREADY_PAID,
            errors=[FieldError("reference", f"invoice {invoice.number} is paid already")],
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def currency_check(currency: Any, *, field: str = "currency") -> str:
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not CURRENCY.match(code):
        raise InvalidInput(
            "a currency is an ISO 4217 code such as GBP",
            [FieldError(field, "an ISO 4217 code of three letters, e.g. GBP")],
        )
    return code


def lines_check(lines: Sequence[LineIn], *, currency: str) -> None:
    """Refuse lines that cannot be invoiced, naming each bad field with the line's index."""
    errors: list[FieldError] = []
    if not lines:
        errors.append(FieldError("lines", "at least one line"))
    elif len(lines) > MAX_LINES:
        errors.append(FieldError("lines", f"at most {MAX_LINES} lines"))
    for i, line in enumerate(lines[:MAX_LINES]):
        if not isinstance(line.description, str) or not line.description.strip():
            errors.append(FieldError("description", "must not be empty", index=i))
        elif len(line.description) > 300:
            errors.append(FieldError("description", "at most 300 characters", index=i))
        if not isinstance(line.sku, str) or len(line.sku) > 64:
            errors.append(FieldError("sku", "text of at most 64 characters", index=i))
        if not _is_int(line.quantity) or not 0 < line.quantity <= MAX_QUANTITY:
            errors.append(FieldError("quantity", f"a whole number, 1 to {MAX_QUANTITY}", index=i))
        if not _is_int(line.unit_price) or not 0 <= line.unit_price <= MAX_AMOUNT:
            errors.append(
                FieldError("unit_price", f"whole minor units, 0 to {MAX_AMOUNT}", index=i)
            )
        if line.currency and (
            not isinstance(line.currency, str) or line.currency.strip().upper() != currency
        ):
            errors.append(
                FieldError(
                    "currency",
                    f"{line.currency!s} differs from the invoice's {currency}: "
                    "one invoice, one currency",
                    index=i,
                )
            )
    if errors:
        first = errors[0]
        where = f"line {first.index + 1}: " if first.index is not None else ""
        raise InvalidInput(f"these lines cannot be invoiced: {where}{first.reason}", errors)


def tax_of(subtotal: int, rate_bp: int) -> int:
    """The tax on ``subtotal`` at ``rate_bp`` basis points, rounded half up to a minor unit.

    >>> tax_of(1000, 2000), tax_of(1, 5000), tax_of(3, 5000), tax_of(2598, 825)
    (200, 1, 2, 214)
    """
    exact = Decimal(subtotal) * Decimal(rate_bp) / Decimal(MAX_RATE_BP)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_rate_for(team_id: int) -> tuple[int, str]:
    """The team's tax rate (basis points) and label; 0 and "" without a rate."""
    row = TaxRate.objects.filter(team_id=team_id).values_list("rate_bp", "label").first()
    return (row[0], row[1]) if row is not None else (0, "")


def tax_rate_check(rate_bp: Any) -> None:
    if not _is_int(rate_bp) or not 0 <= rate_bp <= MAX_RATE_BP:
        raise InvalidInput(
            "a tax rate is 0 to 10000 basis points",
            [FieldError("rate_bp", "0 to 10000 basis points (2000 = 20 %)")],
        )


def tax_rate_save(*, rate: TaxRate, actor: Actor, now: datetime, actor_label: str = "") -> TaxRate:
    """Create or change a team's tax rate (checked first) with its audit row; invoices
    issued before keep the rate they were issued with."""
    tax_rate_check(rate.rate_bp)
    rate.label = (rate.label or "").strip()[:40] or "Tax"
    rate.updated_at = now
    audited_save(rate, actor=actor, now=now, actor_label=actor_label)
    return rate


def tax_rate_set(
    *, team: Team, rate_bp: int, label: str = "VAT", actor: Actor, now: datetime
) -> TaxRate:
    """Set ``team``'s tax rate to ``rate_bp`` basis points (``tax_rate_save``)."""
    rate = TaxRate.objects.filter(team=team).first() or TaxRate(team=team)
    rate.rate_bp, rate.label = rate_bp, label
    return tax_rate_save(rate=rate, actor=actor, now=now)


def tax_rate_delete(*, rate: TaxRate, actor: Actor, now: datetime, actor_label: str = "") -> None:
    """The team charges no tax from now on."""
    audited_delete(rate, actor=actor, now=now, actor_label=actor_label)


def invoice_number(year: int, sequence: int) -> str:
    return f"{year}-{sequence:06d}"


def _next_number(year: int) -> int:
    """The year's next number, its counter row locked until the caller's transaction ends."""
    counter = InvoiceCounter.objects.select_for_update().filter(year=year).first()
    if counter is None:  # the year's first invoice: a race to create the row is retried inside
        InvoiceCounter.objects.get_or_create(year=year)
        counter = InvoiceCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


def invoice_event_data(invoice: Invoice) -> dict[str, Any]:
    """What the ``invoice.*`` events (and their webhooks) carry; ``team`` scopes deliveries."""
    return {
        "invoice": invoice.pk,
        "number": invoice.number,
        "source": invoice.source,
        "customer": invoice.customer_id,
        "case": invoice.case.ref if invoice.case_id and invoice.case else None,
        "team": invoice.team_id,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": invoice.total,
        "state": invoice.state,
    }


def invoice_issue(
    *,
    source: str,
    customer_id: int,
    team_id: int,
    case_id: int | None,
    currency: str,
    lines: Sequence[LineIn],
    actor: Actor,
    now: datetime,
    send: bool = True,
) -> Invoice:
    """Issue the invoice of ``source`` (e.g. ``"job:123"``), or return the one issued already.

    1. The input is checked first (422 naming the field, line by line); nothing is written.
    2. ``source`` issued already: that invoice, unchanged (whatever the lines say now).
    3. In one transaction: the year's counter row is locked and the next number taken
       (``source`` is looked up again under the lock: a concurrent issue of it wins), the
       invoice and its lines written, the tax the team's rate of the subtotal (half up),
       ``invoice.issued`` told.
    4. With ``send``, the invoice is ``pending`` and the worker's ``invoice_send_task`` is
       queued when the transaction commits: it draws the PDF and emails it
       (``invoice_deliver``), so the caller (a job's completion through the API) waits for
       neither. The invoice's number, totals and ``pdf_url`` are there at once; the PDF is
       drawn on demand by whoever asks for it first.
    """
    source = (source or "").strip() if isinstance(source, str) else ""
    if not source or len(source) > 200:
        raise InvalidInput(
            "an invoice needs a source", [FieldError("source", "1 to 200 characters")]
        )
    currency = currency_check(currency)
    lines_check(lines, currency=currency)
    existing = Invoice.objects.filter(source=source).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        customer = Customer.objects.filter(pk=customer_id).first()
        team = Team.objects.filter(pk=team_id).first()
        case = Case.objects.filter(pk=case_id).first() if case_id is not None else None
        errors = []
        if customer is None:
            errors.append(FieldError("customer", f"no customer {customer_id}"))
        if team is None:
            errors.append(FieldError("team", f"no team {team_id}"))
        if case_id is not None and case is None:
            errors.append(FieldError("case", f"no case {case_id}"))
        elif (
            case is not None
            and customer is not None
            and case.customer_id not in (customer.pk, customer_live(customer).pk)
        ):
            errors.append(FieldError("case", f"{case.ref} is not this customer's case"))
        if errors:
            raise InvalidInput("cannot issue this invoice: " + errors[0].reason, errors)
        assert customer is not None and team is not None
        customer = customer_live(customer)  # merged since: the customer it became
        sequence = _next_number(now.year)
        again = Invoice.objects.filter(source=source).first()
        if again is not None:
            # Issued meanwhile: roll the counter back with this transaction.
            transaction.set_rollback(True)
            return again
        rate_bp, label = tax_rate_for(team.pk)
        subtotal = sum(line.quantity * line.unit_price for line in lines)
        tax = tax_of(subtotal, rate_bp)
        invoice = Invoice.objects.create(
            number=invoice_number(now.year, sequence),
            year=now.year,
            sequence=sequence,
            source=source,
            customer=customer,
            case=case,
            team=team,
            currency=currency,
            subtotal=subtotal,
            tax_rate_bp=rate_bp,
            tax_label=label,
            tax=tax,
            total=subtotal + tax,
            issued_at=now,
            issued_by=actor,
            send_status=SendStatus.PENDING if send else SendStatus.NONE,
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                position=i + 1,
                sku=line.sku.strip(),
                description=line.description.strip(),
                quantity=line.quantity,
                unit_price=line.unit_price,
                total=line.quantity * line.unit_price,
            )
            for i, line in enumerate(lines)
        )
        event_emit("invoice.issued", invoice_event_data(invoice), at=now)
        if send:
            invoice_send_queue(invoice)
    return invoice


def mail_options(invoice: Invoice) -> dict[str, Any]:
    """What the invoice's email asks of ``email_reply_queue`` beyond a reply: ``automated``
    (an invoice answers no question of the customer's, so it must not close the case's reply
    loops) and its own ``subject``."""
    return {"automated": True, "subject": f"Invoice {invoice.number}"}


def invoice_send_queue(invoice: Invoice) -> None:
    """Have the worker send ``invoice`` once the caller's transaction commits
    (``tasks.invoice_send_task``). A queue that cannot be reached is logged, not raised:
    the periodic ``invoices_send_pending`` sends what was left pending."""
    from lastmile.invoices.tasks import invoice_send_task

    def kick() -> None:
        try:
            invoice_send_task(invoice.pk)
        except Exception:
            log.warning(
                "invoice %s: could not queue its email; the periodic run sends it",
                invoice.number,
                exc_info=True,
            )

    transaction.on_commit(kick)


def _email_body(invoice: Invoice, *, link: str = "") -> str:
    total = money_format(invoice.total, invoice.currency)
    paid = " It is paid: thank you." if invoice.state == InvoiceState.PAID else ""
    if link:
        return (
            f"Hello,\n\nYour invoice {invoice.number} for {total} is ready.{paid}\n\n"
            f"Download it (PDF) here: {link}\n"
        )
    return f"Hello,\n\nPlease find attached invoice {invoice.number} for {total}.{paid}\n"


def invoice_link(token: str) -> str:
    """The customer's link to the invoice's PDF: no login, the random token is the key."""
    return f"{settings.LASTMILE_PUBLIC_URL.rstrip('/')}/api/v1/invoices/shared/{token}"


def _send_on_case(invoice: Invoice, pdf: bytes, *, now: datetime) -> str:
    """The PDF attached to an email on the invoice's case (``email_reply_queue``), so it is
    on the case's timeline; the address, or "" when the mail app refuses it."""
    from lastmile.channels.replies import OutgoingFile
    from lastmile.mail.services import email_reply_queue

    assert invoice.case is not None
    try:
        with transaction.atomic():  # a refusal rolls back only the email
            email = email_reply_queue(
                case=invoice.case,
                body=_email_body(invoice),
                actor=invoice.issued_by,
                now=now,
                files=[OutgoingFile(f"invoice-{invoice.number}.pdf", "application/pdf", pdf)],
                **mail_options(invoice),
            )
    except DomainError as exc:
        log.info("invoice %s not emailed: %s", invoice.number, exc)
        return ""
    return email.to[0] if email.to else ""


def _send_by_link(invoice: Invoice, *, now: datetime) -> str:
    """An invoice without a case: a notification through the outbox (the ``notification``
    contact rule decides when it goes) to the customer's email address, with a link to the
    PDF whose token only this email carries (the outbox sends no attachments). The
    address, or "" when the customer has none."""
    from lastmile.channels.services import outbox_enqueue, outbox_message
    from lastmile.recovery.services import customer_email

    recipient = customer_email(invoice.customer)
    if not recipient:
        log.info(
            "invoice %s not emailed: %s has no email address", invoice.number, invoice.customer
        )
        return ""
    token = secrets.token_urlsafe(24)
    invoice.link_token_hash = token_hash(token)
    Invoice.objects.filter(pk=invoice.pk).update(link_token_hash=invoice.link_token_hash)
    outbox_enqueue(
        [
            outbox_message(
                key=f"invoice:{invoice.pk}",
                purpose="notification",
                channel="email",
                recipient=recipient,
                customer=invoice.customer,
                subject=f"Invoice {invoice.number}",
                body=_email_body(invoice, link=invoice_link(token)),
                data={"invoice": invoice.pk, "number": invoice.number},
                now=now,
            )
        ]
    )
    return recipient


def invoice_deliver(*, invoice_id: int, now: datetime) -> Invoice | None:
    """The worker's send of an invoice issued with ``send``: its PDF emailed on its case
    (attached), or, without a case, a link to it emailed to the customer.

    Run twice (a retried task, the periodic sweep beside the task), it emails once: the
    invoice's row is locked and its ``send_status`` read again before anything is queued,
    and the email and the new status commit together. None when there was nothing to send
    (sent already, not to be sent, no such invoice); else the invoice, ``sent`` with
    ``sent_to`` or ``unsent`` (no email address, the mail app refused it).
    """
    from lastmile.invoices.pdf import invoice_pdf

    pending = Invoice.objects.select_related("customer", "case", "team").filter(
        pk=invoice_id, send_status=SendStatus.PENDING
    )
    invoice = pending.first()
    if invoice is None:
        return None
    # Drawn before the lock: the PDF takes longer than the rest of the send.
    pdf = invoice_pdf(invoice) if invoice.case_id is not None else b""
    with transaction.atomic():
        invoice = pending.select_for_update(of=("self",)).first()
        if invoice is None:  # sent meanwhile by another run
            return None
        if invoice.case_id is not None and invoice.case is not None:
            sent_to = _send_on_case(invoice, pdf, now=now)
        else:
            sent_to = _send_by_link(invoice, now=now)
        invoice.sent_to = sent_to
        invoice.send_status = SendStatus.SENT if sent_to else SendStatus.UNSENT
        invoice.sent_at = now
        invoice.save(update_fields=["sent_to", "send_status", "sent_at"])
    return invoice


# A pending invoice younger than this is left to its own task.
SEND_GRACE = timedelta(minutes=2)
SEND_BATCH = 200


def invoices_send_pending(*, now: datetime, limit: int = SEND_BATCH) -> int:
    """Send the invoices still pending ``SEND_GRACE`` after their issue (their task was lost:
    the queue was down, the worker died); how many were sent or found unsendable."""
    ids = list(
        Invoice.objects.filter(send_status=SendStatus.PENDING, issued_at__lte=now - SEND_GRACE)
        .order_by("issued_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if invoice_deliver(invoice_id=pk, now=now) is not None)


# --- payments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRecorded:
    payment: Payment
    invoice: Invoice
    created: bool  # False: the same reference was recorded before, this is that payment


def billing_team(invoice: Invoice) -> Team:
    """Who chases a refused payment: the team ``LASTMILE_BILLING_TEAM`` names (a slug), else
    the invoice's own team. A slug naming no team fails loudly."""
    slug = settings.LASTMILE_BILLING_TEAM.strip()
    if not slug:
        return invoice.team
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise ImproperlyConfigured(f"LASTMILE_BILLING_TEAM: no team with slug {slug!r}")
    return team


def payment_check(*, reference: Any, amount: Any, method: Any, outcome: Any) -> str:
    errors = []
    reference = reference.strip() if isinstance(reference, str) else ""
    if not reference or len(reference) > 200:
        errors.append(FieldError("reference", "1 to 200 characters"))
    if not _is_int(amount) or not 0 < amount <= MAX_AMOUNT:
        errors.append(FieldError("amount", f"whole minor units, 1 to {MAX_AMOUNT}"))
    if method not in PaymentMethod.values:
        errors.append(FieldError("method", f"one of {', '.join(PaymentMethod.values)}"))
    if outcome not in PaymentOutcome.values:
        errors.append(FieldError("outcome", f"one of {', '.join(PaymentOutcome.values)}"))
    if errors:
        raise InvalidInput("this payment cannot be recorded: " + errors[0].reason, errors)
    return reference


def payment_record(
    *,
    invoice: Invoice,
    reference: str,
    amount: int,
    method: str,
    outcome: str,
    actor: Actor,
    now: datetime,
) -> PaymentRecorded:
    """Record a payment taken outside (a card terminal, a payment link, cash) on ``invoice``.

    1. Checked first (422 naming the field); the invoice's row is then locked, so two
       payments on one invoice take turns.
    2. ``reference`` recorded already on this invoice: that payment (``created`` False) if
       it says the same (amount, method, outcome), else 409 — a replay changes nothing.
    3. A void invoice takes no payment (409); a paid one no other (409 ``already_paid``).
    4. Accepted: ``amount`` must be the invoice's total (422 ``amount``); the invoice is
       paid and ``invoice.paid`` told.
       Refused: the invoice stays issued (open) and a ``followup`` loop opens for the
       billing team (``billing_team``) on the invoice's case; ``invoice.payment_refused``.
    """
    reference = payment_check(reference=reference, amount=amount, method=method, outcome=outcome)
    with transaction.atomic():
        fresh = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("team", "case", "customer")
            .get(pk=invoice.pk)
        )
        before = Payment.objects.filter(invoice=fresh, reference=reference).first()
        if before is not None:
            if (before.amount, before.method, before.outcome) != (amount, method, outcome):
                raise Conflict(
                    f"payment {reference} was recorded before as {before.outcome}, "
                    f"{before.amount} by {before.method}",
                    errors=[FieldError("reference", "recorded before with other details")],
                )
            return PaymentRecorded(before, fresh, False)
        if fresh.state == InvoiceState.VOID:
            raise Conflict(
                f"invoice {fresh.number} is void: it takes no payment",
                errors=[FieldError("invoice", "is void")],
            )
        if fresh.state == InvoiceState.PAID:
            paid = fresh.payments.filter(outcome=PaymentOutcome.ACCEPTED).first()
            raise AlreadyPaid(fresh, paid)
        if outcome == PaymentOutcome.ACCEPTED and amount != fresh.total:
            raise InvalidInput(
                f"the payment must be the invoice's total, {fresh.total}",
                [FieldError("amount", f"must equal the invoice's total, {fresh.total}")],
            )
        payment = Payment(
            invoice=fresh,
            reference=reference,
            amount=amount,
            currency=fresh.currency,
            method=method,
            outcome=outcome,
            at=now,
            actor=actor,
        )
        if outcome == PaymentOutcome.ACCEPTED:
            payment.save()
            fresh.state = InvoiceState.PAID
            fresh.paid_at = now
            fresh.save(update_fields=["state", "paid_at"])
            event_emit(
                "invoice.paid",
                {**invoice_event_data(fresh), "payment": reference, "method": method},
                at=now,
            )
        else:
            team = billing_team(fresh)
            said = money_format(amount, fresh.currency)
            payment.followup_loop = loop_open(
                customer=fresh.customer,
                case=fresh.case,
                team=team,
                kind=LoopKind.FOLLOWUP,
                title=f"Payment refused on invoice {fresh.number}: collect {said}",
                actor=actor,
                reason=f"{PaymentMethod(method).label} payment {reference} of {said} refused",
                now=now,
            )
            payment.save()
            event_emit(
                "invoice.payment_refused",
                {
                    **invoice_event_data(fresh),
                    "payment": reference,
                    "method": method,
                    "followup_loop": payment.followup_loop.pk,
                },
                at=now,
            )
    invoice.state, invoice.paid_at = fresh.state, fresh.paid_at
    return PaymentRecorded(payment, fresh, True)


def invoice_void(*, invoice: Invoice, reason: str, actor: Actor, now: datetime) -> Invoice:
    """Void an unpaid invoice; its number stays taken (no gap). A paid invoice cannot be
    voided (409); voiding a void one again changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the invoice is void", [FieldError("reason", "required")])
    with transaction.atomic():
        fresh = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice.pk)
        if fresh.state == InvoiceState.VOID:
            return fresh
        if fresh.state == InvoiceState.PAID:
            raise Conflict(
                f"invoice {fresh.number} is paid: it cannot be voided",
                errors=[FieldError("invoice", "is paid")],
            )
        fresh.state = InvoiceState.VOID
        fresh.voided_at = now
        fresh.void_reason = reason[:300]
        fresh.save(update_fields=["state", "voided_at", "void_reason"])
        event_emit("invoice.voided", {**invoice_event_data(fresh), "reason": reason}, at=now)
    return fresh
