"""Practice: cases made from real closed conversations (masked), a team's onboarding path of
them, and the attempts agents draft against them, scored by a lead with a QA scorecard.

Nothing here points at a live customer, loop or promise: a practice case holds a frozen,
masked copy of the conversation (``conversation``), and an attempt's promises and hand-off
are drafts stored on the attempt, never recorded anywhere else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class PracticeCase(models.Model):
    """A closed conversation turned into practice by a lead of its team: the masked messages
    as they were when it was made (never re-read from the case), what a good answer covers
    (``guidance``), and the QA scorecard a draft against it is scored with."""

    title = models.CharField(max_length=200)
    team = models.ForeignKey("people.Team", on_delete=models.CASCADE, related_name="+")
    scorecard = models.ForeignKey(
        "scorecards.QaScorecard", on_delete=models.PROTECT, related_name="+"
    )
    source_ref = models.CharField(
        max_length=30, help_text="The closed case it was made from (for the lead, not shown)."
    )
    conversation = models.JSONField(
        default=list,
        help_text='Masked messages, frozen when made: [{"at", "author", "text"}].',
    )
    guidance = models.TextField(blank=True, help_text="What a good answer covers.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "active"], name="practicecase_team")]

    def __str__(self) -> str:
        return self.title


class OnboardingPath(models.Model):
    """A team's onboarding path: its practice cases in order (``steps``), one per team."""

    team = models.OneToOneField(
        "people.Team", on_delete=models.CASCADE, related_name="onboarding_path"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Onboarding path of team {self.team_id}"


class OnboardingStep(models.Model):
    """One practice case at ``position`` (from 1) of a team's path."""

    path = models.ForeignKey(OnboardingPath, on_delete=models.CASCADE, related_name="steps")
    practice_case = models.ForeignKey(PracticeCase, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["path", "position"]
        constraints = [
            models.UniqueConstraint(fields=["path", "practice_case"], name="onboardingstep_once"),
            models.UniqueConstraint(fields=["path", "position"], name="onboardingstep_position"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.practice_case_id}"


class AttemptState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Waiting for the lead"
    SCORED = "scored", "Scored"
    RETURNED = "returned", "Returned to redo"


OPEN_STATES = (AttemptState.DRAFT, AttemptState.SUBMITTED, AttemptState.RETURNED)


class PracticeAttempt(models.Model):
    """An agent's answer to a practice case: the reply, the promises they would make
    (``promises``: ``[{"text", "terms", "due_at"}]``) and a hand-off, as drafts. One open
    attempt per agent and case (draft, submitted or returned); once scored, they may try
    again. ``score``: the QA total of the lead's ``scores``, by ``qa.review_score``;
    ``checks``: the dry-run policy verdicts when it was submitted."""

    practice_case = models.ForeignKey(
        PracticeCase, on_delete=models.CASCADE, related_name="attempts"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practice_attempts"
    )
    team = models.ForeignKey("people.Team", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(
        max_length=10, choices=AttemptState.choices, default=AttemptState.DRAFT
    )
    reply = models.TextField(blank=True)
    promises = models.JSONField(default=list, blank=True)
    handoff_team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handoff_note = models.TextField(blank=True)
    checks = models.JSONField(default=list, blank=True)
    score = models.FloatField(null=True, blank=True)
    comment = models.TextField(blank=True, help_text="The lead's comment.")
    scored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "practice_case"],
                condition=Q(state__in=["draft", "submitted", "returned"]),
                name="practiceattempt_one_open",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100),
                name="practiceattempt_score_0_100",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "state"], name="practiceattempt_team_state"),
            models.Index(fields=["agent", "scored_at"], name="practiceattempt_agent_scored"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.pk} at {self.practice_case_id} by {self.agent_id} ({self.state})"


class PracticeScore(models.Model):
    """The lead's score of one category of the practice case's scorecard."""

    attempt = models.ForeignKey(PracticeAttempt, on_delete=models.CASCADE, related_name="scores")
    category = models.ForeignKey(
        "scorecards.QaCategory", on_delete=models.PROTECT, related_name="+"
    )
    score = models.IntegerField()

    class Meta:
        ordering = ["attempt", "category__position", "category_id"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "category"], name="practicescore_once")
        ]

    def __str__(self) -> str:
        return f"{self.category_id}: {self.score}"


class PracticeEvent(models.Model):
    """The trail of an attempt (saved, submitted, scored, returned) and of a path
    (arranged), with who did it."""

    attempt = models.ForeignKey(
        PracticeAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    path = models.ForeignKey(
        OnboardingPath, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"
