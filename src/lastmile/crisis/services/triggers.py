"""The triggers: every watch term's detectors fed bucket by bucket, and an alert raised when
one fires; the detectors' stored state and their sensitivity.

``triggers_run`` closes every complete 5-minute bucket since the last one, per watch term,
feeds each signal's detector from its stored state, saves the state, and raises an alert
(``alerts.alert_raise``) when a detector fires. Nothing is refitted over history: a run costs
a few queries per term whatever the history's length, and a restart resumes from
``DetectorState``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min

from lastmile.core.audit import Action, audit_record
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.crisis import detectors as det
from lastmile.crisis.models import Alert, AlertState, DetectorState
from lastmile.crisis.services.alerts import alert_raise
from lastmile.listening.models import Mention, WatchTerm
from lastmile.people.viewers import Actor

# A bucket is closed this long after its end, so mentions that arrive a little late
# (an import that runs every minute) are still counted in it.
GRACE = timedelta(minutes=1)
# A term seen for the first time is scored from its first mention, at most this far back.
BACKFILL = timedelta(days=14)
# A catch-up over a long history is done a day at a time, one transaction per day.
CHUNK = timedelta(days=1)
# A burst is one incident: a detector of a term that fires within this long of an open (or
# acknowledged) alert's latest firing joins that alert instead of raising another. A day, as
# the detectors themselves treat a day after firing as the same incident (they stay quiet).
BURST = timedelta(days=1)


def default_sensitivity() -> float:
    value = float(getattr(settings, "LASTMILE_ALERT_SENSITIVITY", det.DEFAULT_SENSITIVITY))
    if not 0.0 < value < 1.0:
        raise ValueError("LASTMILE_ALERT_SENSITIVITY must be strictly between 0 and 1")
    return value


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
       before it are complete (and, for a term, those before its oldest mention still
       pending: a file import's, not scored by the worker yet).
    2. Per term, claim its detector states (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a
       term another worker holds is skipped, not waited on; on SQLite the IMMEDIATE
       transaction serialises runs), count its mentions per bucket in one query, feed each
       signal's detector bucket by bucket (empty buckets too: silence is data), and save the
       states with the end of the last bucket scored.
    3. A detector that fires raises an alert, unless it belongs to a burst already raised:
       any signal of the term firing within ``BURST`` (a day) of the latest firing of an
       open or acknowledged alert of the term is the same incident. It is added to that
       alert (``details["also"]``, and ``details["last_fired"]`` moves on), so one outage
       that lasts hours and trips one signal after another is one crisis room, one
       acknowledgement loop and one notification, not one per signal. A signal that fires
       again while its own alert is still open, further out than that, is dropped (at most
       one open alert per term and signal).
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
    rows = list(
        Mention.objects.filter(
            terms=term, is_from_brand=False, posted_at__gte=start, posted_at__lt=end
        )
        .order_by()
        .values_list("network", "url", "sentiment_label", "posted_at", "pending")
    )
    # A mention a file import left pending has no sentiment yet (the worker scores it
    # within a minute): its bucket is not complete, nor are those after it. They wait
    # for the next run; scored now, the negative signals would miss it for good.
    held = min((row[3] for row in rows if row[4]), default=None)
    if held is not None:
        end = det.bucket_floor(held)
        if end <= start:
            return True
    buckets = det.buckets_from_rows(
        (None, posted_at, network, url, label)
        for network, url, label, posted_at, _ in rows
        if posted_at < end
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
    for state, bucket_start, reading, bucket in fired:
        active = list(
            Alert.objects.select_for_update()
            .filter(term=term, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
            .order_by("bucket_start", "pk")
        )
        same_signal = any(a.signal == state.signal for a in active)
        incident = next(
            (a for a in active if last_fired(a) >= bucket_start - BURST),
            None,
        )
        if incident is not None:
            # The same burst: one crisis room, one loop, one notification; the room lists
            # every firing.
            _join(incident, state.signal, bucket_start, reading)
            if same_signal:
                result.deduplicated += 1
            else:
                result.merged += 1
            continue
        if same_signal:
            result.deduplicated += 1
            continue
        alert = alert_raise(
            term=term,
            signal=state.signal,
            bucket_start=bucket_start,
            reading=reading,
            bucket=bucket,
            sensitivity=state.sensitivity,
            now=now,
        )
        result.alerts.append(alert.pk)
    return held is not None or end >= horizon


def last_fired(alert: Alert) -> datetime:
    """When a detector last fired for this alert's incident (its own bucket, or a later one
    that joined it)."""
    stamp = alert.details.get("last_fired")
    return datetime.fromisoformat(stamp) if stamp else alert.bucket_start


def _join(alert: Alert, signal: str, bucket_start: datetime, reading: det.Reading) -> None:
    alert.details = {
        **alert.details,
        "also": [
            *alert.details.get("also", []),
            {
                "signal": signal,
                "bucket_start": bucket_start.isoformat(),
                "observed": reading.observed,
                "baseline": reading.baseline,
                "score": reading.score,
            },
        ],
        "last_fired": max(last_fired(alert), bucket_start).isoformat(),
    }
    alert.save(update_fields=["details"])


def detector_sensitivity_set(
    *,
    term: WatchTerm,
    sensitivity: float,
    actor: Actor,
    now: datetime,
    signal: str | None = None,
    actor_label: str = "",
) -> int:
    """Change how readily a term's detectors fire (all its signals, or one); returns how
    many detectors it applies to.

    1. Check the value and the signal: InvalidInput, and nothing is written.
    2. Make the term's missing detector states (a term the triggers have not run on yet).
    3. Lock its states in pk order (as the triggers do), set the sensitivity and write one
       audit row per detector whose sensitivity changed (before and after), in one
       transaction: the change and its record exist together or not at all.
    """
    if not 0.0 < sensitivity < 1.0:
        raise InvalidInput(
            "sensitivity out of range", [FieldError("sensitivity", "strictly between 0 and 1")]
        )
    if signal is not None and signal not in det.signals_for(term.kind):
        raise InvalidInput(
            f"a {term.kind} term has no signal {signal!r}",
            [FieldError("signal", f"one of {', '.join(det.signals_for(term.kind))}")],
        )
    with transaction.atomic():
        _states_ensure(term, horizon=det.bucket_floor(now - GRACE), now=now)
        qs = DetectorState.objects.select_for_update().filter(term=term).order_by("pk")
        if signal is not None:
            qs = qs.filter(signal=signal)
        states = list(qs)
        for state in states:
            before = state.sensitivity
            state.sensitivity = sensitivity
            state.updated_at = now
            state.save(update_fields=["sensitivity", "updated_at"])
            if before != sensitivity:
                audit_record(
                    actor=actor,
                    now=now,
                    obj=state,
                    action=Action.CHANGED,
                    before={"sensitivity": before},
                    after={"sensitivity": sensitivity},
                    actor_label=actor_label,
                )
    return len(states)
