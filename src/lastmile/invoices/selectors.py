"""Reads of invoices, scoped to a viewer: an agent sees their teams' invoices (an admin and
``SYSTEM`` all); not visible is the same 404 as missing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from lastmile.core.errors import NotFound
from lastmile.core.events import grants
from lastmile.core.ids import token_hash
from lastmile.invoices.models import Invoice, InvoiceState
from lastmile.invoices.money import money_format
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer


def invoices_visible(*, viewer: Viewer) -> QuerySet[Invoice]:
    qs = Invoice.objects.all()
    teams = visible_team_ids(viewer)
    return qs if teams is None else qs.filter(team_id__in=teams)


def invoice_get(*, invoice_id: int, viewer: Viewer) -> Invoice:
    """The invoice with its team, case and customer, if ``viewer`` may see it; else 404."""
    invoices = invoices_visible(viewer=viewer)  # the viewer is checked before the lookup
    invoice = (
        invoices.select_related("team", "case", "customer").filter(pk=invoice_id).first()
        if 0 < invoice_id < 2**63
        else None
    )
    if invoice is None:
        raise NotFound(f"invoice {invoice_id}")
    return invoice


def invoice_by_link(*, token: str) -> Invoice:
    """The invoice a customer's emailed link names, with no login: the random token is the
    key (stored only as its SHA-256). Any other token is a 404."""
    invoice = (
        Invoice.objects.select_related("customer", "case", "team")
        .filter(link_token_hash=token_hash(token))
        .first()
        if isinstance(token, str) and 20 <= len(token) <= 100
        else None
    )
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def invoice_list(
    *, viewer: Viewer, customer_id: int | None = None, state: str | None = None
) -> QuerySet[Invoice]:
    """The viewer's invoices, newest first, of one customer and in one state if given;
    with their lines and payments read in one query each (``prefetch_related``)."""
    qs = invoices_visible(viewer=viewer).select_related("team", "case")
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if state is not None:
        qs = qs.filter(state=state)
    return qs.prefetch_related("lines", "payments").order_by("-issued_at", "-id")


def pdf_url(invoice: Invoice) -> str:
    """Where the invoice's PDF is, for an API client (``LASTMILE_PUBLIC_URL`` + the path)."""
    return settings.LASTMILE_PUBLIC_URL.rstrip("/") + invoice.pdf_path


def invoice_out(invoice: Invoice) -> dict[str, Any]:
    """The invoice as the API shows it, and as a job embeds it (``"invoice": {...}``)."""
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "source": invoice.source,
        "state": invoice.state,
        "customer": invoice.customer_id,
        "case": invoice.case.ref if invoice.case_id and invoice.case is not None else None,
        "team": invoice.team.slug,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "tax_rate_bp": invoice.tax_rate_bp,
        "tax": invoice.tax,
        "total": invoice.total,
        "issued_at": invoice.issued_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "sent_to": invoice.sent_to,
        "send_status": invoice.send_status,
        "pdf_url": pdf_url(invoice),
        "lines": [
            {
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "total": line.total,
            }
            for line in invoice.lines.all()
        ],
        "payments": [
            {
                "reference": p.reference,
                "amount": p.amount,
                "method": p.method,
                "outcome": p.outcome,
                "at": p.at,
                "followup_loop": p.followup_loop_id,
            }
            for p in invoice.payments.all()
        ],
    }


# --- the case page's billing panel ------------------------------------------------------------

# The apps above invoices that do work on a case (jobs) tell the panel about it through this
# grant: ``fn(case=, viewer=)`` answers the ``CaseJob``s of the case the viewer may see.
CASE_JOBS = "case.jobs"
CASE_INVOICES_SHOWN = 50
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CaseJob:
    """A piece of work on the case as the billing panel shows it (a job's app makes these)."""

    id: int
    label: str  # "Delivery #12"
    state: str
    state_label: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    team: str = ""
    url: str = ""  # the agents' page of it (the admin)
    tracking_url: str = ""  # the customer's page of it
    invoice_number: str = ""


@dataclass(frozen=True)
class CaseInvoice:
    invoice: Invoice
    total: str  # "£12.99"
    state_label: str
    pdf_path: str
    sent: str  # where it was emailed, or why not yet


@dataclass(frozen=True)
class CaseBilling:
    jobs: list[CaseJob] = field(default_factory=list)
    invoices: list[CaseInvoice] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.jobs and not self.invoices

    @property
    def count(self) -> int:
        return len(self.jobs) + len(self.invoices)


def _sent_words(invoice: Invoice) -> str:
    if invoice.sent_to:
        return f"emailed to {invoice.sent_to}"
    return {
        "pending": "being sent",
        "unsent": "not emailed: no address",
    }.get(invoice.send_status, "not emailed")


def case_billing(*, case: Any, viewer: Viewer) -> CaseBilling:
    """The jobs and invoices of ``case`` that ``viewer`` may see, for the case page: the jobs
    from the apps that grant ``case.jobs`` (soonest window first), the invoices of the
    viewer's teams on the case (newest first, with their PDF's path and whether they were
    emailed)."""
    jobs: list[CaseJob] = []
    for grant in grants(CASE_JOBS):
        found: Iterable[CaseJob] = grant(case=case, viewer=viewer)
        jobs.extend(found)
    jobs.sort(key=lambda j: (j.window_start is None, j.window_start or _NEVER, j.id))
    invoices = (
        invoices_visible(viewer=viewer)
        .filter(case_id=case.pk)
        .order_by("-issued_at", "-id")[:CASE_INVOICES_SHOWN]
    )
    return CaseBilling(
        jobs=jobs,
        invoices=[
            CaseInvoice(
                invoice=invoice,
                total=money_format(invoice.total, invoice.currency),
                state_label="Open"
                if invoice.state == InvoiceState.ISSUED
                else InvoiceState(invoice.state).label,
                pdf_path=invoice.pdf_path,
                sent=_sent_words(invoice),
            )
            for invoice in invoices
        ],
    )
