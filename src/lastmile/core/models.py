from django.conf import settings
from django.db import models


class Counter(models.Model):
    """A named, monotonically increasing number (case references, LM-1042)."""

    name = models.CharField(max_length=50, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class AuditEntry(models.Model):
    """One configuration change: who (``actor``, or ``actor_label`` for the CLI and the system),
    when, on which object, and the fields before and after.

    As Zulip's ``RealmAuditLog``: the actor is who acted, the object is what they changed.
    The object is named by ``app_label.model`` and its id rather than a foreign key, so the
    row outlives a deleted object and ``core`` depends on no app above it.
    """

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        CHANGED = "changed", "Changed"
        DELETED = "deleted", "Deleted"
        REVOKED = "revoked", "Revoked"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=50, blank=True, help_text="Who acted when no user did: cli, system, demo."
    )
    at = models.DateTimeField()
    object_type = models.CharField(max_length=100, help_text="app_label.model")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    action = models.CharField(max_length=20, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor", "at"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        who = self.actor_label if self.actor_id is None else str(self.actor_id)
        return f"{self.at:%Y-%m-%d %H:%M} {who} {self.action} {self.object_type} {self.object_repr}"
