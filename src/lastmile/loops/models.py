from __future__ import annotations

from django.conf import settings
from django.db import models

from lastmile.loops.business_time import Calendar


class BusinessHours(models.Model):
    """Opening hours in one timezone, with a country's holidays and manual closed dates."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    weekly = models.JSONField(
        default=dict,
        help_text='Local opening hours per weekday, e.g. {"mon": [["09:00", "17:00"]], "sat": []}.',
    )
    holiday_country = models.CharField(
        max_length=10,
        blank=True,
        help_text="ISO country code for public holidays, e.g. GB, DE, IN.",
    )
    holiday_subdiv = models.CharField(max_length=10, blank=True)
    extra_holidays = models.JSONField(
        default=list, blank=True, help_text='Extra closed dates, e.g. ["2026-12-24"].'
    )

    class Meta:
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return self.name

    def calendar(self) -> Calendar:
        return Calendar.from_config(
            tz=self.timezone,
            weekly=self.weekly,
            holiday_country=self.holiday_country or None,
            holiday_subdiv=self.holiday_subdiv or None,
            extra_holidays=list(self.extra_holidays or []),
        )


class LoopKind(models.TextChoices):
    REPLY = "reply", "Reply"
    PROMISE = "promise", "Promise"
    TASK = "task", "Task"
    VISIT = "visit", "Visit"
    RECOVERY = "recovery", "Recovery"
    FOLLOWUP = "followup", "Follow-up"
    ACK = "ack", "Acknowledgement"
    # A team's own work for one of its people, owed to no customer (``TEAM_OWN_KINDS``).
    COACHING = "coaching", "Coaching"
    DISPUTE = "dispute", "Pay dispute"


# Kinds a loop without a customer may have: work a team owes itself, never a customer's.
TEAM_OWN_KINDS = ("ack", "coaching", "dispute")


class SlaTarget(models.TextChoices):
    FIRST_REPLY = "first_reply", "First reply"
    NEXT_REPLY = "next_reply", "Next reply"
    RESOLUTION = "resolution", "Resolution"


class SlaPolicy(models.Model):
    """Deadlines for loops that match its conditions, in business minutes, and an escalation ladder.

    Policies are tried in ``position`` order; the first whose every set condition matches wins.
    A blank condition matches anything.
    """

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    kind = models.CharField(max_length=16, choices=LoopKind.choices, blank=True)
    channel = models.CharField(
        max_length=40,
        blank=True,
        help_text="e.g. email, chat, social:twitter; 'social' matches every network.",
    )
    priority = models.CharField(max_length=10, blank=True)
    team = models.ForeignKey("people.Team", null=True, blank=True, on_delete=models.CASCADE)
    min_influence = models.FloatField(
        null=True,
        blank=True,
        help_text="Matches social mentions whose author's influence (0-100) is at least this.",
    )
    sentiment = models.CharField(
        max_length=10,
        blank=True,
        choices=[("negative", "Negative"), ("neutral", "Neutral"), ("positive", "Positive")],
        help_text="Matches mentions of this sentiment.",
    )
    first_reply_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_reply_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    business_hours = models.ForeignKey(
        BusinessHours,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="Empty means the clock runs 24/7.",
    )
    escalation = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            'Rungs in order, e.g. [{"at": 75, "action": "notify_owner"}, '
            '{"at": 100, "action": "breach"}, {"at": 150, "action": "reassign_to_lead"}]. '
            "Actions: notify_owner, notify_lead, breach, reassign_to_lead."
        ),
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name

    def minutes_for(self, target: str) -> int | None:
        return {
            SlaTarget.FIRST_REPLY: self.first_reply_minutes,
            SlaTarget.NEXT_REPLY: self.next_reply_minutes,
            SlaTarget.RESOLUTION: self.resolution_minutes,
        }.get(target)  # type: ignore[call-overload]


class LoopState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    BROKEN = "broken", "Broken"
    CANCELLED = "cancelled", "Cancelled"


class Loop(models.Model):
    """Something the business owes a customer: an owner, a deadline, a way to close.

    The deadline (``due_at``) and the next escalation instant (``next_check_at``) are stored
    and indexed, recomputed by the services whenever their inputs change (open, pause,
    resume); the sweeper only reads rows whose ``next_check_at`` has passed.

    A team's own loop has no customer: an alert's acknowledgement is owed by the team to
    itself, not to anyone who posted, and so are a lead's coaching and an agent's pay dispute.
    Such a loop is of a kind in ``TEAM_OWN_KINDS``, on no case and never shown to a customer
    (``loop_team_own``); ``loop_open`` also wants its team, which the table cannot insist on
    (a deleted team leaves its loops with none).
    """

    # No index of their own on customer, case, team and assignee: each leads one of the
    # Meta indexes below, which serve the same lookups; every index is one more entry the
    # sweeper writes per loop it escalates (an UPDATE that changes an indexed column writes
    # to every index on PostgreSQL).
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loops",
        db_index=False,
        help_text="Empty for a team's own loop (an alert's acknowledgement).",
    )
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="loops",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=LoopKind.choices)
    title = models.CharField(max_length=300)
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="loops",
        db_index=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="loops",
        db_index=False,
    )
    state = models.CharField(max_length=10, choices=LoopState.choices, default=LoopState.OPEN)
    visible_to_customer = models.BooleanField(default=False)
    channel = models.CharField(max_length=40, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The SLA: which policy and target set the clock, and how long it is in business minutes.
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL)
    sla_target = models.CharField(max_length=16, choices=SlaTarget.choices, blank=True)
    sla_seconds = models.PositiveBigIntegerField(null=True, blank=True)
    # A deadline given explicitly (API, journey step) instead of by a policy.
    due_at_fixed = models.BooleanField(default=False)
    # The clock: business seconds consumed before clock_started_at, and when it last (re)started.
    clock_started_at = models.DateTimeField()
    consumed_seconds = models.BigIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.BigIntegerField(default=0, help_text="Wall-clock seconds spent paused.")
    pause_reason = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    # From when an open loop with a deadline counts as at risk, or worse, in
    # ``loops.selectors.loop_sla_state``: the start of the last quarter of its time, a moment
    # long past once it escalated (``services.loop_at_risk_at``). Stored beside ``due_at`` so
    # the inbox counts its loops by ranges of an index instead of arithmetic on every row.
    at_risk_at = models.DateTimeField(null=True, blank=True)
    opened_by = models.ForeignKey(
        "customers.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            # The sweeper's scan: only open loops with a pending rung are in this index.
            models.Index(
                fields=["next_check_at"],
                name="loop_sweep",
                condition=models.Q(state="open", next_check_at__isnull=False),
            ),
            # A team's inbox (open loops by deadline, then id): ``id`` last, so one team's
            # first page is a walk of this index that stops after 50 rows.
            models.Index(fields=["team", "state", "due_at", "id"], name="loop_team_due_id"),
            # The inbox unfiltered by team (an admin's): open loops by deadline, walked in
            # ``loop_list``'s order and stopped after a page, not every open loop sorted.
            models.Index(
                fields=["due_at", "id"], name="loop_open_due", condition=models.Q(state="open")
            ),
            # The coaching catch-up (``coaching.services.breach_lessons_catch_up``): the loops
            # breached in a window, in breach order.
            models.Index(
                fields=["breached_at", "id"],
                name="loop_breached",
                condition=models.Q(breached_at__isnull=False),
            ),
            # The inbox's counts: at risk by a range of at_risk_at, and the few loops marked
            # breached before their deadline (``loops.selectors.loop_state_counts``).
            models.Index(fields=["team", "state", "at_risk_at"], name="loop_team_risk"),
            models.Index(
                fields=["team", "state", "due_at"],
                name="loop_team_breached",
                condition=models.Q(breached_at__isnull=False),
            ),
            models.Index(fields=["case", "state"], name="loop_case_state"),
            models.Index(fields=["customer", "state"], name="loop_customer_state"),
            # Scorecards: an agent's or a team's loops closed in a period.
            models.Index(fields=["assignee", "closed_at"], name="loop_assignee_closed"),
            models.Index(fields=["team", "closed_at"], name="loop_team_closed"),
        ]
        constraints = [
            models.CheckConstraint(
                name="loop_team_own",
                condition=models.Q(customer__isnull=False)
                | models.Q(kind__in=TEAM_OWN_KINDS, case__isnull=True, visible_to_customer=False),
                violation_error_message=(
                    "a loop without a customer is a team's own loop (acknowledgement, "
                    "coaching or pay dispute): on no case, never shown to a customer"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state == LoopState.OPEN

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None


class LoopEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    ESCALATED = "escalated", "Escalated"
    REASSIGNED = "reassigned", "Reassigned"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    CLOSED = "closed", "Closed"
    BREACHED = "breached", "Breached"
    CANCELLED = "cancelled", "Cancelled"
    BROKEN = "broken", "Broken"


class LoopEvent(models.Model):
    """Append-only trail of a loop: who did what, when and why."""

    loop = models.ForeignKey(Loop, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=LoopEventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # Which cases a team owned a loop on before a reassignment (the ``case.view``
            # grant, loops_grant_cases_owned_before): only the few ``reassigned`` rows.
            models.Index(
                fields=["loop"],
                name="loopevent_reassigned",
                condition=models.Q(kind="reassigned"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"
