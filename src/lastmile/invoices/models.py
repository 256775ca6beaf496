"""The invoices tables: invoices and their lines, the per-year numbering, per-team tax rates
and payments. Money is in integer minor units beside the invoice's ISO 4217 currency; every
write goes through ``invoices.services``."""

from __future__ import annotations

from django.conf import settings
from django.db import models

MAX_RATE_BP = 10_000  # 100 %


class InvoiceState(models.TextChoices):
    ISSUED = "issued", "Issued"  # open: owed by the customer
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class SendStatus(models.TextChoices):
    """Where the invoice's email stands. ``pending``: the worker has yet to send it (issued
    with ``send``); it then becomes ``sent`` (queued in the outbox, ``sent_to`` says where)
    or ``unsent`` (no email address, or the mail app refused it): once either, a second run
    of the task sends nothing. "" : not to be sent (issued without ``send``)."""

    NONE = "", "Not to be sent"
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    UNSENT = "unsent", "Could not be sent"


class PaymentMethod(models.TextChoices):
    CARD_TERMINAL = "card_terminal", "Card terminal"
    PAYMENT_LINK = "payment_link", "Payment link"
    CASH = "cash", "Cash"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


class PaymentOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REFUSED = "refused", "Refused"


class InvoiceCounter(models.Model):
    """The last invoice number given in a calendar year (UTC).

    ``invoice_issue`` locks this row (``select_for_update``) in the transaction that writes
    the invoice, so two issues never take the same number and a rolled-back issue gives its
    number back: the numbers of a year have no gap (tax law in most countries asks that).
    """

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class TaxRate(models.Model):
    """A team's tax rate, in basis points (2000 = 20 %); a team without one charges none."""

    team = models.OneToOneField("people.Team", on_delete=models.CASCADE, related_name="+")
    rate_bp = models.PositiveIntegerField(
        help_text="Basis points: 2000 is 20 %, 550 is 5.5 %; at most 10000."
    )
    label = models.CharField(max_length=40, default="VAT", help_text="Shown on the invoice.")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["team__name"]
        constraints = [
            models.CheckConstraint(
                name="taxrate_at_most_100_percent",
                condition=models.Q(rate_bp__lte=MAX_RATE_BP),
                violation_error_message="a tax rate is at most 10000 basis points (100 percent)",
            )
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.rate_bp / 100:g} % {self.label}"


class Invoice(models.Model):
    """One invoice: a number unique and gap-free per year, the customer, the lines' totals
    and the tax (rounded half up once per invoice), and whether it is paid or void.

    ``source`` names what was invoiced (``job:123``): issuing the same source again returns
    this invoice, so a job completed twice is billed once.
    """

    number = models.CharField(max_length=20, unique=True, help_text="e.g. 2026-000123")
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    source = models.CharField(max_length=200, unique=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField()
    tax_rate_bp = models.PositiveIntegerField(default=0)
    tax_label = models.CharField(max_length=40, blank=True)
    tax = models.BigIntegerField()
    total = models.BigIntegerField()
    state = models.CharField(
        max_length=10, choices=InvoiceState.choices, default=InvoiceState.ISSUED
    )
    issued_at = models.DateTimeField()
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    sent_to = models.CharField(
        max_length=320, blank=True, help_text="The address the invoice was emailed to, if any."
    )
    send_status = models.CharField(
        max_length=10, choices=SendStatus.choices, blank=True, default="", db_default=""
    )
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker sent the invoice (or found it could not)."
    )
    # The SHA-256 of the random token in the link an invoice without a case is emailed with
    # (GET /api/v1/invoices/shared/<token>); the token itself is only in that email.
    link_token_hash = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="invoice_year_sequence"),
            models.CheckConstraint(
                name="invoice_total_is_sum",
                condition=models.Q(total=models.F("subtotal") + models.F("tax")),
            ),
            models.UniqueConstraint(
                fields=["link_token_hash"],
                condition=~models.Q(link_token_hash=""),
                name="invoice_link_token",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "issued_at"], name="invoice_customer"),
            models.Index(fields=["team", "state", "issued_at"], name="invoice_team_state"),
            # The worker's sweep of invoices whose send task was lost.
            models.Index(
                fields=["issued_at"],
                name="invoice_send_pending",
                condition=models.Q(send_status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def pdf_path(self) -> str:
        return f"/api/v1/invoices/{self.pk}/pdf"


class InvoiceLine(models.Model):
    """One line: what was sold or done, how many, at what unit price (minor units)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField()
    total = models.BigIntegerField()

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoiceline_position"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.description}"


class Payment(models.Model):
    """A payment tried against an invoice: taken on an outside card terminal, by a payment
    link, in cash; accepted or refused. At most one accepted payment per invoice; the same
    ``reference`` recorded again is the same payment."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    reference = models.CharField(max_length=200)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    outcome = models.CharField(max_length=10, choices=PaymentOutcome.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    followup_loop = models.ForeignKey(
        "loops.Loop",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The billing team's follow-up opened by a refused payment.",
    )

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "reference"], name="payment_reference"),
            # The database's own word that an invoice is never paid twice.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=models.Q(outcome="accepted"),
                name="payment_one_accepted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.outcome}"
