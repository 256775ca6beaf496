"""The dashboard's rollups: figures per team and week, and per agent and week, kept by the
worker (``rollups.rollups_refresh``), so that the dashboard reads a few hundred rows."""

from __future__ import annotations

from django.conf import settings
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
    cases_solved = models.PositiveIntegerField(default=0)
    first_contact_resolved = models.PositiveIntegerField(default=0)
    recoveries_recovered = models.PositiveIntegerField(default=0)
    recoveries_lost = models.PositiveIntegerField(default=0)
    revenue_recovered = models.JSONField(
        default=dict,
        blank=True,
        help_text='Recovered revenue per currency, never converted: {"EUR": "129.50"}.',
    )
    alerts = models.PositiveIntegerField(default=0)
    alerts_top = models.JSONField(
        default=list,
        blank=True,
        help_text="The week's loudest alerts, most mentions first: "
        '[{"id", "term", "signal", "mentions", "state"}], at most five.',
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["team", "week"]
        constraints = [
            models.UniqueConstraint(fields=["team", "week"], name="teamweekrollup_unique")
        ]
        indexes = [models.Index(fields=["week", "team"], name="teamweekrollup_week")]

    def __str__(self) -> str:
        return f"{self.team_id} week of {self.week}"


class AgentWeekRollup(models.Model):
    """One agent's figures for one week (as ``TeamWeekRollup``'s, for the loops assigned to
    the agent now and the cases they are assigned now), kept by the same worker run, so the
    dashboard can name the agents whose trend is worsening without reading the loops. A
    week with nothing of the agent's has no row."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="The week's Monday (UTC).")
    loops_finished = models.PositiveIntegerField(default=0)
    breaches = models.PositiveIntegerField(default=0)
    loops_closed = models.PositiveIntegerField(default=0)
    loops_closed_with_deadline = models.PositiveIntegerField(default=0)
    loops_closed_on_time = models.PositiveIntegerField(default=0)
    cases_solved = models.PositiveIntegerField(default=0)
    first_contact_resolved = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["agent", "week"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "week"], name="agentweekrollup_unique")
        ]
        indexes = [models.Index(fields=["week", "agent"], name="agentweekrollup_week")]

    def __str__(self) -> str:
        return f"agent {self.agent_id} week of {self.week}"


class NoTeamWeekRollup(models.Model):
    """The survey answers and the alerts of one week that no team's figures count
    (``TeamWeekRollup`` counts an answer on its case's team, an alert on its own team):
    answers on a case with no team or on an invite with no case, and alerts of no team (a
    watch term of no team's). The dashboard shows them in a "No team" row, so every answer
    and alert is counted somewhere. Kept by the same worker run."""

    week = models.DateField(unique=True, help_text="The week's Monday (UTC).")
    csat_responses = models.PositiveIntegerField(default=0)
    csat_happy = models.PositiveIntegerField(default=0)
    nps_responses = models.PositiveIntegerField(default=0)
    nps_promoters = models.PositiveIntegerField(default=0)
    nps_detractors = models.PositiveIntegerField(default=0)
    alerts = models.PositiveIntegerField(
        default=0, help_text="Social listening alerts of no team raised in the week."
    )
    alerts_top = models.JSONField(
        default=list,
        blank=True,
        help_text="The week's loudest alerts of no team, as TeamWeekRollup.alerts_top.",
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["week"]

    def __str__(self) -> str:
        return f"no team, week of {self.week}"


class FunnelWeekRollup(models.Model):
    """One saved funnel's counts for the people who entered it in one week, as the
    analytics engine answers the recovery page asked for that week (Monday to Sunday,
    UTC): ``entered`` at the first step, ``closed`` at the last. The close rate is
    closed / entered. Kept by the same worker run, for the funnels not archived. When the
    engine failed for the funnel and week, ``error`` says why and the counts mean nothing:
    the dashboard shows the figure as unavailable, the other figures as computed."""

    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="The week's Monday (UTC).")
    entered = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    error = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="Why the analytics engine gave no counts at the last run (empty: it did); "
        "the counts are then unknown, not zero.",
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["funnel", "week"]
        constraints = [
            models.UniqueConstraint(fields=["funnel", "week"], name="funnelweekrollup_unique")
        ]
        indexes = [models.Index(fields=["week", "funnel"], name="funnelweekrollup_week")]

    def __str__(self) -> str:
        return f"funnel {self.funnel_id} week of {self.week}"
