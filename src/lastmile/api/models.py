from __future__ import annotations

from django.db import models


class ApiToken(models.Model):
    """A bearer token for one integration; only its SHA-256 is stored."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to recognise it."
    )
    agent = models.ForeignKey(
        "people.Agent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="Act as this agent (sees only their teams' work); empty = an integration that sees all.",
    )
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class TokenFailureCount(models.Model):
    """Unknown bearer tokens presented from one address in one clock minute.

    In the database, not in a worker's memory, so the limit holds across gunicorn workers;
    a model rather than a cache table, so a test database flush empties it too.
    """

    address = models.CharField(max_length=64)
    minute = models.DateTimeField(db_index=True, help_text="Start of the minute counted.")
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["address", "minute"], name="token_failure_per_minute")
        ]

    def __str__(self) -> str:
        return f"{self.address} {self.minute:%H:%M}: {self.failures}"
