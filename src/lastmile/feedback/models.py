"""The feedback tables: surveys, invites, responses, and the reasons responses are tagged with.

A ``Survey`` asks one question on one scale (NPS 0-10, CSAT 1-5, CES 1-7), is owned by a
team and fires on a trigger. Each ask is an ``Invite`` to one customer on one channel,
decided against the ``survey`` contact rule when it is made (a suppressed invite is kept,
with its reason). A customer answers an invite once (``Response``), and may change the
answer through the link for 24 hours. Every write goes through ``feedback.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class SurveyKind(models.TextChoices):
    NPS = "nps", "Net Promoter Score (0-10)"
    CSAT = "csat", "Customer satisfaction (1-5)"
    CES = "ces", "Customer effort (1-7)"


# The scale of each kind, and the scores that make a detractor (an unhappy answer that
# opens a recovery loop) and a promoter. CES asks how hard it was: high is bad.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
DETRACTORS: dict[str, range] = {"nps": range(0, 7), "csat": range(1, 3), "ces": range(5, 8)}
PROMOTERS: dict[str, range] = {"nps": range(9, 11), "csat": range(4, 6), "ces": range(1, 4)}


class Band(models.TextChoices):
    PROMOTER = "promoter", "Promoter"
    PASSIVE = "passive", "Passive"
    DETRACTOR = "detractor", "Detractor"


def band_of(kind: str, score: int) -> str:
    """Promoter, passive or detractor: NPS 9-10 / 7-8 / 0-6; CSAT 4-5 / 3 / 1-2;
    CES 1-3 / 4 / 5-7."""
    if score in DETRACTORS[kind]:
        return Band.DETRACTOR
    if score in PROMOTERS[kind]:
        return Band.PROMOTER
    return Band.PASSIVE


class Trigger(models.TextChoices):
    MANUAL = "manual", "Manual (an agent or the API)"
    CASE_SOLVED = "case_solved", "A case is solved"
    LOOP_CLOSED = "loop_closed", "A loop of a given kind is closed"
    EVENT = "event", "An event through the Segment API"
    SCHEDULE = "schedule", "Every N days per customer"


class InviteChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"
    PORTAL = "portal", "The customer's portal"
    LINK = "link", "A link (handed over by whoever asks)"


class ReminderState(models.TextChoices):
    NONE = "", "Not reminded"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    SUPPRESSED = "suppressed", "Suppressed"


class InviteState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    SUPPRESSED = "suppressed", "Suppressed"
    ANSWERED = "answered", "Answered"
    EXPIRED = "expired", "Expired"


class Survey(models.Model):
    """One question on one scale, owned by a team, fired by a trigger.

    ``wording`` holds the texts per language: ``{"en": {"question": "...", "comment":
    "...", "thanks": "...", "reminder": "...", "reminder_subject": "..."}, "fr": {...}}``; the customer's ``language`` attribute picks
    one, else ``language`` (the survey's own). ``comment_question`` empty: no free text.
    A detractor's recovery loop is due ``recovery_business_days`` business days later.
    """

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=4, choices=SurveyKind.choices)
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.MANUAL)
    trigger_loop_kind = models.CharField(
        max_length=16, blank=True, help_text="For 'loop closed': the kind of loop (visit, …)."
    )
    trigger_event = models.CharField(
        max_length=200, blank=True, help_text="For 'event': the event's name (Order Completed)."
    )
    every_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For 'schedule': ask each customer every N days."
    )
    all_teams = models.BooleanField(
        default=False,
        help_text="Fire on every team's cases and loops, not only the survey's team's.",
    )
    channel = models.CharField(
        max_length=8,
        choices=InviteChannel.choices,
        default=InviteChannel.EMAIL,
        help_text="How a triggered invite reaches the customer.",
    )
    language = models.CharField(max_length=10, default="en")
    wording = models.JSONField(default=dict, blank=True)
    comment_question = models.CharField(
        max_length=300,
        blank=True,
        default="What is the main reason for your score?",
        help_text="The free-text question; empty asks none.",
    )
    recovery_business_days = models.PositiveSmallIntegerField(default=2)
    invite_days = models.PositiveSmallIntegerField(
        default=30, help_text="An invite can be answered this many days."
    )
    remind_after_hours = models.PositiveSmallIntegerField(
        default=72,
        help_text="Remind once, this many hours after an email or SMS invite went out "
        "unanswered (under the same contact rule); 0: never.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind.upper()})"

    def clean(self) -> None:
        from lastmile.loops.models import LoopKind

        errors: dict[str, str] = {}
        if self.trigger == Trigger.LOOP_CLOSED and self.trigger_loop_kind not in LoopKind.values:
            errors["trigger_loop_kind"] = f"one of {', '.join(LoopKind.values)}"
        if self.trigger == Trigger.EVENT and not self.trigger_event.strip():
            errors["trigger_event"] = "name the event (e.g. Order Completed)"
        if self.trigger == Trigger.SCHEDULE and not self.every_days:
            errors["every_days"] = "how many days between two asks of one customer (at least 1)"
        if self.trigger == Trigger.SCHEDULE and self.channel == InviteChannel.LINK:
            errors["channel"] = "a scheduled survey goes out by email, SMS or the portal"
        if not isinstance(self.wording, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in self.wording.items()
        ):
            errors["wording"] = 'an object of language: {"question": …, "comment": …}'
        if self.recovery_business_days < 1:
            errors["recovery_business_days"] = "at least 1"
        if self.invite_days < 1:
            errors["invite_days"] = "at least 1"
        if errors:
            raise ValidationError(errors)

    @property
    def scale(self) -> tuple[int, int]:
        return SCALES[self.kind]

    def text(self, language: str) -> dict[str, str]:
        """The survey's texts in ``language`` (else its own language), with defaults."""
        wording = self.wording or {}
        chosen = wording.get(language) or wording.get(self.language) or {}
        low, high = self.scale
        default_question = {
            "nps": "How likely are you to recommend us to a friend or colleague?",
            "csat": "How satisfied are you with the help you got?",
            "ces": "How easy was it to get what you needed? (1 very easy, 7 very hard)",
        }[self.kind]
        return {
            "question": chosen.get("question") or default_question,
            "comment": chosen.get("comment", self.comment_question)
            if self.comment_question
            else "",
            "thanks": chosen.get("thanks") or "Thank you: your answer is recorded.",
            "low": chosen.get("low") or ("Not at all likely" if self.kind == "nps" else ""),
            "high": chosen.get("high") or ("Extremely likely" if self.kind == "nps" else ""),
            "subject": chosen.get("subject") or "One question about your experience",
            "reminder": chosen.get("reminder")
            or "We asked you a few days ago and would still like to know.",
            "reminder_subject": chosen.get("reminder_subject") or "A reminder: one question",
            "scale": f"{low}-{high}",
        }


class ReasonTag(models.Model):
    """A reason a response can be tagged with (delivery late, agent helpful…); the list is
    configured in the admin."""

    name = models.CharField(max_length=100, unique=True)
    keywords = models.CharField(
        max_length=500,
        blank=True,
        help_text="Words that suggest this reason in a comment, separated by commas.",
    )
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Invite(models.Model):
    """One ask of one customer on one channel.

    ``state`` is queued (decided, not yet known to have reached them), sent, suppressed
    (the contact rule stopped it: ``rule_check`` and ``reason`` say why), answered or
    expired. The link's token is random (unguessable) and only its SHA-256 is stored.
    ``key`` makes a trigger's invite impossible to make twice (``case_solved:<case>``).
    An email or SMS invite is reminded at most once (``reminder_state``: queued, sent, or
    suppressed by the contact rule with ``reminder_check`` and ``reminder_reason``), with a
    link of its own (``reminder_token_hash``) that opens the same invite. ``reminded_at`` is
    when it was reminded; while ``reminder_state`` is empty, until when quiet hours or a gap
    hold the reminder.
    """

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invites")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=InviteChannel.choices)
    state = models.CharField(max_length=12, choices=InviteState.choices)
    rule_check = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    language = models.CharField(max_length=10, blank=True)
    key = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    held_until = models.DateTimeField(
        null=True, blank=True, help_text="Quiet hours or a gap hold it until then."
    )
    expires_at = models.DateTimeField()
    reminder_state = models.CharField(
        max_length=12, choices=ReminderState.choices, blank=True, default=""
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    reminder_check = models.CharField(max_length=20, blank=True)
    reminder_reason = models.CharField(max_length=300, blank=True)
    # The reminder carries a link of its own (the first one's token is not kept): its hash.
    reminder_token_hash = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "key"], condition=~models.Q(key=""), name="invite_key_once"
            )
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="invite_customer"),
            # The state in the key: the summary's response rate counts from the index alone.
            models.Index(fields=["survey", "created_at", "state"], name="invite_survey_state"),
            # A schedule's "asked this customer lately?" probe, one per customer: without the
            # customer in the key, a planner picks ``invite_survey_state`` and reads every invite
            # of the survey for each customer.
            models.Index(
                fields=["survey", "customer", "-created_at"], name="invite_survey_customer"
            ),
            # The reminder run's scan: sent invites not yet reminded, oldest first.
            models.Index(
                fields=["sent_at"],
                name="invite_to_remind",
                condition=models.Q(state="sent", reminder_state=""),
            ),
        ]

    def __str__(self) -> str:
        return f"Invite #{self.pk} to {self.customer_id} ({self.channel}, {self.state})"


class RecoveryOutcome(models.TextChoices):
    CALLED_BACK = "called_back", "Called back"
    FIXED = "fixed", "Fixed"
    REFUNDED = "refunded", "Refunded"
    COULD_NOT_REACH = "could_not_reach", "Could not reach"


class Response(models.Model):
    """A customer's answer to an invite: one per invite, changeable through the link for
    24 hours after ``at``. ``band`` is stored with the score so the summary is one
    aggregate; ``recovery_loop`` is the loop a detractor opened (at most one), closed with
    a ``recovery_outcome`` (and the invite that asked again, ``resurvey``, if one did)."""

    invite = models.OneToOneField(Invite, on_delete=models.PROTECT, related_name="response")
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="+")
    score = models.SmallIntegerField()
    band = models.CharField(max_length=10, choices=Band.choices)
    comment = models.TextField(blank=True)
    sentiment = models.CharField(max_length=10, blank=True)
    detractor = models.BooleanField(default=False)
    reason = models.ForeignKey(
        ReasonTag, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, default="link")
    at = models.DateTimeField()
    changed_at = models.DateTimeField(null=True, blank=True)
    recovery_loop = models.OneToOneField(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recovery_outcome = models.CharField(
        max_length=16, choices=RecoveryOutcome.choices, blank=True, default=""
    )
    recovery_note = models.CharField(max_length=500, blank=True)
    recovery_closed_at = models.DateTimeField(null=True, blank=True)
    recovery_closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resurvey = models.OneToOneField(
        Invite, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        # The band in the key: the summary of one survey counts bands from the index alone.
        indexes = [models.Index(fields=["survey", "at", "band"], name="response_survey_at_band")]

    def __str__(self) -> str:
        return f"{self.score} on invite #{self.invite_id}"
