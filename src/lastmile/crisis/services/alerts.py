"""Alerts: raising one when a detector fires (with its evidence, its acknowledgement loop and
the lead's notification), acknowledging and resolving it.

The triggers that decide when an alert is raised are ``triggers``; what people do with an
alert's mentions in the crisis room is ``room``; its public incident notes are ``incidents``
(all in ``lastmile.crisis.services``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from lastmile.core.errors import Conflict, ErrorCode
from lastmile.core.events import event_emit
from lastmile.crisis import detectors as det
from lastmile.crisis.models import Alert, AlertState
from lastmile.listening.models import Mention, WatchTerm
from lastmile.loops.models import LoopKind, LoopState
from lastmile.people.models import Team
from lastmile.people.viewers import Actor

# The mentions behind an alert: its bucket and the two before it (the detectors' evidence
# builds up over about three buckets).
EVIDENCE = timedelta(minutes=10)
TOP_MENTIONS = 10
TOP_AUTHORS = 5


def ack_minutes() -> int:
    return int(getattr(settings, "LASTMILE_ALERT_ACK_MINUTES", 15))


def public_url(path: str) -> str:
    base = str(getattr(settings, "LASTMILE_PUBLIC_URL", "http://127.0.0.1:8000")).rstrip("/")
    return f"{base}{path}"


def actor_id(actor: Actor) -> int | None:
    """Who acted, as an event carries it: the user's id, or None when no person did."""
    return None if actor is None else actor.pk


# --- raising an alert ---------------------------------------------------------------------------


def _evidence(term: WatchTerm, signal: str, bucket_start: datetime) -> QuerySet[Mention]:
    """The mentions behind an alert: the bucket and the two before, as the signal sees them."""
    qs = Mention.objects.filter(
        terms=term,
        is_from_brand=False,
        posted_at__gte=bucket_start - EVIDENCE,
        posted_at__lt=bucket_start + det.BUCKET,
    )
    if signal in (det.NEGATIVE_VOLUME, det.NEGATIVE_SHARE):
        qs = qs.filter(sentiment_label="negative")
    return qs


def alert_raise(
    *,
    term: WatchTerm,
    signal: str,
    bucket_start: datetime,
    reading: det.Reading,
    bucket: det.BucketCounts,
    sensitivity: float,
    now: datetime,
) -> Alert:
    """Record what fired and why, open the acknowledgement loop, tell the team lead.

    All in the caller's transaction: the alert, its loop and its notification commit together.
    """
    top_source, top_count = bucket.top_source
    qs = _evidence(term, signal, bucket_start)
    mentions = list(qs.select_related("author"))
    if signal == det.CONCENTRATION and top_source:
        mentions = [m for m in mentions if det.source_of(m.network, m.url) == top_source]
    mentions.sort(
        key=lambda m: (
            -(m.likes + m.reposts + m.replies),
            -(m.author.influence or 0.0),
            -m.posted_at.timestamp(),
            m.pk,
        )
    )
    authors: dict[int, dict[str, Any]] = {}
    for m in mentions:
        a = authors.setdefault(
            m.author_id,
            {
                "id": m.author_id,
                "handle": m.author.handle,
                "network": m.author.network,
                "name": m.author.name,
                "influence": round(float(m.author.influence or 0.0), 2),
                "mentions": 0,
            },
        )
        a["mentions"] += 1
    top_authors = sorted(
        authors.values(), key=lambda a: (-a["mentions"], -a["influence"], a["handle"])
    )[:TOP_AUTHORS]
    networks = Counter(m.network for m in mentions) or Counter(
        Mention.objects.filter(terms=term).values_list("network", flat=True)[:50]
    )
    network = min(networks.items(), key=lambda kv: (-kv[1], kv[0]))[0] if networks else "twitter"
    details = {
        "mentions": bucket.total,
        "negative": bucket.negative,
        "top_source": top_source,
        "top_source_share": round(top_count / bucket.total, 4) if bucket.total else 0.0,
        "threshold": round(1.0 - sensitivity, 4),
        "network": network,
    }
    alert = Alert.objects.create(
        term=term,
        team=term.team,
        signal=signal,
        bucket_start=bucket_start,
        bucket_end=bucket_start + det.BUCKET,
        observed=reading.observed,
        baseline=reading.baseline,
        score=reading.score,
        sensitivity=sensitivity,
        details=details,
        top_mentions=[m.pk for m in mentions[:TOP_MENTIONS]],
        top_authors=top_authors,
        raised_at=now,
    )
    _ack_loop_open(alert, term=term, network=network, now=now)
    event_emit(
        "alert.raised",
        {
            "alert": alert.pk,
            "term": term.pk,
            "signal": signal,
            "team": alert.team_id,
            "score": alert.score,
            "bucket_start": bucket_start.isoformat(),
        },
        at=now,
    )
    return alert


def _ack_loop_open(alert: Alert, *, term: WatchTerm, network: str, now: datetime) -> None:
    """The team's acknowledgement loop, and the lead told of it through the outbox.

    The loop is the team's own (no customer): what an alert owes is owed by the team that
    watches the term, not to anyone who posted. A term with no team has nobody to owe it:
    its alert has no loop and only admins see it.
    """
    from lastmile.channels.services import outbox_enqueue, outbox_message
    from lastmile.loops.services import loop_open

    team: Team | None = term.team
    if team is None:
        alert.details = {**alert.details, "notified": None}
        alert.save(update_fields=["details"])
        return
    lead = team.lead
    minutes = ack_minutes()
    label = det.SIGNAL_LABELS[alert.signal].lower()
    loop = loop_open(
        customer=None,
        kind=LoopKind.ACK,
        title=f"Acknowledge alert #{alert.pk}: {label} on {term.name}",
        team=team,
        assignee=lead,
        channel=f"social:{network}" if network else "",
        due_at=now + timedelta(minutes=minutes),
        reason=f"alert #{alert.pk} raised",
        now=now,
    )
    alert.ack_loop = loop
    alert.save(update_fields=["ack_loop"])
    recipient = (lead.email if lead is not None else "") or team.email
    if not recipient:
        alert.details = {**alert.details, "notified": None}
        alert.save(update_fields=["details"])
        return
    link = public_url(f"/alerts/{alert.pk}/")
    baseline = "n/a" if alert.baseline is None else _fmt(alert.signal, alert.baseline)
    outbox_enqueue(
        [
            outbox_message(
                key=f"alert:{alert.pk}:raised",
                purpose="notification",
                recipient=recipient,
                subject=f"[alert] {det.SIGNAL_LABELS[alert.signal]} on {term.name}",
                body=(
                    f"Alert #{alert.pk}: {label} on {term.name} in the 5 minutes from "
                    f"{alert.bucket_start:%Y-%m-%d %H:%M %Z}.\n"
                    f"Observed {_fmt(alert.signal, alert.observed)} against a baseline of "
                    f"{baseline}; score {alert.score:.2f} (fires at {alert.threshold:.2f}).\n"
                    f"Acknowledge within {minutes} minutes: {link}\n"
                ),
                data={"alert": alert.pk, "loop": loop.pk},
                now=now,
            )
        ]
    )
    alert.details = {**alert.details, "notified": recipient}
    alert.save(update_fields=["details"])


def _fmt(signal: str, value: float) -> str:
    if signal in det.SHARE_SIGNALS:
        return f"{value:.0%}"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


# --- acknowledging and resolving ----------------------------------------------------------------


def _claim_alert(alert: Alert) -> Alert:
    # Lock the alert's row only (its loop is locked by the loop services when they close it).
    return Alert.objects.select_for_update(of=("self",)).select_related("ack_loop").get(pk=alert.pk)


def alert_acknowledge(*, alert: Alert, actor: Actor, now: datetime) -> Alert:
    """Someone has seen the alarm: the alert is acknowledged and its loop closed (met)."""
    from lastmile.loops.services import loop_close

    with transaction.atomic():
        fresh = _claim_alert(alert)
        if fresh.state != AlertState.OPEN:
            raise Conflict(
                f"alert #{fresh.pk} is already {fresh.get_state_display().lower()}",
                code=ErrorCode.ALERT_NOT_OPEN,
            )
        fresh.state = AlertState.ACKNOWLEDGED
        fresh.acknowledged_at = now
        fresh.acknowledged_by = actor
        fresh.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        if fresh.ack_loop is not None and fresh.ack_loop.state == LoopState.OPEN:
            loop_close(loop=fresh.ack_loop, actor=actor, reason="alert acknowledged", now=now)
        event_emit("alert.acknowledged", {"alert": fresh.pk, "actor": actor_id(actor)}, at=now)
    return fresh


def alert_resolve(*, alert: Alert, actor: Actor, now: datetime) -> Alert:
    """The incident is over. Resolving an alert nobody acknowledged acknowledges it too."""
    from lastmile.loops.services import loop_close

    with transaction.atomic():
        fresh = _claim_alert(alert)
        if fresh.state == AlertState.RESOLVED:
            raise Conflict(f"alert #{fresh.pk} is already resolved", code=ErrorCode.ALERT_RESOLVED)
        if fresh.acknowledged_at is None:
            fresh.acknowledged_at = now
            fresh.acknowledged_by = actor
        fresh.state = AlertState.RESOLVED
        fresh.resolved_at = now
        fresh.resolved_by = actor
        fresh.save(
            update_fields=[
                "state",
                "acknowledged_at",
                "acknowledged_by",
                "resolved_at",
                "resolved_by",
            ]
        )
        if fresh.ack_loop is not None and fresh.ack_loop.state == LoopState.OPEN:
            loop_close(loop=fresh.ack_loop, actor=actor, reason="alert resolved", now=now)
        event_emit("alert.resolved", {"alert": fresh.pk, "actor": actor_id(actor)}, at=now)
    return fresh


def on_loop_closed(name: str, data: dict[str, Any], at: datetime) -> None:
    """An acknowledgement loop closed elsewhere (the console's "mark done") acknowledges its alert.

    Subscribed to domain events in ``CrisisConfig.ready``; runs in the closing transaction.
    """
    if name != "loop.closed" or data.get("kind") != LoopKind.ACK:
        return
    Alert.objects.filter(ack_loop_id=data.get("loop"), state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_at=at
    )
