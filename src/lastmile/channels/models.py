from __future__ import annotations

import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models

from lastmile.core.choices import Badge, ChoiceSet


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"


# How the outbox panel shows a message; "sending" and "held" are pending messages, told apart
# by ``lastmile.channels.selectors.outbox_status_badge``.
OUTBOX_STATUS = ChoiceSet(
    OutboxStatus,
    colours={
        OutboxStatus.PENDING: "at-risk",
        OutboxStatus.SENT: "ok",
        OutboxStatus.FAILED: "breached",
        OutboxStatus.SUPPRESSED: "grey",
    },
    derived=(Badge("sending", "Sending", "at-risk"), Badge("held", "Held", "at-risk")),
)


# A contact rule's attribute condition names a top-level key of ``Customer.attributes``.
ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")


class ContactScope(models.TextChoices):
    PURPOSE = "purpose", "Messages of this purpose"
    ALL = "all", "Every message to the customer except replies"


class ContactRule(models.Model):
    """How often, and when, lastmile may contact a customer for one purpose.

    The outbox worker checks each message to a customer against its purpose's rule when it
    is about to send it (``channels.contact.contact_decide``): quiet hours in the customer's
    time zone hold it until they end; a cap, a minimum gap or too many unanswered attempts
    ("ask once") stop it, and the message keeps the rule and the reason. A purpose without a
    rule, or with an inactive one, is sent as it comes. Replies (purpose ``reply``) are never
    stopped by caps, whatever the rule says: the customer asked for them.

    A rule may hold only for customers with an attribute of a given value
    (``attribute_key`` ``vip``, ``attribute_value`` ``true``: "VIPs get a survey every 60
    days at most"). For a customer, the most specific rule of the purpose wins, and it
    replaces the general one whole (``channels.contact.rule_pick``): an active rule whose
    condition the customer meets, else the purpose's rule without a condition. Several
    matching conditions: the first by key, then value.
    """

    purpose = models.CharField(
        max_length=30,
        help_text="The outbox purpose this rule governs: reply, notification, survey, marketing…",
    )
    attribute_key = models.CharField(
        max_length=60,
        blank=True,
        default="",
        help_text=(
            "Only for customers whose attributes have this key (vip, tier…); empty for every "
            "customer."
        ),
    )
    attribute_value = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="…with this value: true, false, gold, 3 (compared as text).",
    )
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    quiet_start = models.TimeField(
        null=True, blank=True, help_text="Start of quiet hours, the customer's local time."
    )
    quiet_end = models.TimeField(
        null=True,
        blank=True,
        help_text="End of quiet hours, local time; before the start means over midnight.",
    )
    caps_apply = models.BooleanField(
        default=True,
        help_text="Apply the limits below (never to replies). Quiet hours apply either way.",
    )
    max_per_period = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many contacts per customer per period."
    )
    period = models.DurationField(default=timedelta(days=7))
    scope = models.CharField(
        max_length=10,
        choices=ContactScope.choices,
        default=ContactScope.PURPOSE,
        help_text="Which earlier messages count towards the cap and the minimum gap.",
    )
    min_gap = models.DurationField(
        null=True, blank=True, help_text="Hold a message until this long after the last one."
    )
    max_unanswered = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Ask once: stop when this many messages of this purpose since the customer last "
            "wrote got no answer (1 = ask once)."
        ),
    )
    customer_required = models.BooleanField(
        default=False,
        help_text="Stop a message of this purpose that names no customer (it could not be counted).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(quiet_start__isnull=True, quiet_end__isnull=True)
                    | models.Q(quiet_start__isnull=False, quiet_end__isnull=False)
                ),
                name="contactrule_quiet_pair",
            ),
            models.CheckConstraint(
                condition=models.Q(period__gt=timedelta(0)), name="contactrule_period_positive"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(attribute_key="", attribute_value="")
                    | (~models.Q(attribute_key="") & ~models.Q(attribute_value=""))
                ),
                name="contactrule_attribute_pair",
            ),
            # One general rule per purpose, and one per purpose and condition.
            models.UniqueConstraint(
                fields=["purpose", "attribute_key", "attribute_value"],
                name="contactrule_unique",
                violation_error_message="There is already a rule for this purpose and condition.",
            ),
        ]
        # The general rule (no condition: empty key) first within its purpose.
        ordering = ["purpose", "attribute_key", "attribute_value"]

    def __str__(self) -> str:
        return f"Contact rule: {self.label}"

    @property
    def label(self) -> str:
        """``survey``, or ``survey for vip=true``."""
        if self.attribute_key:
            return f"{self.purpose} for {self.attribute_key}={self.attribute_value}"
        return self.purpose

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (self.quiet_start is None) != (self.quiet_end is None):
            errors["quiet_end"] = "Give both the start and the end of quiet hours, or neither."
        elif self.quiet_start is not None and self.quiet_start == self.quiet_end:
            errors["quiet_end"] = "Quiet hours must end at another time than they start."
        if self.period is not None and self.period <= timedelta(0):
            errors["period"] = "The period must be longer than zero."
        if self.min_gap is not None and self.min_gap < timedelta(0):
            errors["min_gap"] = "The minimum gap cannot be negative."
        if self.max_unanswered == 0:
            errors["max_unanswered"] = "0 would stop every message; leave it empty for no limit."
        key, value = (self.attribute_key or "").strip(), (self.attribute_value or "").strip()
        self.attribute_key, self.attribute_value = key, value
        if key and not ATTRIBUTE_KEY.fullmatch(key):
            errors["attribute_key"] = (
                "An attribute key is letters, digits, _ and - (a top-level key of the "
                "customer's attributes)."
            )
        elif key and not value:
            errors["attribute_value"] = (
                "Give the value the attribute must have (true, gold, 3…), or leave the key "
                "empty for a rule on every customer."
            )
        elif value and not key:
            errors["attribute_key"] = "Name the attribute the value is for, or leave both empty."
        if errors:
            raise ValidationError(errors)


class SuppressionCheck(models.TextChoices):
    """Which part of a contact rule held or stopped a message."""

    QUIET_HOURS = "quiet_hours", "Quiet hours"
    MIN_GAP = "min_gap", "Minimum gap"
    MAX_PER_PERIOD = "max_per_period", "Contacts per period"
    MAX_UNANSWERED = "max_unanswered", "Unanswered attempts (ask once)"
    NO_CUSTOMER = "no_customer", "No customer to count"


class OutboxMessage(models.Model):
    """A message lastmile must send, written in the transaction of the change that caused it.

    A worker delivers pending rows; ``key`` makes the same message impossible to queue twice.
    ``customer`` (empty for messages to agents) is whom the contact rules count; ``rule``,
    ``rule_check`` and ``rule_reason`` say which rule last held or stopped the message.
    """

    key = models.CharField(max_length=200, unique=True)
    purpose = models.CharField(max_length=30, default="notification")
    channel = models.CharField(max_length=40, default="email")
    recipient = models.CharField(max_length=320)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outbox_messages",
        db_index=False,  # ``outbox_customer`` (customer, -created_at) leads with it
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    # Set while a worker is sending it: a message in flight counts as a contact, so a second
    # worker cannot pass the same cap. Left set when the worker died mid-send (the message
    # may have gone out), until another worker claims it again after the lease.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The new columns carry database defaults too: rows written by raw SQL stay valid.
    external_id = models.CharField(
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text="What the transport calls it (an email Message-ID).",
    )
    rule = models.ForeignKey(
        ContactRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule_check = models.CharField(
        max_length=20, choices=SuppressionCheck.choices, blank=True, default="", db_default=""
    )
    rule_reason = models.CharField(max_length=300, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending",
                condition=models.Q(status="pending"),
            ),
            # /metrics counts the failed ones at every scrape.
            models.Index(
                fields=["created_at"], name="outbox_failed", condition=models.Q(status="failed")
            ),
            # Contact history and the timeline: one customer's messages, newest first.
            models.Index(fields=["customer", "-created_at"], name="outbox_customer"),
        ]
        verbose_name = "outbox message"

    def __str__(self) -> str:
        return f"{self.purpose} to {self.recipient}: {self.subject}"


class SourceKind(models.TextChoices):
    SEGMENT = "segment", "Segment-compatible event API"


class Source(models.Model):
    """Where events come from: a Segment-style client holding a write key.

    Only the write key's SHA-256 is stored; ``prefix`` lets people recognise a key.
    A revoked source's key is refused (401).
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.SEGMENT)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters of the write key."
    )
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.prefix}…)"
