from __future__ import annotations

from django.db import models


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"


class OutboxMessage(models.Model):
    """A message lastmile must send, written in the transaction of the change that caused it.

    A worker delivers pending rows; ``key`` makes the same message impossible to queue twice.
    """

    key = models.CharField(max_length=200, unique=True)
    purpose = models.CharField(max_length=30, default="notification")
    channel = models.CharField(max_length=40, default="email")
    recipient = models.CharField(max_length=320)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending",
                condition=models.Q(status="pending"),
            )
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
