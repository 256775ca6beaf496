from __future__ import annotations

from django.conf import settings
from django.db import models

from lastmile.core.choices import Badge, ChoiceSet


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


# How a case's status is shown in the console.
CASE_STATUS = ChoiceSet(
    CaseStatus,
    colours={
        CaseStatus.OPEN: "primary",
        CaseStatus.PENDING: "at-risk",
        CaseStatus.SOLVED: "ok",
        CaseStatus.CLOSED: "grey",
    },
)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Case(models.Model):
    """A conversation or piece of work for one customer, owned by a team.

    A case is solved only when none of its loops is open (``cases.services.case_set_status``).
    """

    number = models.BigIntegerField(unique=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="cases"
    )
    subject = models.CharField(max_length=300)
    # The subject is the team's (often made from the first message: "SMS: Hi, it's ...");
    # the customer sees this title instead, or a neutral one when the team wrote none.
    customer_title = models.CharField(
        max_length=200,
        blank=True,
        help_text="The title the customer sees in the portal; empty: a neutral one.",
    )
    status = models.CharField(max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=40, blank=True, help_text="Where the case began.")
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    solved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        indexes = [models.Index(fields=["team", "status"], name="case_team_status")]

    def __str__(self) -> str:
        return f"{self.ref} {self.subject}"

    @property
    def status_badge(self) -> Badge:
        return CASE_STATUS.badge(self.status)

    @property
    def ref(self) -> str:
        return f"{settings.LASTMILE_CASE_PREFIX}-{self.number}"


class CaseEvent(models.Model):
    """Audit trail of a case: status changes, assignment."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"
