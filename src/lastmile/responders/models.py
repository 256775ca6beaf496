"""Guarded responders: an enrolment (who, for which team, within which limits), every reply
they attempt (``ResponderReply``, one row per attempt, whatever became of it) and the audit
trail of both (``ResponderEvent``, append-only)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

DEFAULT_APPROVALS = 5


class Enrolment(models.Model):
    """A staff member enrolled to answer customers for a sponsoring team, within limits.

    The responder need not work in a support team (a store's staff member); the sponsoring
    team's lead (``approver``, by default the team's lead) approves their first
    ``approvals_needed`` replies and anything a policy warns about. One enrolment per person.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="responder_enrolment"
    )
    team = models.ForeignKey(
        "people.Team",
        on_delete=models.PROTECT,
        related_name="responder_enrolments",
        help_text="The sponsoring team: its mentions and simple cases are answered.",
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responders_approved",
        help_text="The lead who approves held replies; empty: the team's lead.",
    )
    networks = models.JSONField(
        default=list,
        blank=True,
        help_text='Social networks whose mentions may be answered, e.g. ["twitter"].',
    )
    case_replies = models.BooleanField(
        default=False, help_text="May reply on the team's simple cases."
    )
    macros = models.ManyToManyField(
        "macros.Macro",
        blank=True,
        related_name="+",
        help_text="The saved responses the responder may send.",
    )
    free_text = models.BooleanField(
        default=False, help_text="May write or edit the text instead of a saved response as is."
    )
    simple_tag = models.CharField(
        max_length=50,
        blank=True,
        help_text="A case counts as simple only with this tag (empty: any of the team's cases).",
    )
    simple_max_messages = models.PositiveIntegerField(
        default=4,
        help_text="A case counts as simple with at most this many messages (0: no limit).",
    )
    approvals_needed = models.PositiveIntegerField(
        default=DEFAULT_APPROVALS,
        help_text="How many of the first replies the lead approves before they go out.",
    )
    active = models.BooleanField(default=True, help_text="Paused enrolments answer nothing.")
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user.username} for {self.team.name}"


class Target(models.TextChoices):
    MENTION = "mention", "Social mention"
    CASE = "case", "Case"


class ReplyState(models.TextChoices):
    REFUSED = "refused", "Refused by a limit"
    BLOCKED = "blocked", "Blocked by a policy"
    HELD = "held", "Waiting for the lead"
    SENT = "sent", "Sent"
    RETURNED = "returned", "Returned by the lead"


class ResponderReply(models.Model):
    """One reply a responder attempted, as written and as checked: never edited, except the
    one decision on a held reply (approved and sent, or returned with a note) and what the
    send produced. A refusal (a limit) or a block (a policy) is kept too."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="replies")
    responder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    target = models.CharField(max_length=10, choices=Target.choices)
    mention = models.ForeignKey(
        "listening.Mention", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the customer's message being answered was posted: the reply time's start.
    target_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=40, blank=True)
    macro = models.ForeignKey(
        "macros.Macro", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    macro_name = models.CharField(max_length=100, blank=True)
    body = models.TextField()
    edited = models.BooleanField(
        default=False, help_text="Written or changed by the responder (free text)."
    )
    state = models.CharField(max_length=10, choices=ReplyState.choices)
    # Why it was refused, blocked or held, in words; ``limit`` names the limit refused on.
    reason = models.TextField(blank=True)
    limit = models.CharField(max_length=30, blank=True)
    hold = models.JSONField(default=list, blank=True, help_text='e.g. ["first_replies"]')
    verdicts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="The lead's note when returning it.")
    sent_at = models.DateTimeField(null=True, blank=True)
    interaction = models.ForeignKey(
        "customers.Interaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    delivery = models.CharField(max_length=10, blank=True)
    # While held: the lead's task to decide it, on the reply's case (the case is not solved
    # while a reply waits); closed when the lead approves or returns it.
    approval_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The client's Idempotency-Key and what it was sent with.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["responder", "idempotency_key"], name="responder_reply_key"
            ),
        ]
        indexes = [
            models.Index(fields=["team", "state", "created_at"], name="responder_reply_team"),
            models.Index(fields=["responder", "created_at"], name="responder_reply_responder"),
            models.Index(fields=["enrolment", "state"], name="responder_reply_enrolment"),
        ]

    def __str__(self) -> str:
        return f"Reply #{self.pk} by {self.responder_id} ({self.state})"


class ResponderEvent(models.Model):
    """The audit trail: an enrolment made, changed, paused; a reply refused, blocked, held,
    approved, returned, sent. Append-only."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="events")
    reply = models.ForeignKey(
        ResponderReply, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
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
