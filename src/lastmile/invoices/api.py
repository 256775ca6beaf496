"""The invoices API, under /api/v1/invoices: read invoices (the token's agent sees their
teams' invoices, an integration token all), fetch the PDF, record a payment.

Invoices are issued by the work they bill (a completed job), not through this API. Bad
input is a 422 naming the field; a second accepted payment is a 409 ``already_paid``.

The PDF (``pdf_url``) also opens for an agent signed in to the console (the session, as
that agent); an invoice without a case is emailed to its customer with a link,
``/shared/<token>``, which needs no login.
"""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from ninja.security import SessionAuth
from pydantic import Field

from lastmile.api.auth import TokenAuth, viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema
from lastmile.core.clock import utcnow
from lastmile.invoices.models import Invoice, PaymentMethod, PaymentOutcome
from lastmile.invoices.pdf import invoice_pdf
from lastmile.invoices.selectors import invoice_by_link, invoice_get, invoice_list, invoice_out
from lastmile.invoices.services import MAX_AMOUNT, payment_record
from lastmile.people.viewers import actor_of

router = Router(tags=["invoices"])


class AgentSession(SessionAuth):
    """An agent signed in to the console reads as themselves (their teams' invoices), as an
    agent's token would: the console links to the PDF."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if user.is_authenticated and user.is_active:
            request.viewer = user  # type: ignore[attr-defined]
            return user
        return None


PDF_RESPONSES = {
    "responses": {
        200: {
            "description": "The PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def pdf_response(invoice: Invoice) -> HttpResponse:
    """The invoice's PDF, drawn now from what the invoice says now (paid, void)."""
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="invoice-{invoice.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


class LineOut(Schema):
    sku: str
    description: str
    quantity: int
    unit_price: int = Field(description="Minor units of the invoice's currency")
    total: int


class PaymentOut(Schema):
    reference: str
    amount: int
    method: str
    outcome: str
    at: datetime
    followup_loop: int | None = Field(description="The billing team's loop, if refused")


class InvoiceOut(Schema):
    id: int
    number: str = Field(description="Sequential per year: 2026-000123")
    source: str
    state: str = Field(description="issued (open), paid or void")
    customer: int
    case: str | None
    team: str
    currency: str
    subtotal: int
    tax_rate_bp: int = Field(description="The tax rate in basis points (2000 = 20 %)")
    tax: int
    total: int = Field(description="Minor units: subtotal + tax")
    issued_at: datetime
    paid_at: datetime | None
    voided_at: datetime | None
    sent_to: str = Field(description="Where the PDF was emailed; empty if it was not")
    send_status: str = Field(
        description="pending (the worker has yet to email it), sent, unsent (no address), "
        "or empty (not to be emailed)"
    )
    pdf_url: str
    lines: list[LineOut]
    payments: list[PaymentOut]


class InvoicesQuery(Schema):
    customer: int | None = Field(default=None, ge=1, le=2**62)
    state: Literal["issued", "paid", "void"] | None = None


class PaymentIn(StrictSchema):
    reference: str = Field(
        min_length=1, max_length=200, description="The terminal's or link's payment id"
    )
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="Minor units; the invoice's total")
    method: Literal[tuple(PaymentMethod.values)]  # type: ignore[valid-type]
    outcome: Literal[tuple(PaymentOutcome.values)]  # type: ignore[valid-type]


class PaymentRecordedOut(Schema):
    payment: PaymentOut
    invoice: InvoiceOut


@router.get(
    "",
    response=list[InvoiceOut],
    summary="Invoices of the viewer's teams, newest first (an integration token: all)",
)
@paginate(BoundedLimitOffset)
def invoices_get(request: HttpRequest, filters: Query[InvoicesQuery]) -> Any:
    qs = invoice_list(viewer=viewer_of(request), customer_id=filters.customer, state=filters.state)
    return LazyPage(qs, invoice_out)


@router.get("/{invoice_id}", response=InvoiceOut, summary="One invoice, its lines and payments")
def invoice_read(request: HttpRequest, invoice_id: int) -> dict[str, Any]:
    return invoice_out(invoice_get(invoice_id=invoice_id, viewer=viewer_of(request)))


@router.get(
    "/shared/{token}",
    auth=None,
    summary="The invoice as a PDF, by the link emailed to the customer (no login: the token "
    "is the key); any other token is a 404",
    openapi_extra=PDF_RESPONSES,
)
def invoice_shared_pdf(request: HttpRequest, token: str) -> HttpResponse:
    response = pdf_response(invoice_by_link(token=token))
    response["X-Robots-Tag"] = "noindex"
    return response


@router.get(
    "/{invoice_id}/pdf",
    auth=[TokenAuth(), AgentSession()],
    summary="The invoice as a PDF (application/pdf), drawn on demand; with a token or the "
    "console's session",
    openapi_extra=PDF_RESPONSES,
)
def invoice_pdf_get(request: HttpRequest, invoice_id: int) -> HttpResponse:
    return pdf_response(invoice_get(invoice_id=invoice_id, viewer=viewer_of(request)))


@router.post(
    "/{invoice_id}/payments",
    response={200: PaymentRecordedOut, 201: PaymentRecordedOut},
    summary="Record a payment taken outside (card terminal, payment link, cash): 201; the same "
    "reference again answers 200 with the first; a second accepted payment is 409 already_paid; "
    "a refused one leaves the invoice open and opens a follow-up loop for the billing team",
)
def payment_post(request: HttpRequest, invoice_id: int, payload: PaymentIn) -> Status:
    viewer = viewer_of(request)
    invoice = invoice_get(invoice_id=invoice_id, viewer=viewer)
    recorded = payment_record(
        invoice=invoice,
        reference=payload.reference,
        amount=payload.amount,
        method=payload.method,
        outcome=payload.outcome,
        actor=actor_of(viewer),
        now=utcnow(),
    )
    out = invoice_out(invoice_get(invoice_id=invoice_id, viewer=viewer))
    payment = next(p for p in out["payments"] if p["reference"] == recorded.payment.reference)
    return Status(201 if recorded.created else 200, {"payment": payment, "invoice": out})
