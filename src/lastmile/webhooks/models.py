"""Messaging integrations (signed webhooks in and out) and outgoing event webhooks."""

from __future__ import annotations

import uuid

from django.db import models


class MessagingChannel(models.TextChoices):
    """Channels a messaging integration can carry (values of ``customers.Channel``)."""

    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    CHAT = "chat", "Chat"


# Channels whose sender is a phone number (stored as an E.164 phone identity); on the
# others the sender is an id issued by the integration (an external identity).
PHONE_CHANNELS = frozenset({MessagingChannel.SMS, MessagingChannel.WHATSAPP})


class Integration(models.Model):
    """A messaging provider or gateway that posts customers' messages to ``/hooks/in/<slug>``
    and receives our replies at ``url``, both signed with ``secret``.

    The secret is stored as it is (HMAC needs it on both sides) but shown only once, when
    the integration is created or its secret rotated. ``slug`` is part of every stored
    message id (idempotency), so it does not change after creation.
    """

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=30, unique=True)
    channel = models.CharField(max_length=20, choices=MessagingChannel.choices)
    secret = models.CharField(max_length=100, editable=False)
    secret_prefix = models.CharField(
        max_length=16, editable=False, help_text="First characters of the secret."
    )
    url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where replies are POSTed (signed). Empty: this integration only receives.",
    )
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="New cases from this integration go to this team.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel})"


class Conversation(models.Model):
    """Which integration and address a case is talking on, so a reply goes back the same way.

    Updated by every inbound message; ``address`` is the customer's (E.164 phone or the
    integration's chat id), ``our_address`` the number or bot the customer wrote to.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=320)
    our_address = models.CharField(max_length=320, blank=True)
    last_inbound_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "case", "address"], name="conversation_unique"
            )
        ]
        indexes = [models.Index(fields=["case", "-last_inbound_at"], name="conversation_case")]

    def __str__(self) -> str:
        return f"{self.integration.slug}:{self.address} on case {self.case_id}"


class Subscription(models.Model):
    """Someone outside who wants to hear about events (``loop.breached``, ``case.solved``…).

    ``events`` is a list of names, ``"loop.*"`` for every event of a noun, or ``["*"]``.
    With a team, only events about that team's work are sent. Deliveries are signed with
    ``secret`` (shown once, like an integration's).
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=100, editable=False)
    secret_prefix = models.CharField(max_length=16, editable=False)
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only events about this team's work; empty: every team.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        noun = event.split(".", 1)[0]
        return any(e in ("*", event, f"{noun}.*") for e in self.events)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event owed to one subscription: written with the change that caused the event,
    sent by the worker until the receiver answers 2xx or the attempts run out.

    ``uuid`` is sent as ``X-Lastmile-Delivery`` on every attempt (a redelivery too), so a
    receiver that got it once can drop the repeats.
    """

    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=60)
    event_id = models.UUIDField(help_text="The same for every subscription told of one event.")
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    redelivered_at = models.DateTimeField(null=True, blank=True)
    redelivered_by = models.CharField(
        max_length=150, blank=True, help_text="Who last asked for a redelivery."
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status="pending"),
            ),
            # /metrics counts the failed ones at every scrape.
            models.Index(
                fields=["created_at"], name="delivery_failed", condition=models.Q(status="failed")
            ),
            models.Index(fields=["subscription", "-id"], name="delivery_subscription"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.subscription} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP request made for a delivery: the delivery log's detail."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["delivery", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} at {self.at:%Y-%m-%d %H:%M:%S}"
