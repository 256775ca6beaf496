"""Every write of the crisis app: the triggers, alerts and their acknowledgement loops, the
crisis room's bulk actions, and public incident notes.

The triggers (``triggers_run``) close every complete 5-minute bucket since the last one, per
watch term, feed each signal's detector from its stored state, save the state, and raise an
alert when a detector fires. Nothing is refitted over history: a run costs a few queries per
term whatever the history's length, and a restart resumes from ``DetectorState``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils.text import slugify

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput, PermissionDenied
from lastmile.core.events import event_emit
from lastmile.crisis import detectors as det
from lastmile.crisis.models import (
    Alert,
    AlertState,
    DetectorState,
    IncidentAction,
    IncidentAudit,
    IncidentNote,
    IncidentUpdate,
    SavedResponse,
)
from lastmile.listening.models import Mention, WatchTerm
from lastmile.loops.models import LoopKind, LoopState
from lastmile.people.models import Role, Team
from lastmile.people.selectors import agent_for

log = logging.getLogger(__name__)

# A bucket is closed this long after its end, so mentions that arrive a little late
# (an import that runs every minute) are still counted in it.
GRACE = timedelta(minutes=1)
# A term seen for the first time is scored from its first mention, at most this far back.
BACKFILL = timedelta(days=14)
# A catch-up over a long history is done a day at a time, one transaction per day.
CHUNK = timedelta(days=1)
# The mentions behind an alert: its bucket and the two before it (the detectors' evidence
# builds up over about three buckets).
EVIDENCE = timedelta(minutes=10)
# Signals of one term that fire within this long of an open alert's bucket join that alert.
RELATED = timedelta(minutes=30)
TOP_MENTIONS = 10
TOP_AUTHORS = 5
NOTE_BODY_MAX = 2000
NEXT_UPDATE_MAX = timedelta(days=7)


def default_sensitivity() -> float:
    value = float(getattr(settings, "LASTMILE_ALERT_SENSITIVITY", det.DEFAULT_SENSITIVITY))
    if not 0.0 < value < 1.0:
        raise ValueError("LASTMILE_ALERT_SENSITIVITY must be strictly between 0 and 1")
    return value


def ack_minutes() -> int:
    return int(getattr(settings, "LASTMILE_ALERT_ACK_MINUTES", 15))


def public_url(path: str) -> str:
    base = str(getattr(settings, "LASTMILE_PUBLIC_URL", "http://127.0.0.1:8000")).rstrip("/")
    return f"{base}{path}"


# --- the triggers ----------------------------------------------------------------------------


@dataclass
class TriggerRun:
    terms: int = 0
    buckets: int = 0
    alerts: list[int] = field(default_factory=list)
    deduplicated: int = 0
    merged: int = 0
    skipped_locked: int = 0


def triggers_run(*, now: datetime, terms: list[WatchTerm] | None = None) -> TriggerRun:
    """Score every complete bucket of every active watch term since its last run.

    1. The horizon is the start of the bucket holding ``now - GRACE``: buckets ending at or
       before it are complete.
    2. Per term, claim its detector states (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a
       term another worker holds is skipped, not waited on; on SQLite the IMMEDIATE
       transaction serialises runs), count its mentions per bucket in one query, feed each
       signal's detector bucket by bucket (empty buckets too: silence is data), and save the
       states with the end of the last bucket scored.
    3. A detector that fires raises an alert, unless one is already open or acknowledged for
       that term and signal (the detectors themselves stay quiet for a day after firing).
       Other signals of the term firing within ``RELATED`` of an open alert's bucket are the
       same incident: they are added to that alert (``details["also"]``), so one outage is
       one crisis room, one acknowledgement loop and one notification, not four.
    Running it twice at the same ``now`` does nothing the second time.
    """
    result = TriggerRun()
    horizon = det.bucket_floor(now - GRACE)
    if terms is None:
        terms = list(WatchTerm.objects.filter(active=True).select_related("team"))
    for term in terms:
        result.terms += 1
        _states_ensure(term, horizon=horizon, now=now)
        while True:
            with transaction.atomic():
                done = _term_chunk(term, horizon=horizon, now=now, result=result)
            if done:
                break
    return result


def _states_ensure(term: WatchTerm, *, horizon: datetime, now: datetime) -> None:
    """Create the missing detector states of a term, starting at its first mention."""
    signals = det.signals_for(term.kind)
    have = set(DetectorState.objects.filter(term=term).values_list("signal", flat=True))
    missing = [s for s in signals if s not in have]
    if not missing:
        return
    first = (
        Mention.objects.filter(terms=term, is_from_brand=False)
        .aggregate(at=Min("posted_at"))
        .get("at")
    )
    start = horizon if first is None else max(det.bucket_floor(first), horizon - BACKFILL)
    start = min(start, horizon)
    sensitivity = default_sensitivity()
    DetectorState.objects.bulk_create(
        [
            DetectorState(
                term=term,
                signal=s,
                sensitivity=sensitivity,
                state=det.detector_new(s, sensitivity=sensitivity).to_dict(),
                last_bucket_end=start,
                updated_at=now,
            )
            for s in missing
        ],
        ignore_conflicts=True,  # another worker made them first: theirs are as good
    )


def _term_chunk(term: WatchTerm, *, horizon: datetime, now: datetime, result: TriggerRun) -> bool:
    """Score up to a day of buckets of one term; True when the term is up to date."""
    signals = det.signals_for(term.kind)
    qs = DetectorState.objects.filter(term=term, signal__in=signals).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    else:
        qs = qs.select_for_update()
    states = list(qs)
    if len(states) < len(signals):  # another worker holds this term right now
        result.skipped_locked += 1
        return True
    start = min(s.last_bucket_end for s in states)
    if start >= horizon:
        return True
    end = min(horizon, start + CHUNK)
    rows = (
        Mention.objects.filter(
            terms=term, is_from_brand=False, posted_at__gte=start, posted_at__lt=end
        )
        .order_by()
        .values_list("network", "url", "sentiment_label", "posted_at")
    )
    buckets = det.buckets_from_rows(
        (None, posted_at, network, url, label) for network, url, label, posted_at in rows
    )
    empty = det.BucketCounts()
    fired: list[tuple[DetectorState, datetime, det.Reading, det.BucketCounts]] = []
    for state in states:
        detector = det.detector_restore(state.signal, state.state)
        detector.sensitivity = state.sensitivity
        reading = None
        for bucket_start in det.bucket_starts(state.last_bucket_end, end):
            bucket = buckets.get((None, bucket_start), empty)
            reading = det.detector_feed(detector, state.signal, bucket, start=bucket_start)
            result.buckets += 1
            if reading.alert:
                fired.append((state, bucket_start, reading, bucket))
        state.state = detector.to_dict()
        state.last_bucket_end = max(state.last_bucket_end, end)
        state.updated_at = now
        if reading is not None:
            state.last_score = reading.score
    DetectorState.objects.bulk_update(
        states, ["state", "last_bucket_end", "updated_at", "last_score"]
    )
    # The earliest bucket first and, within it, the strongest signal: that one leads.
    fired.sort(key=lambda f: (f[1], -f[2].score, f[0].signal))
    active = [AlertState.OPEN, AlertState.ACKNOWLEDGED]
    for state, bucket_start, reading, bucket in fired:
        if Alert.objects.filter(term=term, signal=state.signal, state__in=active).exists():
            result.deduplicated += 1
            continue
        related = (
            Alert.objects.select_for_update()
            .filter(term=term, state__in=active, bucket_start__gte=bucket_start - RELATED)
            .order_by("bucket_start", "pk")
            .first()
        )
        if related is not None:
            # The same incident seen by another signal: one crisis room, one loop, one
            # notification; the room lists every signal that fired.
            related.details = {
                **related.details,
                "also": [
                    *related.details.get("also", []),
                    {
                        "signal": state.signal,
                        "bucket_start": bucket_start.isoformat(),
                        "observed": reading.observed,
                        "baseline": reading.baseline,
                        "score": reading.score,
                    },
                ],
            }
            related.save(update_fields=["details"])
            result.merged += 1
            continue
        alert = _alert_raise(
            term=term,
            signal=state.signal,
            bucket_start=bucket_start,
            reading=reading,
            bucket=bucket,
            sensitivity=state.sensitivity,
            now=now,
        )
        result.alerts.append(alert.pk)
    return end >= horizon


def _evidence(term: WatchTerm, signal: str, bucket_start: datetime) -> Any:
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


def _alert_raise(
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


def alert_acknowledge(*, alert: Alert, actor: Any, now: datetime) -> Alert:
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
        event_emit("alert.acknowledged", {"alert": fresh.pk, "actor": _uid(actor)}, at=now)
    return fresh


def alert_resolve(*, alert: Alert, actor: Any, now: datetime) -> Alert:
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
        event_emit("alert.resolved", {"alert": fresh.pk, "actor": _uid(actor)}, at=now)
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


def detector_sensitivity_set(
    *, term: WatchTerm, sensitivity: float, signal: str | None = None, now: datetime
) -> int:
    """Change how readily a term's detectors fire (all its signals, or one); returns how many."""
    if not 0.0 < sensitivity < 1.0:
        raise InvalidInput(
            "sensitivity out of range", [FieldError("sensitivity", "strictly between 0 and 1")]
        )
    if signal is not None and signal not in det.signals_for(term.kind):
        raise InvalidInput(
            f"a {term.kind} term has no signal {signal!r}",
            [FieldError("signal", f"one of {', '.join(det.signals_for(term.kind))}")],
        )
    horizon = det.bucket_floor(now - GRACE)
    _states_ensure(term, horizon=horizon, now=now)
    qs = DetectorState.objects.filter(term=term)
    if signal is not None:
        qs = qs.filter(signal=signal)
    return qs.update(sensitivity=sensitivity, updated_at=now)


def _uid(user: Any) -> int | None:
    return getattr(user, "pk", None)


# --- the crisis room's bulk actions -----------------------------------------------------------


def _alert_mentions(alert: Alert, mention_ids: list[int], *, lock: bool = False) -> list[Mention]:
    """The selected mentions, each checked to be one of the alert's term; InvalidInput if not.

    ``lock``: their rows are locked for the caller's transaction, in pk order, so two replies
    to one mention (a double submit) run one after the other and the second sees the first.
    """
    if not mention_ids:
        raise InvalidInput("select at least one mention", [FieldError("mentions", "none selected")])
    ids = list(dict.fromkeys(mention_ids))
    qs = Mention.objects.filter(pk__in=ids, terms=alert.term_id).select_related(
        "author", "case", "reply_loop__case", "interaction__case"
    )
    if lock:
        qs = qs.select_for_update(of=("self",)).order_by("pk")
    found = {m.pk: m for m in qs}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(
            f"mention {missing[0]} is not one of this alert's",
            [FieldError("mentions", f"{i} is not a mention of {alert.term}") for i in missing],
        )
    return [found[i] for i in ids]


def _refuse(detail: str, bad: list[tuple[Mention, str]]) -> Conflict:
    return Conflict(
        detail,
        code=ErrorCode.MENTIONS_REFUSED,
        errors=[FieldError("mentions", f"@{m.author.handle} ({m.pk}): {why}") for m, why in bad],
    )


def mentions_assign(
    *, alert: Alert, mention_ids: list[int], assignee: Any, actor: Any, now: datetime
) -> int:
    """Give the selected mentions' open reply loops to one team member. All or nothing."""
    from lastmile.loops.services import loop_reassign

    team = alert.team
    agent = agent_for(assignee)
    if (
        assignee is None
        or team is None
        or agent is None
        or not agent.teams.filter(pk=team.pk).exists()
    ):
        raise InvalidInput(
            "assign to a member of the alert's team",
            [FieldError("assignee", f"not a member of {team.name if team else 'the team'}")],
        )
    with transaction.atomic():
        mentions = _alert_mentions(alert, mention_ids)
        bad = [
            (m, "no open reply loop")
            for m in mentions
            if m.reply_loop is None or m.reply_loop.state != LoopState.OPEN
        ]
        if bad:
            raise _refuse("some mentions have no open reply loop; nothing was assigned", bad)
        for m in mentions:
            assert m.reply_loop is not None  # checked above
            loop_reassign(
                loop=m.reply_loop,
                assignee=assignee,
                actor=actor,
                reason=f"assigned from the crisis room of alert #{alert.pk}",
                now=now,
            )
    return len(mentions)


def response_render(*, response: SavedResponse, alert: Alert, mention: Mention) -> str:
    """The saved response's text for this mention; ``{status_url}`` needs a published note."""
    body = response.body
    if "{status_url}" in body:
        note = alert.notes.filter(published=True).order_by("-created_at").first()
        if note is None:
            raise Conflict(
                f"{response.title!r} links to the status page: publish the incident note first",
                code=ErrorCode.NO_STATUS_PAGE,
            )
        body = body.replace("{status_url}", public_url(f"/status/{note.slug}"))
    return body.replace("{handle}", f"@{mention.author.handle}")


def mentions_reply(
    *,
    alert: Alert,
    mention_ids: list[int],
    response: SavedResponse,
    actor: Any,
    now: datetime,
) -> int:
    """Reply to each selected mention with a saved response. All or nothing.

    1. Lock the mentions; refuse the batch if one is answered already or is the brand's own
       post, and render every reply first (a ``{status_url}`` needs a published note).
       Then lock their authors, all at once in pk order, before any case is opened: two
       batches sharing authors in opposite order would otherwise each hold one and wait
       for the other's (a deadlock); this way the later one waits before it holds any.
    2. A mention on no case (nobody addressed the brand) gets one: listening's
       ``mention_case_open`` resolves its author to a customer by their social handle and
       puts the mention on a case of the alert's team, as the import does for an addressed
       mention. Replying twice finds that case again; it never opens a second.
    3. The reply is an outbound interaction on the case (``interaction_record``), on the
       customer's timeline; it closes the case's reply loop the way any reply does, and the
       mention is marked replied.
    """
    from lastmile.customers.models import Direction
    from lastmile.customers.services import interaction_record
    from lastmile.listening.services import (
        channel_of,
        mention_authors_lock,
        mention_case,
        mention_case_open,
    )

    if not response.active or (response.team_id and response.team_id != alert.team_id):
        raise InvalidInput(
            "that saved response is not one of this team's",
            [FieldError("response", "not available to this team")],
        )
    with transaction.atomic():
        mentions = _alert_mentions(alert, mention_ids, lock=True)
        bad: list[tuple[Mention, str]] = []
        for m in mentions:
            if m.replied_at is not None:
                bad.append((m, "already replied"))
            elif m.is_from_brand:
                bad.append((m, "the brand's own post"))
        if bad:
            raise _refuse("some mentions cannot be replied to; nothing was sent", bad)
        bodies = {
            m.pk: response_render(response=response, alert=alert, mention=m) for m in mentions
        }
        mention_authors_lock(mentions=mentions)
        for m in mentions:
            case = mention_case(m) or mention_case_open(
                mention=m, team=alert.team, actor=actor, now=now
            )
            interaction_record(
                customer=case.customer,
                case=case,
                channel=channel_of(m.network),
                direction=Direction.OUTBOUND,
                occurred_at=now,
                now=now,
                body=bodies[m.pk],
                actor=actor,
                data={
                    "in_reply_to": m.external_id,
                    "mention": m.pk,
                    "saved_response": response.pk,
                    "alert": alert.pk,
                },
            )
        # Closing the reply loop marks its mentions replied (listening follows loop events);
        # a mention whose loop was already closed or cancelled is marked here.
        Mention.objects.filter(pk__in=[m.pk for m in mentions], replied_at__isnull=True).update(
            replied_at=now
        )
    return len(mentions)


def mentions_handle(
    *, alert: Alert, mention_ids: list[int], reason: str, actor: Any, now: datetime
) -> int:
    """Mark the selected mentions handled: no reply is needed (listening's ``mention_dismiss``:
    the open reply loop is cancelled with the reason). Mentions handled already are left as
    they are; returns how many changed. All or nothing."""
    from lastmile.listening.services import mention_dismiss

    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why no reply is needed", [FieldError("reason", "required")])
    reason = f"handled in the crisis room of alert #{alert.pk}: {reason}"[:500]
    with transaction.atomic():
        mentions = [m for m in _alert_mentions(alert, mention_ids) if m.handled_at is None]
        for m in mentions:
            mention_dismiss(mention=m, actor=actor, reason=reason, now=now)
    return len(mentions)


def saved_response_create(
    *, title: str, body: str, team: Team | None, now: datetime
) -> SavedResponse:
    title, body = (title or "").strip(), (body or "").strip()
    errors = []
    if not title:
        errors.append(FieldError("title", "required"))
    if not body:
        errors.append(FieldError("body", "required"))
    if errors:
        raise InvalidInput("a saved response needs a title and a body", errors)
    if SavedResponse.objects.filter(team=team, title=title).exists():
        raise Conflict(
            f"there is already a saved response {title!r}",
            code=ErrorCode.DUPLICATE,
            errors=[FieldError("title", "already used")],
        )
    return SavedResponse.objects.create(title=title[:100], body=body, team=team, created_at=now)


# --- public incident notes ----------------------------------------------------------------------


def can_publish(user: Any, team: Team) -> bool:
    """A team's public statements are published by its lead or an admin.

    Lead: the team's ``lead``, or an agent with the lead role in the team. Admin: an agent
    with the admin role, or a Django superuser.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False) or team.lead_id == user.pk:
        return True
    agent = agent_for(user)
    if agent is None:
        return False
    if agent.role == Role.ADMIN:
        return True
    return agent.role == Role.LEAD and agent.teams.filter(pk=team.pk).exists()


def _audit(note: IncidentNote, action: str, actor: Any, now: datetime, **data: Any) -> None:
    update = data.pop("update", None)
    IncidentAudit.objects.create(
        note=note, update=update, action=action, actor=actor, at=now, data=data
    )


def incident_note_create(
    *,
    alert: Alert,
    title: str,
    actor: Any,
    now: datetime,
    slug: str = "",
    brand: str = "",
) -> IncidentNote:
    """Start a (not yet public) note for an alert; the slug is made from the title if blank."""
    title = (title or "").strip()
    if not title:
        raise InvalidInput("a note needs a title", [FieldError("title", "required")])
    team = alert.team
    if team is None:
        raise Conflict("this alert has no team to own a public note", code=ErrorCode.NO_TEAM)
    wanted = (slug or "").strip()
    slug = slugify(wanted or title)[:60].strip("-")
    if not slug:
        raise InvalidInput(
            "the slug needs letters or digits", [FieldError("slug", "letters, digits, hyphens")]
        )
    if wanted and slug != wanted.lower():
        raise InvalidInput(
            "the slug may only hold letters, digits and hyphens",
            [FieldError("slug", f"try {slug!r}")],
        )
    with transaction.atomic():
        if not wanted:
            base, n = slug, 2
            while IncidentNote.objects.filter(slug=slug).exists():
                slug = f"{base[:55]}-{n}"
                n += 1
        elif IncidentNote.objects.filter(slug=slug).exists():
            raise Conflict(
                f"/status/{slug} is taken",
                code=ErrorCode.DUPLICATE,
                errors=[FieldError("slug", "taken")],
            )
        note = IncidentNote.objects.create(
            slug=slug,
            title=title[:200],
            brand=(brand or "").strip()[:100],
            team=team,
            alert=alert,
            created_by=actor,
            created_at=now,
        )
        _audit(note, IncidentAction.CREATED, actor, now, title=note.title, slug=note.slug)
    return note


def incident_update_post(
    *,
    note: IncidentNote,
    body: str,
    actor: Any,
    now: datetime,
    next_update_at: datetime | None = None,
    publish: bool = False,
) -> IncidentUpdate:
    """Write an update; with ``publish`` it goes on the public page at once (lead or admin)."""
    body = (body or "").strip()
    errors = []
    if not body:
        errors.append(FieldError("body", "required"))
    elif len(body) > NOTE_BODY_MAX:
        errors.append(FieldError("body", f"at most {NOTE_BODY_MAX} characters"))
    if next_update_at is not None and not now < next_update_at <= now + NEXT_UPDATE_MAX:
        errors.append(FieldError("next_update_at", "in the future, at most 7 days ahead"))
    if errors:
        raise InvalidInput(errors[0].reason if len(errors) == 1 else "check the update", errors)
    if publish and not can_publish(actor, note.team):
        raise PermissionDenied(f"only a lead of {note.team.name} or an admin may publish")
    with transaction.atomic():
        update = IncidentUpdate.objects.create(
            note=note, body=body, next_update_at=next_update_at, author=actor, created_at=now
        )
        _audit(note, IncidentAction.WROTE, actor, now, update=update, body=body)
        if publish:
            _publish(update, actor=actor, now=now)
    return update


def incident_update_publish(*, update: IncidentUpdate, actor: Any, now: datetime) -> IncidentUpdate:
    """Put a draft update on the public page (lead or admin of the note's team)."""
    note = update.note
    if not can_publish(actor, note.team):
        raise PermissionDenied(f"only a lead of {note.team.name} or an admin may publish")
    with transaction.atomic():
        fresh = IncidentUpdate.objects.select_for_update().get(pk=update.pk)
        if fresh.published_at is not None:
            raise Conflict("this update is already published", code=ErrorCode.ALREADY_PUBLISHED)
        _publish(fresh, actor=actor, now=now)
    return fresh


def _publish(update: IncidentUpdate, *, actor: Any, now: datetime) -> None:
    update.published_at = now
    update.published_by = actor
    update.save(update_fields=["published_at", "published_by"])
    note = update.note
    was_public = note.published
    if not was_public:
        IncidentNote.objects.filter(pk=note.pk).update(published=True)
        note.published = True
    _audit(
        note,
        IncidentAction.PUBLISHED,
        actor,
        now,
        update=update,
        body=update.body,
        next_update_at=update.next_update_at.isoformat() if update.next_update_at else None,
        page_was_public=was_public,
    )
    event_emit(
        "incident.published",
        {"note": note.pk, "slug": note.slug, "update": update.pk, "actor": _uid(actor)},
        at=now,
    )


def incident_note_unpublish(*, note: IncidentNote, actor: Any, reason: str, now: datetime) -> None:
    """Take the public page down (it answers 404 again); lead or admin, with a reason."""
    if not can_publish(actor, note.team):
        raise PermissionDenied(f"only a lead of {note.team.name} or an admin may withdraw it")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the page is withdrawn", [FieldError("reason", "required")])
    with transaction.atomic():
        changed = IncidentNote.objects.filter(pk=note.pk, published=True).update(published=False)
        if not changed:
            raise Conflict("the page is not public", code=ErrorCode.NOT_PUBLISHED)
        note.published = False
        _audit(note, IncidentAction.UNPUBLISHED, actor, now, reason=reason[:400])
