"""The dashboard's rollups: figures per team and week kept by the worker
(``rollups.rollups_refresh``), so that the dashboard reads a few hundred rows."""

from __future__ import annotations

from django.db import models


class TeamWeekRollup(models.Model):
    """One team's figures for one week (Monday 00:00 UTC to the next Monday), kept by the
    worker (``rollups.rollups_refresh``) so the dashboard reads a few hundred rows instead
    of aggregating the loops. Counts are stored, rates are worked out when read, so that
    weeks can be pooled. The open-loop figures are a snapshot at ``snapshot_at``: the end of
    the week, or the moment of computing for the week in progress."""

    team = models.ForeignKey("people.Team", on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="The week's Monday (UTC).")
    snapshot_at = models.DateTimeField()
    open_loops = models.PositiveIntegerField(default=0)
    overdue_loops = models.PositiveIntegerField(default=0)
    overdue_mean_hours = models.FloatField(null=True, blank=True)
    overdue_p95_hours = models.FloatField(null=True, blank=True)
    loops_finished = models.PositiveIntegerField(default=0)
    breaches = models.PositiveIntegerField(default=0)
    loops_closed = models.PositiveIntegerField(default=0)
    loops_closed_with_deadline = models.PositiveIntegerField(default=0)
    loops_closed_on_time = models.PositiveIntegerField(default=0)
    promises_broken = models.PositiveIntegerField(default=0)
    csat_responses = models.PositiveIntegerField(default=0)
    csat_happy = models.PositiveIntegerField(default=0)
    nps_responses = models.PositiveIntegerField(default=0)
    nps_promoters = models.PositiveIntegerField(default=0)
    nps_detractors = models.PositiveIntegerField(default=0)
    sentiment_messages = models.PositiveIntegerField(default=0)
    sentiment_mean = models.FloatField(null=True, blank=True)
    jobs_due = models.PositiveIntegerField(default=0)
    jobs_on_time = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["team", "week"]
        constraints = [
            models.UniqueConstraint(fields=["team", "week"], name="teamweekrollup_unique")
        ]
        indexes = [models.Index(fields=["week", "team"], name="teamweekrollup_week")]

    def __str__(self) -> str:
        return f"{self.team_id} week of {self.week}"
