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


# Open or pending: the cases still being worked (the console lists' default).
UNSOLVED_Q = models.Q(status__in=["open", "pending"])


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

    tags = models.ManyToManyField("Tag", through="CaseTag", related_name="cases", blank=True)

    class Meta:
        ordering = ["-number"]
        indexes = [
            models.Index(fields=["team", "status"], name="case_team_status"),
            # The console's case lists: a status, newest change / newest case first, for a
            # team, for an assignee, or for all (admins).
            models.Index(fields=["status", "-updated_at"], name="case_status_updated"),
            models.Index(fields=["status", "-created_at"], name="case_status_created"),
            models.Index(fields=["team", "status", "-updated_at"], name="case_team_updated"),
            models.Index(
                fields=["assignee", "status", "-updated_at"], name="case_assignee_updated"
            ),
            # The default lists, "unsolved" (open or pending): ``status IN ('open', 'pending')``
            # implies the condition, so a page is read in order from the index, not sorted
            # (newest first: read backwards; ``id`` breaks ties). The team's holds the
            # assignee too: the sidebar counts (mine, unassigned) read only the index.
            models.Index(
                fields=["updated_at", "id"], name="case_unsolved_updated", condition=UNSOLVED_Q
            ),
            models.Index(
                fields=["team", "updated_at", "id", "assignee"],
                name="case_unsolved_team",
                condition=UNSOLVED_Q,
            ),
            models.Index(
                fields=["team", "created_at", "id"],
                name="case_unsolved_team_created",
                condition=UNSOLVED_Q,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.subject}"

    @property
    def status_badge(self) -> Badge:
        return CASE_STATUS.badge(self.status)

    @property
    def ref(self) -> str:
        return f"{settings.LASTMILE_CASE_PREFIX}-{self.number}"


class CaseEvent(models.Model):
    """Audit trail of a case, shown as its history: created, status, assigned, subject,
    priority, tags; ``actor`` is who did it (None: the system)."""

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


class Tag(models.Model):
    """A label on cases ("billing", "vip"), shared by every team; stored in lower case."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CaseTag(models.Model):
    """One tag on one case. Unique by (tag, case): that index is the tag filter's."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "case"], name="casetag_unique")]
        indexes = [models.Index(fields=["case"], name="casetag_case")]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.tag_id}"


class SavedView(models.Model):
    """A case list an agent saved: a name and the list's query string (its filters and
    sort), the agent's own (``owner``) or shared with a team (``team``), never both."""

    name = models.CharField(max_length=80)
    query = models.CharField(max_length=500, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_case_views",
    )
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_case_views",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(owner__isnull=False, team__isnull=True)
                    | models.Q(owner__isnull=True, team__isnull=False)
                ),
                name="savedview_owner_xor_team",
            )
        ]

    def __str__(self) -> str:
        return self.name
