"""Saved funnels: a named definition asked again over any date range."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Funnel(models.Model):
    """A saved funnel: its steps, mode, window and exclusions, without a date range.

    ``definition`` holds a ``FunnelDefinition`` less ``from`` and ``to``, as
    ``funnel_services.definition_check`` normalised it: the range is chosen each time the
    funnel is asked (the last 30 days unless given), so one saved funnel serves every
    period. Every write goes through ``funnel_services``, which validates the definition;
    deleting a funnel archives it (recovery rules and old links still name it).
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    definition = models.JSONField(
        help_text="The steps, mode, window_seconds and exclusions (no from/to), as the API's "
        "funnel query takes them."
    )
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The team that owns the funnel (and its recovery); empty: nobody yet.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when an integration or the system created it.",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    archived = models.BooleanField(
        default=False, help_text="Archived funnels are kept but no longer listed."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
