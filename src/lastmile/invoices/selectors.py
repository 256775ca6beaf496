"""Reads of invoices, scoped to a viewer: an agent sees their teams' invoices (an admin and
``SYSTEM`` all); not visible is the same 404 as missing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from lastmile.core.errors import NotFound
from lastmile.core.ids import token_hash
from lastmile.invoices.models import Invoice
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
