"""The jobs tables: slots a team offers, the jobs booked into them, their lines, trail and
proofs, and the answers remembered for ``Idempotency-Key`` replays."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class JobKind(models.TextChoices):
    DELIVERY = "delivery", "Delivery"
    VISIT = "visit", "Field visit"


class JobState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    STARTED = "started", "On the way"
    ARRIVED = "arrived", "Arrived"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ProofKind(models.TextChoices):
    SIGNATURE = "signature", "Signature"
    PHOTO = "photo", "Photo"
    PIN = "pin", "PIN"
    QR = "qr", "QR or barcode"


class FailReason(models.TextChoices):
    NOT_AT_HOME = "not_at_home", "Not at home"
    REFUSED = "refused", "Refused"
    WRONG_ADDRESS = "wrong_address", "Wrong address"
    DAMAGED = "damaged", "Damaged"
    ACCESS_PROBLEM = "access_problem", "Access problem"


# The states that hold a place in a slot: a cancelled job gives its place back.
BOOKED_STATES = (
    JobState.SCHEDULED,
    JobState.STARTED,
    JobState.ARRIVED,
    JobState.COMPLETED,
    JobState.FAILED,
)


class Slot(models.Model):
    """A window a team offers for deliveries or visits, with how many jobs it takes.

    Bookings are counted from the jobs in the slot (``jobs.services.slot_booked``), never
    stored beside it: the count under the slot's row lock is the one answer. The customer may
    book or change into the slot until ``cutoff_minutes`` before it starts.
    """

    team = models.ForeignKey("people.Team", on_delete=models.CASCADE, related_name="job_slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField(help_text="How many jobs the slot takes; 0 closes it.")
    cutoff_minutes = models.PositiveIntegerField(
        default=120,
        help_text="The customer books or changes into this slot until this long before it starts.",
    )

    class Meta:
        ordering = ["starts_at", "team_id", "id"]
        constraints = [
            models.CheckConstraint(
                name="jobslot_ends_after_start",
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                violation_error_message="a slot ends after it starts",
            ),
            models.UniqueConstraint(
                fields=["team", "starts_at", "ends_at"], name="jobslot_team_window"
            ),
        ]
        indexes = [models.Index(fields=["team", "starts_at"], name="jobslot_team_start")]

    def __str__(self) -> str:
        return f"{self.team} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M} UTC"


class Job(models.Model):
    """A delivery or a field visit for one customer, in a slot, by a team's driver or engineer.

    The state moves only through ``jobs.services`` (scheduled → started → arrived →
    completed | failed; scheduled → cancelled). ``tracking_token`` is the unguessable part of
    the customer's tracking link; ``pin`` the digits the customer reads to the driver when
    the job requires a PIN proof (empty otherwise).
    """

    kind = models.CharField(max_length=10, choices=JobKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="jobs"
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="jobs")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        help_text="The driver or engineer.",
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="jobs")
    address = models.CharField(max_length=500)
    notes = models.TextField(
        blank=True, help_text="What the driver or engineer should know at the door."
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.SCHEDULED)
    tracking_token = models.CharField(max_length=64, unique=True, editable=False)
    pin = models.CharField(max_length=8, blank=True, editable=False)
    required_proofs = models.JSONField(default=list, blank=True)
    stop_order = models.PositiveIntegerField(null=True, blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    fail_reason = models.CharField(max_length=20, choices=FailReason.choices, blank=True)
    visit_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    followup_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The invoice made on completion, as invoices answered (number, total, currency, pdf_url):
    # jobs reads it back without reaching into the invoices' tables.
    invoice = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["window_start", "stop_order", "id"]
        constraints = [
            models.CheckConstraint(
                name="job_window_ends_after_start",
                condition=models.Q(window_end__gt=models.F("window_start")),
                violation_error_message="a window ends after it starts",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "window_start"], name="job_team_window"),
            models.Index(fields=["slot", "state"], name="job_slot_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"


class JobLine(models.Model):
    """An item delivered or a piece of work done, priced in integer minor units."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField(help_text="Minor units (pence, cents).")
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["job_id", "position"]
        constraints = [
            models.CheckConstraint(
                name="jobline_quantity_positive", condition=models.Q(quantity__gt=0)
            ),
            models.CheckConstraint(
                name="jobline_price_not_negative", condition=models.Q(unit_price__gte=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.description}"

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


class JobEventKind(models.TextChoices):
    CREATED = "created", "Created"
    RESCHEDULED = "rescheduled", "Rescheduled"
    STARTED = "started", "Started"
    ARRIVED = "arrived", "Arrived"
    PROOF = "proof", "Proof taken"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # A driver's run (jobs.runs): the ETA set or moved, the departure notice, the delay
    # notice and the "back on time" one.
    ETA = "eta", "ETA"
    DEPARTED = "departed", "Departure notice"
    DELAYED = "delayed", "Delay notice"
    ON_TIME = "on_time", "Back on time"
    # On site (jobs.services.change_*): a change of the work proposed to the customer, and
    # the customer's answer: accepted (the lines changed) or declined.
    PROPOSED = "proposed", "Change proposed"
    CHANGED = "changed", "Change accepted"
    DECLINED = "declined", "Change declined"


class JobEvent(models.Model):
    """Append-only trail of a job: what happened, when, by whom, with its facts."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=JobEventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class ChangeState(models.TextChoices):
    PROPOSED = "proposed", "Waiting for the customer"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    SUPERSEDED = "superseded", "Replaced by a later proposal"
    LAPSED = "lapsed", "Lapsed (the job ended first)"


class ConsentKind(models.TextChoices):
    SIGNATURE = "signature", "Signature"
    PIN = "pin", "PIN"


class JobChange(models.Model):
    """A change of a job's work proposed on site (lines added, split or removed), with the
    lines before and after and their totals, and the customer's answer.

    Only an accepted change alters the job's lines (``jobs.services.change_accept``), so an
    unanswered or declined proposal never reaches the invoice. ``ref`` names the change
    within its job; the driver's page chooses it when the driver taps, so the proposal and
    the customer's consent can both wait in its offline queue. The consent keeps the drawn
    signature (a data URL) or ``matched`` for a PIN, never its digits, and the SHA-256 of
    what was sent."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="changes")
    ref = models.CharField(max_length=64)
    state = models.CharField(
        max_length=10, choices=ChangeState.choices, default=ChangeState.PROPOSED
    )
    ops = models.JSONField(default=list, help_text="What the driver asked: add, split, remove.")
    before = models.JSONField(default=list, help_text="The job's lines when proposed.")
    after = models.JSONField(default=list, help_text="The lines the customer is asked to accept.")
    currency = models.CharField(max_length=3, blank=True)
    total_before = models.BigIntegerField(help_text="Minor units.")
    total_after = models.BigIntegerField(help_text="Minor units.")
    note = models.CharField(max_length=500, blank=True)
    proposed_at = models.DateTimeField()
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who took the customer's answer (the driver or engineer).",
    )
    consent = models.CharField(max_length=10, choices=ConsentKind.choices, blank=True)
    consent_data = models.TextField(blank=True)
    consent_hash = models.CharField(max_length=64, blank=True)
    decline_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["proposed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "ref"], name="jobchange_job_ref"),
        ]

    def __str__(self) -> str:
        return f"change {self.ref} of job #{self.job_id} ({self.state})"


class Proof(models.Model):
    """What proves the job was done: a signature or photo (its data or a file reference), the
    PIN the customer read out (checked, stored as matched, never the digits), a scanned code.
    ``content_hash`` is the SHA-256 of what was sent, to show later it is unchanged."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="proofs")
    kind = models.CharField(max_length=10, choices=ProofKind.choices)
    data = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for job #{self.job_id}"


class IdempotentAnswer(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key``, per API token (the API)
    or per signed-in user (the driver's page): the same key again gets this status and body,
    and nothing is written twice. ``fingerprint`` is the SHA-256 of the method, path and
    body, so a key reused for another request is told apart from a replay."""

    token = models.ForeignKey(
        "api.ApiToken", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="jobs_idempotent_token_key"),
            models.UniqueConstraint(fields=["user", "key"], name="jobs_idempotent_user_key"),
            models.CheckConstraint(
                condition=Q(token__isnull=False, user__isnull=True)
                | Q(token__isnull=True, user__isnull=False),
                name="jobs_idempotent_one_scope",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="jobs_idempotent_created")]

    def __str__(self) -> str:
        return f"{self.key} → {self.status}"
