"""Rows of working together: who has a case open, what a note's @mentions matched, and each
agent's notifications."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Presence(models.Model):
    """An agent has a case open: the page's heartbeat refreshes ``last_seen`` every few
    seconds while its tab is visible, the composer's typing ping ``typing_until``.

    A row older than ``PRESENCE_SECONDS`` (``live.selectors``) is shown as nobody: a closed
    tab, a hidden one or a lost connection all simply stop beating.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    last_seen = models.DateTimeField()
    typing_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "case"], name="presence_user_case"),
        ]
        indexes = [models.Index(fields=["case", "last_seen"], name="presence_case_seen")]

    def __str__(self) -> str:
        return f"{self.user} on case {self.case_id} at {self.last_seen:%H:%M:%S}"


class MentionMatch(models.TextChoices):
    USERNAME = "username", "Username"
    FIRST_NAME = "first_name", "First name"
    AMBIGUOUS = "ambiguous", "Several agents have that first name"
    NONE = "none", "No agent by that name"
    NO_ACCESS = "no_access", "Cannot open this case"
    SELF = "self", "The note's author"


class Mention(models.Model):
    """One ``@name`` in an internal note and what it matched: an agent by username or by a
    first name only one agent has, or why nobody was notified. Shown under the note."""

    interaction = models.ForeignKey(
        "customers.Interaction", on_delete=models.CASCADE, related_name="+"
    )
    token = models.CharField(max_length=150, help_text="What followed the @, as written.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    matched = models.CharField(max_length=12, choices=MentionMatch.choices)

    class Meta:
        indexes = [models.Index(fields=["interaction"], name="mention_interaction")]

    def __str__(self) -> str:
        return f"@{self.token}: {self.matched}"

    @property
    def notified(self) -> bool:
        return self.matched in (MentionMatch.USERNAME, MentionMatch.FIRST_NAME)


class NotificationKind(models.TextChoices):
    MENTION = "mention", "Mention"
    ASSIGNED = "assigned", "Assignment"
    ESCALATION = "escalation", "Escalation"


class Notification(models.Model):
    """Something an agent should look at: a mention in a note, a case given to them, a loop
    of theirs (or of their team's, when nobody holds it) that breached its SLA. Read when
    opened from the list or marked read with the rest."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,  # ``notification_list`` (recipient, -created_at, -id) leads with it
    )
    kind = models.CharField(max_length=12, choices=NotificationKind.choices)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_list"),
            # The badge's count: only unread rows are in this index.
            models.Index(
                fields=["recipient"],
                name="notification_unread",
                condition=models.Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}: {self.text}"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None
