"""QA: scorecards of weighted categories, and reviews of conversations scored against them.

A review's ``score`` is worked out once, when it is written, by ``qa.review_score`` (the
published Zendesk QA formula) and never changed: a reviewer who disagrees with the automatic
first pass writes an override, a new review pointing at the automatic one (``overrides``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

# The dashboard's rollups live in their own module; imported here so the app registers them.
from lastmile.scorecards.rollup_models import TeamWeekRollup

__all__ = [
    "DigestSent",
    "DigestSubscription",
    "PayAdjustment",
    "PayDispute",
    "PayMetric",
    "PayPlan",
    "PayPlanMetric",
    "QaCategory",
    "QaReview",
    "QaScore",
    "QaScorecard",
    "TeamWeekRollup",
]


class QaScorecard(models.Model):
    """A QA scorecard: categories a conversation is scored on, for one team or (no team)
    every team. ``automatic``: the built-in scorecard of the automatic first pass, one only,
    whose categories are rules (``QaCategory.rule``)."""

    name = models.CharField(max_length=100, unique=True)
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="qa_scorecards",
        help_text="Empty: the scorecard is for every team.",
    )
    active = models.BooleanField(default=True, help_text="Inactive scorecards take no reviews.")
    automatic = models.BooleanField(
        default=False, editable=False, help_text="The built-in scorecard of the automatic pass."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["automatic"], condition=Q(automatic=True), name="qascorecard_one_automatic"
            )
        ]

    def __str__(self) -> str:
        return self.name


class QaCategory(models.Model):
    """One thing a conversation is scored on, from ``min_score`` to ``max_score``; its weight
    in the review's mean, and whether it is critical (under 50 % zeroes the review)."""

    scorecard = models.ForeignKey(QaScorecard, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=100)
    rule = models.SlugField(
        max_length=30, blank=True, editable=False, help_text="The automatic pass's rule."
    )
    weight = models.PositiveIntegerField(default=1)
    min_score = models.IntegerField(default=0)
    max_score = models.IntegerField(default=5)
    critical = models.BooleanField(
        default=False, help_text="Under 50 % in this category, the whole review scores 0."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["scorecard", "position", "id"]
        verbose_name_plural = "QA categories"
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "name"], name="qacategory_name_unique"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="qacategory_weight_positive"),
            models.CheckConstraint(
                condition=Q(max_score__gt=F("min_score")), name="qacategory_max_above_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scorecard.name}: {self.name}"


class QaReview(models.Model):
    """A review of one conversation (a case, optionally one loop or interaction of it) for
    the agent who handled it: by a lead or an admin (``reviewer``), or by the automatic first
    pass (``automatic``, no reviewer, one per case). Never edited: a reviewer overrides an
    automatic review with a new row whose ``overrides`` is it, and the latest override is
    the one that counts. ``conversation_at`` dates the review for a period: when the case
    was solved (at the first review), else when it was reviewed."""

    scorecard = models.ForeignKey(QaScorecard, on_delete=models.PROTECT, related_name="reviews")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    interaction = models.ForeignKey(
        "customers.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="qa_reviews"
    )
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="qa_reviews_given",
    )
    automatic = models.BooleanField(default=False)
    overrides = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="overridden_by"
    )
    score = models.FloatField(help_text="0-100, the weighted mean of the categories.")
    comment = models.TextField(blank=True)
    conversation_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-conversation_at", "-id"]
        verbose_name = "QA review"
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(automatic=True), name="qareview_one_automatic"
            ),
            models.CheckConstraint(
                condition=Q(automatic=False) | Q(reviewer__isnull=True, overrides__isnull=True),
                name="qareview_automatic_by_nobody",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=100), name="qareview_score_0_100"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "conversation_at"], name="qareview_agent_at"),
            models.Index(fields=["team", "conversation_at"], name="qareview_team_at"),
        ]

    def __str__(self) -> str:
        who = "automatic" if self.automatic else f"by {self.reviewer_id}"
        return f"QA review {self.pk} of case {self.case_id} ({who}): {self.score}"


class QaScore(models.Model):
    """One category's score in one review, with the rule's reason for an automatic one."""

    review = models.ForeignKey(QaReview, on_delete=models.CASCADE, related_name="scores")
    category = models.ForeignKey(QaCategory, on_delete=models.PROTECT, related_name="+")
    score = models.IntegerField()
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["review", "category__position", "category_id"]
        verbose_name = "QA score"
        constraints = [
            models.UniqueConstraint(fields=["review", "category"], name="qascore_unique")
        ]

    def __str__(self) -> str:
        return f"{self.category_id}: {self.score}"


# --- variable pay ----------------------------------------------------------------------------


class PayMetric(models.TextChoices):
    """The scorecard metrics (``selectors.METRICS``) a pay plan may pay on: those an agent
    moves by their own work. Counts of effort that could be inflated (first replies, promises
    made) are left out; a plan pays for what was kept, closed on time, or rated."""

    ON_TIME_RATE = "on_time_rate", "On-time rate"
    LOOPS_CLOSED = "loops_closed", "Loops closed"
    PROMISES_KEPT = "promises_kept", "Promises kept"
    CSAT = "csat", "CSAT"
    NPS = "nps", "NPS"
    QA_SCORE = "qa_score", "QA score"
    RECOVERED = "recovered", "Recovered carts and applications"
    BREACHES = "breaches", "Breaches"
    FIRST_REPLY = "first_reply_median_business_minutes", "Median first reply"
    REOPENED = "reopened_cases", "Reopened cases"


# The metrics where less is better: a plan line on one of them must say so.
PAY_LOWER_IS_BETTER = frozenset({PayMetric.BREACHES, PayMetric.FIRST_REPLY, PayMetric.REOPENED})


class PracticeGate(models.TextChoices):
    """What a plan's practice gate asks of an agent by the month's end (``pay.practice_gate``)."""

    NONE = "", "No practice gate"
    PATH = "path", "Onboarding path complete"
    CASES = "cases", "Practice cases scored at or above a QA target"


class PayPlan(models.Model):
    """A team's variable pay plan: the metrics that count (``PayPlanMetric``), a cap on the
    month's total, a minimum QA score under which nothing is paid, and optionally a practice
    gate (the onboarding path complete, or N practice cases scored at or above a target, by
    the month's end) under which nothing is paid either. One active plan per team; an agent
    in several teams with plans is paid on the first of them by team name."""

    team = models.ForeignKey("people.Team", on_delete=models.CASCADE, related_name="pay_plans")
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    min_quality_gate = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "QA score (0-100) below which nothing is paid for the month, a month with no QA "
            "review included. Empty: no gate."
        ),
    )
    overall_cap = models.DecimalField(
        max_digits=8, decimal_places=2, help_text="The most points a month's metrics can pay."
    )
    practice_gate = models.CharField(
        max_length=10,
        choices=PracticeGate.choices,
        default=PracticeGate.NONE,
        blank=True,
        help_text=(
            "Practice an agent must have done by the month's end, or the metrics pay nothing "
            "that month: their team's onboarding path complete (every step scored), or the "
            "number of practice cases below scored at or above the target."
        ),
    )
    practice_cases = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="With the practice-cases gate: how many practice cases (at least 1).",
    )
    practice_target = models.FloatField(
        null=True,
        blank=True,
        help_text="With the practice-cases gate: the QA score (0-100) a case's best attempt needs.",
    )

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=Q(active=True), name="payplan_one_active_per_team"
            ),
            models.CheckConstraint(condition=Q(overall_cap__gt=0), name="payplan_cap_positive"),
            models.CheckConstraint(
                condition=Q(min_quality_gate__isnull=True)
                | Q(min_quality_gate__gte=0, min_quality_gate__lte=100),
                name="payplan_gate_0_100",
            ),
            models.CheckConstraint(
                condition=~Q(practice_gate=PracticeGate.CASES)
                | Q(
                    practice_cases__gte=1,
                    practice_target__gte=0,
                    practice_target__lte=100,
                ),
                name="payplan_practice_cases_gate_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The practice-cases gate needs its number and target (the admin names the field)."""
        from django.core.exceptions import ValidationError

        if self.practice_gate != PracticeGate.CASES:
            return
        errors = {}
        if not self.practice_cases:
            errors["practice_cases"] = "At least 1 with the practice-cases gate."
        if self.practice_target is None or not 0 <= self.practice_target <= 100:
            errors["practice_target"] = "A QA score from 0 to 100 with the practice-cases gate."
        if errors:
            raise ValidationError(errors)


class PayPlanMetric(models.Model):
    """One metric of a plan: ``weight`` points at the target, a little more past it with
    diminishing returns, never more than ``cap`` (``pay.metric_points``)."""

    plan = models.ForeignKey(PayPlan, on_delete=models.CASCADE, related_name="metrics")
    metric = models.CharField(max_length=40, choices=PayMetric.choices)
    target = models.FloatField(
        help_text=(
            "In the metric's own unit: on_time_rate 0-1 (0.9 is 90 %), csat and qa_score "
            "0-100, nps -100..100, first reply in business minutes, the rest counts."
        )
    )
    weight = models.DecimalField(
        max_digits=8, decimal_places=2, help_text="Points for reaching the target."
    )
    cap = models.DecimalField(
        max_digits=8, decimal_places=2, help_text="The most points this metric can pay."
    )
    higher_is_better = models.BooleanField(
        default=True, help_text="Off for breaches, the first reply time and reopened cases."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["plan", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "metric"], name="payplanmetric_unique"),
            models.CheckConstraint(condition=Q(target__gt=0), name="payplanmetric_target_pos"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="payplanmetric_weight_pos"),
            models.CheckConstraint(condition=Q(cap__gt=0), name="payplanmetric_cap_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.name}: {self.metric}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        lower = self.metric in PAY_LOWER_IS_BETTER
        if self.metric and self.higher_is_better == lower:
            wanted = "off" if lower else "on"
            raise ValidationError({"higher_is_better": f"for {self.metric} it must be {wanted}"})


ADJUSTMENT_LIMIT = 1000
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class PayAdjustment(models.Model):
    """Points a lead or an admin adds to (or takes from) an agent's month, with the reason.
    Never edited or deleted: a correction is a new row, so the rows are the audit trail."""

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pay_adjustments"
    )
    month = models.CharField(max_length=7, help_text="2026-11")
    points = models.DecimalField(max_digits=8, decimal_places=2)
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="pay_adjustments_made",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["agent", "month", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="payadjustment_reason_required"),
            models.CheckConstraint(
                condition=Q(points__gte=-ADJUSTMENT_LIMIT, points__lte=ADJUSTMENT_LIMIT)
                & ~Q(points=0),
                name="payadjustment_points_bound",
            ),
        ]
        indexes = [models.Index(fields=["month", "agent"], name="payadjustment_month")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.month}: {self.points:+}"


class DisputeState(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"


class PayDispute(models.Model):
    """An agent's dispute of their month's pay statement: one line (``line``, a metric) or
    the whole of it (``line`` empty), with their reason. Opening it opens a ``dispute`` loop
    for the lead of the plan's team; the lead's answer closes the loop, may come with an
    adjustment, and is shown to the agent. At most one open dispute per agent, month and
    line; answered disputes are never changed."""

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pay_disputes"
    )
    month = models.CharField(max_length=7, help_text="2026-11")
    line = models.CharField(
        max_length=40,
        blank=True,
        choices=PayMetric.choices,
        help_text="The metric disputed; empty: the whole statement.",
    )
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The team whose pay plan the statement was on.",
    )
    reason = models.TextField()
    loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=10, choices=DisputeState.choices, default=DisputeState.OPEN)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pay_disputes_answered",
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    adjustment = models.OneToOneField(
        PayAdjustment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dispute",
        help_text="The adjustment made in answer, if any.",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "month", "line"],
                condition=Q(state="open"),
                name="paydispute_one_open",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="paydispute_reason_required"),
            models.CheckConstraint(
                condition=Q(state="open", answered_at__isnull=True)
                | (Q(state="answered", answered_at__isnull=False) & ~Q(answer="")),
                name="paydispute_answered_has_answer",
            ),
        ]
        indexes = [models.Index(fields=["month", "agent"], name="paydispute_month")]

    def __str__(self) -> str:
        return f"dispute {self.pk} of {self.agent_id} {self.month} {self.line or 'whole'}"

    @property
    def line_label(self) -> str:
        return PayMetric(self.line).label if self.line else "The whole statement"


class DigestSubscription(models.Model):
    """A person who asked for the weekly email digest of the dashboard's figures (of the
    teams they may see). ``active`` off: unsubscribed (the row stays)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_subscription"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"digest for {self.user_id} ({'on' if self.active else 'off'})"


class DigestSent(models.Model):
    """The weekly digest sent (queued in the outbox) to one person for one week: written in
    the transaction that queues it, unique per person and week, so a second run or a second
    worker sends nothing more."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="The Monday (UTC) of the week the digest was sent in.")
    outbox_key = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-week", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "week"], name="digestsent_once_a_week")
        ]

    def __str__(self) -> str:
        return f"digest to {self.user_id} for the week of {self.week}"
