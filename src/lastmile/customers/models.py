from __future__ import annotations

from django.conf import settings
from django.db import models


class Customer(models.Model):
    """A person the business serves; identities point at them, the timeline hangs off them.

    A customer merged into another keeps its row with ``merged_into`` set, so old ids
    still resolve; everything it owned moves to the survivor (and back on unmerge).
    """

    display_name = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.display_name or f"Customer {self.pk}"


class IdentityKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    SOCIAL = "social", "Social handle"
    EXTERNAL = "external", "External id"
    ANONYMOUS = "anonymous", "Anonymous id"


class Identity(models.Model):
    """A way to recognise a customer: unique per (kind, network, value), stored normalised."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    # The social network for social handles ("twitter"), the issuing system for external ids;
    # empty for email, phone and anonymous ids.
    network = models.CharField(max_length=50, blank=True, default="")
    value = models.CharField(max_length=320)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "network", "value"], name="identity_unique")
        ]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        prefix = f"{self.kind}:{self.network}" if self.network else self.kind
        return f"{prefix}:{self.value}"


class CustomerMerge(models.Model):
    """Audit of a merge and what it moved, so it can be undone."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    # {"app_label.model.field": [pk, ...]} — the rows that moved from merged to survivor.
    moved = models.JSONField(default=dict)
    reason = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField()
    undone_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    SOCIAL = "social", "Social"  # stored as social:<network>
    WEB = "web", "Web"
    APP = "app", "App"
    FIELD = "field", "Field"
    PORTAL = "portal", "Portal"
    API = "api", "API"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    NOTE = "note", "Internal note"


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class Interaction(models.Model):
    """One thing said or done with a customer, on any channel: the timeline's row.

    An inbound interaction whose body is the customer's own words carries a sentiment
    label and score (``lastmile.sentiment``); outbound replies, notes and events (a
    Segment ``track`` has a generated summary, not words) are not scored and keep NULL.
    """

    # No index of its own: ``interaction_timeline`` (customer, -occurred_at, -id) leads with it.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="interactions", db_index=False
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="interactions"
    )
    channel = models.CharField(max_length=40)  # a Channel value, or "social:<network>"
    direction = models.CharField(max_length=10, choices=Direction.choices)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)
    # The sender's id for the message; the same (channel, source_id) is stored once.
    # NULL, not "", when absent: the unique constraint must not treat two absent ids as equal.
    source_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # NULL, not "", when not scored: the partial index below then holds only scored rows,
    # and ``sentiment_label = 'negative'`` implies its condition for SQLite's planner too.
    sentiment_label = models.CharField(  # noqa: DJ001
        max_length=8, choices=Sentiment.choices, null=True, blank=True
    )
    # p(positive) - p(negative), in [-1, 1].
    sentiment_score = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "source_id"], name="interaction_source_unique"
            )
        ]
        indexes = [
            # The timeline: newest first, keyset-paginated on (occurred_at, id).
            models.Index(fields=["customer", "-occurred_at", "-id"], name="interaction_timeline"),
            # Only rows on a case: most events (a Segment track) are on none, and every
            # lookup here is by one case (``case_id = …`` implies the condition).
            models.Index(
                fields=["case", "occurred_at"],
                name="interaction_case",
                condition=models.Q(case__isnull=False),
            ),
            # "Every negative message, newest first" across customers; events and outbound
            # rows are not in it, so it costs nothing on their ingest.
            models.Index(
                fields=["sentiment_label", "-occurred_at", "-id"],
                name="interaction_sentiment",
                condition=models.Q(sentiment_label__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.direction} {self.occurred_at:%Y-%m-%d %H:%M}"


class SentimentPending(models.Model):
    """An interaction stored by a batch ingest whose sentiment the worker has yet to score.

    The ingest of the HTTP and Segment APIs writes one row here per inbound message instead of
    reading each text with the model inside the request (``services.sentiment``); the worker
    scores them in batches, sets the interaction's label and score, and deletes these rows.
    A table of its own, not a column of the timeline: a few rows at a time, no migration of
    the big table. No foreign-key constraint (nothing to check on the hot insert); a row whose
    interaction is gone is dropped by the worker.
    """

    interaction = models.OneToOneField(
        Interaction,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    def __str__(self) -> str:
        return f"sentiment pending for interaction {self.pk}"
