"""Lessons: what went wrong on one conversation, told to the agent, with a coaching loop for
their lead; and each team's coaching settings (the QA target)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

DEFAULT_QA_TARGET = 80


class CoachingSettings(models.Model):
    """A team's coaching settings. A team without a row has the defaults."""

    team = models.OneToOneField(
        "people.Team", on_delete=models.CASCADE, related_name="coaching_settings"
    )
    qa_target = models.PositiveSmallIntegerField(
        default=DEFAULT_QA_TARGET,
        validators=[MaxValueValidator(100)],
        help_text="A review by a person scoring below this (0-100) opens a lesson.",
    )
    automatic_reviews = models.BooleanField(
        default=False,
        help_text=(
            "Also open a lesson when the automatic first pass scores a conversation below "
            "the target (off: only reviews and overrides by people do)."
        ),
    )

    class Meta:
        verbose_name = "team coaching settings"
        verbose_name_plural = "team coaching settings"
        constraints = [
            models.CheckConstraint(condition=Q(qa_target__lte=100), name="coaching_target_0_100")
        ]

    def __str__(self) -> str:
        return f"Coaching of team {self.team_id}: QA target {self.qa_target}"


class LessonReason(models.TextChoices):
    QA_BELOW_TARGET = "qa_below_target", "QA review below target"
    PROMISE_BROKEN = "promise_broken", "Broken promise"
    BREACH = "breach", "Breached deadline"


class LessonState(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    RETURNED = "returned", "Returned"


OPEN_STATES = (LessonState.ASSIGNED, LessonState.RETURNED, LessonState.SUBMITTED)


class Lesson(models.Model):
    """One lesson for ``agent``, opened by one source (a QA review, a broken promise or a
    loop that breached in the agent's hands), at most once per source; ``loop`` is the
    lead's coaching loop, closed when the lead accepts.

    What the lesson shows is kept as it was when it opened: the conversation masked, the
    reviewer's words, the articles and policies that apply, the questions."""

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lessons"
    )
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lessons_to_coach",
    )
    loop = models.OneToOneField(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="lesson"
    )
    reason = models.CharField(max_length=20, choices=LessonReason.choices)
    qa_review = models.ForeignKey(
        "scorecards.QaReview",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    promise = models.ForeignKey(
        "promises.Promise", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    breached_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=300)
    # [{"at", "author", "text"}], oldest first (masking.MaskedMessage.as_json).
    conversation = models.JSONField(default=list, blank=True)
    what_went_wrong = models.TextField()
    # [{"slug", "title"}]: the knowledge articles for the case.
    articles = models.JSONField(default=list, blank=True)
    # [{"key", "title", "text"}]: the promise policies that apply.
    policies = models.JSONField(default=list, blank=True)
    questions = models.JSONField(default=list)
    answers = models.JSONField(default=list, blank=True)
    draft = models.TextField(blank=True, help_text="The agent's better reply.")
    state = models.CharField(
        max_length=10, choices=LessonState.choices, default=LessonState.ASSIGNED
    )
    lead_note = models.TextField(blank=True, help_text="The lead's last note (on return).")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Each source opens at most one lesson (NULLs are not equal: other sources').
            models.UniqueConstraint(fields=["qa_review"], name="lesson_one_per_review"),
            models.UniqueConstraint(fields=["promise"], name="lesson_one_per_promise"),
            models.UniqueConstraint(fields=["breached_loop"], name="lesson_one_per_breach"),
        ]
        indexes = [
            models.Index(fields=["agent", "state"], name="lesson_agent_state"),
            models.Index(fields=["team", "state"], name="lesson_team_state"),
        ]

    def __str__(self) -> str:
        return f"Lesson {self.pk} for {self.agent_id}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class LessonEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    SUBMITTED = "submitted", "Submitted"
    RETURNED = "returned", "Returned"
    ACCEPTED = "accepted", "Accepted"


class LessonEvent(models.Model):
    """The lesson's trail: every change, who made it and when; never edited."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=LessonEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    note = models.TextField(blank=True)
    # What changed: the state before and after, and the answers or draft submitted.
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"
