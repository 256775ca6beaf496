"""Reads of alerts and incident notes, scoped to a viewer; the crisis room's data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from lastmile.core.errors import NotFound
from lastmile.crisis import detectors as det
from lastmile.crisis.models import (
    Alert,
    AlertState,
    DetectorState,
    IncidentNote,
    IncidentUpdate,
    SavedResponse,
)
from lastmile.listening.models import Mention
from lastmile.loops.models import LoopState
from lastmile.loops.selectors import loop_sla_state
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer

# The crisis room's chart: this long before the alert's bucket and (at most) after it.
CHART_BEFORE = timedelta(hours=6)
CHART_AFTER = timedelta(hours=2)
# Unanswered mentions from this long before the alert's bucket onwards.
UNANSWERED_BEFORE = timedelta(hours=1)
UNANSWERED_LIMIT = 100


def alerts_visible(*, viewer: Viewer) -> QuerySet[Alert]:
    """Alerts of the viewer's teams (every alert for admins; none for a user with no team)."""
    qs = Alert.objects.select_related("term", "team", "ack_loop")
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    return qs.filter(team_id__in=teams)


def ack_loop_pages(loop_ids: Sequence[int]) -> dict[int, str]:
    """The crisis room of each acknowledgement loop among ``loop_ids``: where it is worked
    (registered with loops' ``team_loop_pages``); the room answers 404 to anyone not in
    the alert's team, as it always does."""
    return {
        loop_id: reverse("crisis:room", args=[alert_id])
        for alert_id, loop_id in Alert.objects.filter(ack_loop_id__in=loop_ids).values_list(
            "pk", "ack_loop_id"
        )
    }


def alert_list(*, viewer: Viewer, state: str = "") -> QuerySet[Alert]:
    """Newest first; ``state`` "active" means open or acknowledged."""
    qs = alerts_visible(viewer=viewer)
    if state == "active":
        qs = qs.filter(state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
    elif state in AlertState.values:
        qs = qs.filter(state=state)
    return qs.order_by("-raised_at", "-id")


def alert_get(*, alert_id: int, viewer: Viewer) -> Alert:
    """The alert if the viewer's team owns it; NotFound otherwise (same as missing)."""
    alert = (
        alerts_visible(viewer=viewer).filter(pk=alert_id).first() if 0 < alert_id < 2**63 else None
    )
    if alert is None:
        raise NotFound(f"alert {alert_id}")
    return alert


@dataclass
class Series:
    """Per-bucket counts around an alert, for the chart."""

    starts: list[datetime]
    volume: list[int]
    negative: list[int]
    alert_index: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "labels": [timezone.localtime(s).strftime("%a %H:%M") for s in self.starts],
            "starts": [s.isoformat() for s in self.starts],
            "volume": self.volume,
            "negative": self.negative,
            "share": [
                round(n / v * 100, 1) if v else None
                for v, n in zip(self.volume, self.negative, strict=True)
            ],
            "alert_index": self.alert_index,
        }


def alert_series(*, alert: Alert, now: datetime) -> Series:
    """Mentions and negative mentions of the alert's term per bucket, around the alert.

    Counted from the mentions as they are now (late arrivals included), in one query.
    """
    start = alert.bucket_start - CHART_BEFORE
    end = min(alert.bucket_end + CHART_AFTER, max(det.bucket_floor(now), alert.bucket_end))
    starts = list(det.bucket_starts(start, end))
    rows = (
        Mention.objects.filter(
            terms=alert.term_id, is_from_brand=False, posted_at__gte=start, posted_at__lt=end
        )
        .order_by()
        .values_list("posted_at", "network", "url", "sentiment_label")
    )
    buckets = det.buckets_from_rows((None, at, net, url, label) for at, net, url, label in rows)
    empty = det.BucketCounts()
    counts = [buckets.get((None, s), empty) for s in starts]
    index = starts.index(alert.bucket_start) if alert.bucket_start in starts else None
    return Series(
        starts=starts,
        volume=[b.total for b in counts],
        negative=[b.negative for b in counts],
        alert_index=index,
    )


def top_mentions(*, alert: Alert) -> list[Mention]:
    """The alert's top mentions, in the order they were ranked when it fired."""
    ids = [int(i) for i in alert.top_mentions]
    found = Mention.objects.filter(pk__in=ids).select_related("author").in_bulk()
    return [found[i] for i in ids if i in found]


@dataclass
class MentionRow:
    mention: Mention
    sla: str  # the reply loop's SLA state, or "none" when no reply is owed

    @property
    def loop(self) -> Any:
        return self.mention.reply_loop


def unanswered(*, alert: Alert, now: datetime, limit: int = UNANSWERED_LIMIT) -> list[MentionRow]:
    """Mentions of the term since shortly before the alert that nobody answered or handled,
    most influential author first: who to answer first in a crisis."""
    qs = (
        Mention.objects.filter(
            terms=alert.term_id,
            is_from_brand=False,
            posted_at__gte=alert.bucket_start - UNANSWERED_BEFORE,
            replied_at__isnull=True,
            handled_at__isnull=True,
        )
        .select_related(
            "author",
            "reply_loop__assignee",
            "reply_loop__sla_policy__business_hours",
            "interaction",
        )
        .order_by("-author__influence", "-posted_at", "-id")[:limit]
    )
    return [
        MentionRow(
            mention=m,
            sla=(
                loop_sla_state(m.reply_loop, now=now)
                if m.reply_loop is not None and m.reply_loop.state == LoopState.OPEN
                else (m.reply_loop.state if m.reply_loop is not None else "none")
            ),
        )
        for m in qs
    ]


def unanswered_count(*, alert: Alert) -> int:
    return Mention.objects.filter(
        terms=alert.term_id,
        is_from_brand=False,
        posted_at__gte=alert.bucket_start - UNANSWERED_BEFORE,
        replied_at__isnull=True,
        handled_at__isnull=True,
    ).count()


def team_members(*, alert: Alert) -> list[Any]:
    if alert.team_id is None:
        return []
    return list(
        get_user_model()
        .objects.filter(agent__teams=alert.team_id, is_active=True)
        .order_by("first_name", "username")
    )


def saved_responses(*, alert: Alert) -> list[SavedResponse]:
    return list(
        SavedResponse.objects.filter(Q(team_id=alert.team_id) | Q(team__isnull=True), active=True)
    )


def note_of(*, alert: Alert) -> IncidentNote | None:
    return alert.notes.order_by("-created_at", "-id").first()


def note_updates(*, note: IncidentNote) -> list[IncidentUpdate]:
    """Every update of a note, drafts included, newest first (for the team)."""
    return list(
        note.updates.select_related("author", "published_by").order_by("-created_at", "-id")
    )


@dataclass
class PublicNote:
    note: IncidentNote
    updates: list[IncidentUpdate]  # published, newest first

    @property
    def latest(self) -> IncidentUpdate | None:
        return self.updates[0] if self.updates else None

    @property
    def resolved_at(self) -> datetime | None:
        """When the incident was over: its alert's resolution (the team's "the incident is
        over"), so the page stops leading with the outage once it is fixed."""
        alert = self.note.alert
        if alert is None or alert.state != AlertState.RESOLVED:
            return None
        return alert.resolved_at


def note_public(*, slug: str) -> PublicNote:
    """A published note and its published updates; NotFound for unknown or unpublished."""
    note = IncidentNote.objects.select_related("alert").filter(slug=slug, published=True).first()
    if note is None:
        raise NotFound(f"status page {slug!r}")
    updates = list(note.updates.filter(published_at__isnull=False).order_by("-published_at", "-id"))
    return PublicNote(note=note, updates=updates)


def last_run() -> datetime | None:
    """The end of the newest bucket the triggers have scored."""
    return DetectorState.objects.aggregate(end=Max("last_bucket_end"))["end"]
