"""Alerts raised by the streaming triggers, the crisis room's saved responses, and public
incident notes (``/status/<slug>``) with their timestamped updates and audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from lastmile.core.choices import Badge, ChoiceSet
from lastmile.crisis.detectors import SIGNAL_LABELS

SIGNAL_CHOICES = list(SIGNAL_LABELS.items())


class DetectorState(models.Model):
    """One detector's running state for one watch term and signal.

    ``state`` is the detector's ``to_dict()``; ``last_bucket_end`` is the end of the last
    5-minute bucket it has scored. A restart (or another worker) loads both and goes on from
    there: nothing is refitted over history. ``sensitivity`` is the setting people change (in
    the admin or the API); it overrides the one saved inside ``state``.
    """

    term = models.ForeignKey(
        "listening.WatchTerm", on_delete=models.CASCADE, related_name="detector_states"
    )
    signal = models.CharField(max_length=20, choices=SIGNAL_CHOICES)
    sensitivity = models.FloatField(
        help_text="Between 0 and 1; higher raises more alerts (an alert fires at score >= 1 - sensitivity)."
    )
    state = models.JSONField(default=dict, blank=True)
    last_bucket_end = models.DateTimeField()
    last_score = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["term", "signal"], name="detectorstate_unique"),
            models.CheckConstraint(
                condition=models.Q(sensitivity__gt=0) & models.Q(sensitivity__lt=1),
                name="detectorstate_sensitivity_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} · {self.signal} up to {self.last_bucket_end:%Y-%m-%d %H:%M}"


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


# How an alert's state is shown in the crisis room and the alert list.
ALERT_STATE = ChoiceSet(
    AlertState,
    colours={
        AlertState.OPEN: "breached",
        AlertState.ACKNOWLEDGED: "at-risk",
        AlertState.RESOLVED: "ok",
    },
)


class Alert(models.Model):
    """A detector fired: what (term, signal, bucket), why (observed vs baseline, score against
    the threshold of the sensitivity in force), and who said what (top mentions and authors).

    Raising one opens an acknowledgement loop (``ack_loop``) with a short deadline, so an
    alarm nobody looks at escalates like any other overdue loop. At most one alert per term
    and signal is open or acknowledged at a time.
    """

    term = models.ForeignKey("listening.WatchTerm", on_delete=models.PROTECT, related_name="alerts")
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    signal = models.CharField(max_length=20, choices=SIGNAL_CHOICES)
    bucket_start = models.DateTimeField()
    bucket_end = models.DateTimeField()
    observed = models.FloatField()
    baseline = models.FloatField(null=True, blank=True)
    score = models.FloatField()
    sensitivity = models.FloatField()
    # Facts behind the numbers: mentions in the bucket, the top source and its share, …
    details = models.JSONField(default=dict, blank=True)
    top_mentions = models.JSONField(
        default=list, blank=True, help_text="Mention ids, biggest first."
    )
    top_authors = models.JSONField(
        default=list, blank=True, help_text='[{"id", "handle", "network", "mentions", "influence"}]'
    )
    state = models.CharField(max_length=12, choices=AlertState.choices, default=AlertState.OPEN)
    raised_at = models.DateTimeField()
    ack_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["term", "signal"],
                condition=models.Q(state__in=["open", "acknowledged"]),
                name="alert_one_open_per_signal",
            )
        ]
        indexes = [models.Index(fields=["team", "state", "-raised_at"], name="alert_team_state")]

    def __str__(self) -> str:
        return f"Alert #{self.pk}: {self.get_signal_display()} on {self.term_id}"

    @property
    def state_badge(self) -> Badge:
        return ALERT_STATE.badge(self.state)

    @property
    def threshold(self) -> float:
        return 1.0 - self.sensitivity

    @property
    def is_share(self) -> bool:
        return self.signal in ("negative_share", "concentration")


class SavedResponse(models.Model):
    """A reply a team sends often in a crisis. ``{status_url}`` in the body becomes the link
    to the alert's public incident note, ``{handle}`` the author's @handle."""

    title = models.CharField(max_length=100)
    body = models.TextField()
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_responses",
        help_text="Empty: every team may use it.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "title"], name="savedresponse_title_unique")
        ]

    def __str__(self) -> str:
        return self.title


class IncidentNote(models.Model):
    """A public statement about an incident at ``/status/<slug>``; shown only while
    ``published``, with its published updates newest first."""

    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    brand = models.CharField(max_length=100, blank=True)
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="incident_notes")
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    published = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class IncidentUpdate(models.Model):
    """One timestamped statement on a note: "we know, here is what we are doing, next update
    at …". A draft (``published_at`` empty) is visible to the team only."""

    note = models.ForeignKey(IncidentNote, on_delete=models.CASCADE, related_name="updates")
    body = models.TextField()
    next_update_at = models.DateTimeField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["note", "-published_at"], name="incidentupdate_history")]

    def __str__(self) -> str:
        return f"{self.note.slug} update {self.created_at:%Y-%m-%d %H:%M}"


class IncidentAction(models.TextChoices):
    CREATED = "created", "Created the note"
    WROTE = "wrote", "Wrote an update"
    PUBLISHED = "published", "Published an update"
    UNPUBLISHED = "unpublished", "Withdrew the page"


class IncidentAudit(models.Model):
    """Append-only record of who did what to a public note, and when (what customers were told)."""

    note = models.ForeignKey(IncidentNote, on_delete=models.CASCADE, related_name="audit")
    update = models.ForeignKey(
        IncidentUpdate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=12, choices=IncidentAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.note_id} at {self.at:%Y-%m-%d %H:%M}"
