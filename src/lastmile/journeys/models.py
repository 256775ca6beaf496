from __future__ import annotations

from django.conf import settings
from django.db import models

from lastmile.core.choices import Badge, ChoiceSet


class CustomerAction(models.TextChoices):
    NONE = "none", "None (the business does it)"
    UPLOAD = "upload", "Upload a document"
    CHOOSE_SLOT = "choose_slot", "Choose a slot"
    CONFIRM = "confirm", "Confirm"


class JourneyTemplate(models.Model):
    """A process configured for closure: steps across teams, in an order that is a DAG.

    Editing a template never changes a journey already started: a journey copies its
    steps when it starts. ``version`` goes up each time the definition changes.
    """

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True, help_text="Only active templates can be started.")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StepTemplate(models.Model):
    """One step of a template: who owns it, how long it may take, what it waits for."""

    template = models.ForeignKey(JourneyTemplate, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.SlugField(max_length=50, help_text="Unique in the template, e.g. kyc.")
    title = models.CharField(max_length=200)
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Owner of the step; empty means the case's team.",
    )
    sla_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Business minutes on the owning team's calendar; empty means the team's "
        "SLA policy for tasks sets the deadline.",
    )
    depends_on = models.JSONField(
        default=list, blank=True, help_text="Keys of the steps that must be done first."
    )
    customer_visible = models.BooleanField(default=False)
    customer_performs = models.BooleanField(default=False)
    customer_action = models.CharField(
        max_length=16, choices=CustomerAction.choices, default=CustomerAction.NONE
    )
    instructions = models.TextField(blank=True)
    due_by_slot = models.SlugField(
        max_length=50,
        blank=True,
        help_text="Key of a choose_slot step: this step is due at the end of the window the "
        "customer chose there (a visit).",
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "key"], name="step_template_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"


class JourneyState(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# How a journey's state is shown in the console.
JOURNEY_STATE = ChoiceSet(
    JourneyState,
    colours={
        JourneyState.ACTIVE: "primary",
        JourneyState.COMPLETED: "ok",
        JourneyState.CANCELLED: "grey",
    },
)


class Journey(models.Model):
    """A template started for a customer on a case; the case cannot be solved before it ends.

    The customer is the case's (followed through merges), so it is not stored twice.
    """

    template = models.ForeignKey(JourneyTemplate, on_delete=models.PROTECT, related_name="journeys")
    template_version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="journeys")
    state = models.CharField(
        max_length=10, choices=JourneyState.choices, default=JourneyState.ACTIVE
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # Starting the same journey twice on a case (a double click, a retried call)
            # is refused by the database, not only by a check that could race.
            models.UniqueConstraint(
                fields=["case", "template"],
                condition=models.Q(state="active"),
                name="journey_one_active_per_case",
            )
        ]
        indexes = [models.Index(fields=["state", "started_at"], name="journey_state")]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"

    @property
    def state_badge(self) -> Badge:
        return JOURNEY_STATE.badge(self.state)

    @property
    def customer(self):  # type: ignore[no-untyped-def]
        return self.case.customer

    @property
    def is_active(self) -> bool:
        return self.state == JourneyState.ACTIVE


class StepState(models.TextChoices):
    PENDING = "pending", "Waiting"
    OPEN = "open", "Open"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class JourneyStep(models.Model):
    """A step of one journey, copied from its template; open means a task loop is open.

    ``handoff_note`` is what the steps before it said when they finished (the context the
    owning team starts with); ``note`` is what this step's finisher said in turn.
    """

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.SlugField(max_length=50)
    title = models.CharField(max_length=200)
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_minutes = models.PositiveIntegerField(null=True, blank=True)
    depends_on = models.JSONField(default=list, blank=True)
    customer_visible = models.BooleanField(default=False)
    customer_performs = models.BooleanField(default=False)
    customer_action = models.CharField(
        max_length=16, choices=CustomerAction.choices, default=CustomerAction.NONE
    )
    instructions = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=StepState.choices, default=StepState.PENDING)
    loop = models.OneToOneField(
        "loops.Loop",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="journey_step",
    )
    handoff_note = models.TextField(blank=True)
    note = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_by_customer = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    due_by_slot = models.SlugField(max_length=50, blank=True)
    # A choose_slot step: the windows the team offers ([{"start": iso, "end": iso}], UTC,
    # earliest first; journeys.services.step_windows_offer), and the one the customer chose.
    windows = models.JSONField(default=list, blank=True)
    slot_starts_at = models.DateTimeField(null=True, blank=True)
    slot_ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["journey", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "key"], name="journey_step_key_unique"),
            # A chosen window is both ends or none, and ends after it starts.
            models.CheckConstraint(
                condition=models.Q(slot_starts_at__isnull=True, slot_ends_at__isnull=True)
                | models.Q(slot_starts_at__lt=models.F("slot_ends_at")),
                name="journey_step_slot_window",
            ),
        ]
        indexes = [models.Index(fields=["team", "state"], name="journey_step_team_state")]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state == StepState.OPEN
