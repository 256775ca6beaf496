"""A driver's run: the start of the day's round, the ETAs, and what the customers are told.

- ``run_start``: the driver taps "start my run". Each stop of the day (the driver's jobs not
  done yet, in stop order) gets an ETA from the stop order, a travel time between stops and
  a service time at each (``eta_plan``), and its customer a departure notice through the
  outbox with the ETA, the tracking link and, when the job needs it, the PIN to read to the
  driver. A notice's outbox key is the job's, so a second tap tells nobody twice.
- ``eta_update``: an ETA moved (the run's plan, or an outside dispatch system later). When
  it passes the window's end by more than the grace, the customer gets one delay notice (at
  most one per job) and the owning team a ``recovery`` loop; when it comes back inside the
  window, a "back on time" notice (once) and the loop closes.

A driver's "today" and a notice's "same day" are days in the team's time zone (the business
hours of its SLA policies, ``services.TeamZones``; UTC without), not UTC's: a London team's
stop at 00:30 BST is on that local day's run.

Notices go out under the ``delivery`` contact rule (caps, quiet hours), except same-day
notices while ``LASTMILE_JOBS_SAME_DAY_QUIET_EXCEPTION`` is on: those go under
``delivery_same_day``, so a driver who has left is not held by the night's quiet hours
(give that purpose its own rule for caps without quiet hours).

The trail keeps what happened: ``eta`` (each new ETA), ``departed``, ``delayed`` and
``on_time`` events on the job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.errors import Conflict, FieldError
from lastmile.jobs import services
from lastmile.jobs.models import Job, JobEvent, JobState, Proof
from lastmile.jobs.selectors import job_list
from lastmile.loops.models import Loop, LoopKind, LoopState
from lastmile.loops.services import loop_close, loop_open
from lastmile.people.selectors import agent_team_for
from lastmile.people.viewers import Actor
from lastmile.recovery.services import SMS_MAX, customer_email, customer_phone

log = logging.getLogger(__name__)

PURPOSE = "delivery"  # the outbox purpose: the contact rule that caps and times the notices
PURPOSE_SAME_DAY = "delivery_same_day"  # same-day notices under the quiet-hours exception
# The states of a stop still ahead of the driver.
AHEAD = (JobState.SCHEDULED, JobState.STARTED, JobState.ARRIVED)
# The trail's kinds for the run (JobEvent.kind, beside the jobs' own).
EV_ETA, EV_DEPARTED, EV_DELAYED, EV_ON_TIME = "eta", "departed", "delayed", "on_time"


def _minutes(name: str, default: int) -> timedelta:
    value = getattr(settings, name, default)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r}: a whole number of minutes, 0 or more")
    return timedelta(minutes=value)


def stop_service() -> timedelta:
    """Time spent at each stop (``LASTMILE_JOBS_STOP_MINUTES``, 15)."""
    return _minutes("LASTMILE_JOBS_STOP_MINUTES", 15)


def stop_travel() -> timedelta:
    """Time from one stop to the next, and from the depot to the first
    (``LASTMILE_JOBS_TRAVEL_MINUTES``, 20)."""
    return _minutes("LASTMILE_JOBS_TRAVEL_MINUTES", 20)


def delay_grace() -> timedelta:
    """How far past the window's end an ETA may go before the customer is told of a delay
    (``LASTMILE_JOBS_DELAY_GRACE_MINUTES``, 15)."""
    return _minutes("LASTMILE_JOBS_DELAY_GRACE_MINUTES", 15)


def same_day_quiet_exception() -> bool:
    return bool(getattr(settings, "LASTMILE_JOBS_SAME_DAY_QUIET_EXCEPTION", True))


# --- the plan --------------------------------------------------------------------------------


def eta_plan(
    windows: list[tuple[datetime, datetime]],
    *,
    start: datetime,
    travel: timedelta,
    service: timedelta,
) -> list[datetime]:
    """The arrival at each stop, in order: the driver leaves at ``start``, travels
    ``travel`` to each stop, waits there for its window to open if early, and spends
    ``service`` before leaving for the next.

    >>> from datetime import UTC
    >>> t = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    >>> w = (t.replace(hour=10), t.replace(hour=12))
    >>> [e.strftime("%H:%M") for e in eta_plan([w, w], start=t, travel=timedelta(minutes=20),
    ...     service=timedelta(minutes=15))]
    ['10:00', '10:35']
    """
    out = []
    clock = start
    for window_start, _end in windows:
        arrive = max(clock + travel, window_start)
        out.append(arrive)
        clock = arrive + service
    return out


def local_day(job: Job, *, zones: services.TeamZones | None = None) -> date:
    """The day the job's window starts on, in its team's time zone."""
    return job.window_start.astimezone((zones or services.TeamZones())(job.team_id)).date()


def driver_today(*, driver: Any, now: datetime) -> date:
    """The driver's today: ``now``'s day in the time zone of the driver's (first) team, UTC's
    for a user in no team."""
    team = agent_team_for(driver)
    zone = services.TeamZones()(team.pk) if team is not None else UTC
    return now.astimezone(zone).date()


def run_stops(*, driver: Any, day: date) -> list[Job]:
    """The driver's stops on ``day``, a day in each job's team's time zone: their teams'
    jobs given to them or to nobody yet, not cancelled, in stop order (stops without an
    order last, by window)."""
    # Every zone's local day lies within the UTC day before, of, and after it.
    start = datetime.combine(day - timedelta(days=1), time(0), tzinfo=UTC)
    zones = services.TeamZones()
    jobs = [
        job
        for job in job_list(viewer=driver)
        .filter(window_start__gte=start, window_start__lt=start + timedelta(days=3))
        .exclude(state=JobState.CANCELLED)
        .filter(Q(assignee=driver) | Q(assignee__isnull=True))
        .prefetch_related("customer__identities", "changes")
        if local_day(job, zones=zones) == day
    ]
    return sorted(
        jobs, key=lambda j: (j.stop_order is None, j.stop_order or 0, j.window_start, j.pk)
    )


def run_startable(*, stops: list[Job], driver: Any, day: date, now: datetime) -> bool:
    """Whether "Start my run" is offered for ``stops`` (``run_stops`` of ``day``): only on
    the driver's today, and only while a scheduled stop has no ETA set by a run."""
    if day != driver_today(driver=driver, now=now):
        return False
    ahead = {j.pk for j in stops if j.state == JobState.SCHEDULED}
    started = set(
        JobEvent.objects.filter(job_id__in=ahead, kind=EV_ETA, data__source="run").values_list(
            "job_id", flat=True
        )
    )
    return bool(ahead - started)


@dataclass
class RunStarted:
    """What starting the run did: each stop's ETA and whether its customer was told."""

    day: date
    stops: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "stops": self.stops}


def run_start(*, driver: Any, day: date, actor: Actor, now: datetime) -> RunStarted:
    """The driver leaves for the day's stops: each stop still ahead gets its ETA
    (``eta_plan`` from ``now``) and its customer a departure notice (once per job), then
    the ETA is checked against the window (``eta_update``: a delay notice and a recovery
    loop when it will be missed). Only on the day itself (the driver's today in their team's
    zone): started for another day, its customers would hear "on our way" days early."""
    today = driver_today(driver=driver, now=now)
    if day != today:
        raise Conflict(
            f"a run starts on its day: {day.isoformat()} is not today ({today.isoformat()} "
            "in the team's time zone), so its customers are not told now",
            errors=[FieldError("date", f"must be today, {today.isoformat()}")],
        )
    stops = [j for j in run_stops(driver=driver, day=day) if j.state in AHEAD]
    zones = services.TeamZones()
    etas = eta_plan(
        [(j.window_start, j.window_end) for j in stops],
        start=now,
        travel=stop_travel(),
        service=stop_service(),
    )
    result = RunStarted(day=day)
    with transaction.atomic():
        for job, eta in zip(stops, etas, strict=True):
            fresh = eta_update(job=job, eta=eta, actor=actor, now=now, source="run", depart=True)
            result.stops.append(
                {
                    "job": fresh.pk,
                    "eta": eta.isoformat(),
                    "eta_words": f"{eta.astimezone(zones(job.team_id)):%H:%M %Z}",
                    "late": is_late(fresh),
                }
            )
    return result


# --- ETA and delay ---------------------------------------------------------------------------


def is_late(job: Job) -> bool:
    """Whether the job's ETA is past its window's end by more than the grace."""
    return job.eta is not None and job.eta > job.window_end + delay_grace()


def _delay_state(job: Job) -> tuple[bool, bool, int | None]:
    """(delayed now, delay ever told, the open recovery loop's id) from the trail."""
    events = list(
        JobEvent.objects.filter(job=job, kind__in=(EV_DELAYED, EV_ON_TIME)).order_by("at", "pk")
    )
    delayed_now = bool(events) and events[-1].kind == EV_DELAYED
    told = any(e.kind == EV_DELAYED and e.data.get("notice") for e in events)
    loop_id = events[-1].data.get("loop") if delayed_now else None
    return delayed_now, told, loop_id


def eta_update(
    *,
    job: Job,
    eta: datetime,
    actor: Actor,
    now: datetime,
    source: str = "api",
    depart: bool = False,
) -> Job:
    """Set the job's ETA, and tell the customer what changed.

    In one transaction, the job's row locked: the ETA is stored with an ``eta`` event;
    with ``depart``, the departure notice is queued (once per job). Then, against the
    window's end plus the grace: late and not delayed yet → a ``delayed`` event, a delay
    notice (only the first time for the job) and a ``recovery`` loop for the job's team;
    back inside the window after a delay → an ``on_time`` event, a "back on time" notice
    (once) and the recovery loop closed. A job no longer ahead (done, failed, cancelled)
    is left as it is."""
    if eta.tzinfo is None:
        raise ValueError("eta must be aware")
    with transaction.atomic():
        fresh = (
            Job.objects.select_for_update(of=("self",))
            .select_related("team", "customer", "case")
            .get(pk=job.pk)
        )
        if fresh.state not in AHEAD:
            return fresh
        fresh.eta = eta
        fresh.updated_at = now
        fresh.save(update_fields=["eta", "updated_at"])
        _event(fresh, EV_ETA, actor=actor, now=now, eta=eta.isoformat(), source=source)
        if depart and _notify(fresh, "departure", now=now):
            _event(fresh, EV_DEPARTED, actor=actor, now=now, eta=eta.isoformat())
        delayed_now, told, loop_id = _delay_state(fresh)
        late = is_late(fresh)
        if late and not delayed_now:
            notice = False if told else _notify(fresh, "delay", now=now)
            loop = _recovery_open(fresh, actor=actor, now=now)
            _event(
                fresh,
                EV_DELAYED,
                actor=actor,
                now=now,
                eta=eta.isoformat(),
                notice=notice,
                loop=loop.pk,
            )
        elif not late and delayed_now and fresh.eta <= fresh.window_end:
            notice = _notify(fresh, "on-time", now=now)
            open_loop = (
                Loop.objects.filter(pk=loop_id, state=LoopState.OPEN).first()
                if loop_id is not None
                else None
            )
            if open_loop is not None:
                loop_close(
                    loop=open_loop,
                    actor=actor,
                    reason="back on time: ETA inside the window",
                    now=now,
                )
            _event(fresh, EV_ON_TIME, actor=actor, now=now, eta=eta.isoformat(), notice=notice)
    return fresh


def _event(job: Job, kind: str, /, *, actor: Actor, now: datetime, **data: Any) -> JobEvent:
    return JobEvent.objects.create(job=job, kind=kind, at=now, actor=actor, data=data)


def _recovery_open(job: Job, *, actor: Actor, now: datetime) -> Loop:
    zone = services.TeamZones()(job.team_id)
    window = services.window_words(job.window_start, job.window_end, zone)
    eta = job.eta.astimezone(zone) if job.eta else None
    due = job.window_end if job.window_end > now else now + delay_grace()
    name = job.customer.display_name or f"customer {job.customer_id}"
    return loop_open(
        customer=job.customer,
        case=job.case,
        kind=LoopKind.RECOVERY,
        title=f"Job #{job.pk} for {name} will miss its window {window}"[:300],
        team=job.team,
        assignee=job.assignee,
        due_at=due,
        actor=actor,
        reason=(
            f"ETA {eta:%H:%M %Z} is past the window's end by more than "
            f"{int(delay_grace().total_seconds() // 60)} min: call the customer, "
            "rearrange the stop or offer another window"
            if eta
            else "the ETA is past the window"
        ),
        now=now,
    )


# --- an outside dispatch system's steps ------------------------------------------------------

# The states a job has reached or passed when an outside system tells a step again.
OUTSIDE_DONE: dict[str, frozenset[str]] = {
    "start": frozenset({JobState.STARTED, JobState.ARRIVED, JobState.COMPLETED, JobState.FAILED}),
    "complete": frozenset({JobState.COMPLETED}),
    "fail": frozenset({JobState.FAILED}),
    "eta": frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}),
}


def outside_step(
    *,
    job: Job,
    step: str,
    now: datetime,
    eta: datetime | None = None,
    proofs: list[tuple[str, str]] | None = None,
    reason: str = "",
    note: str = "",
    source: str = "outside",
) -> tuple[Job, bool]:
    """A step an outside dispatch system (Onfleet) tells about the job, and whether it
    changed anything: a step the job has already been through is ``(job, False)``, so a
    system's retry changes nothing.

    - ``eta``: the ETA, as ``eta_update`` (delay notice and recovery loop when late).
    - ``start``: the job starts.
    - ``complete``: in one transaction, the job is walked through start and arrival if the
      system did not tell those, the ``proofs`` (kind, data) it took are added once each,
      and the job completes (409 ``proof_missing`` when a proof lastmile requires is not
      among them: then nothing is written).
    - ``fail``: a scheduled job is started first, then fails for ``reason`` with ``note``.
    """
    if step not in OUTSIDE_DONE:
        raise ValueError(f"unknown step {step!r}")
    if job.state in OUTSIDE_DONE[step]:
        return job, False
    with transaction.atomic():
        if step == "eta":
            if eta is None:
                raise ValueError("an eta step needs the eta")
            return eta_update(job=job, eta=eta, actor=None, now=now, source=source), True
        if step == "start":
            return services.job_start(job=job, actor=None, now=now), True
        if step == "complete":
            job = _walk_to_arrived(job, now=now)
            have = set(Proof.objects.filter(job=job).values_list("kind", "data"))
            for kind, data in proofs or ():
                if (kind, data) not in have:
                    services.proof_add(
                        job=job, kind=kind, data=data, actor=None, now=now, outside=True
                    )
                    have.add((kind, data))
            return services.job_complete(job=job, actor=None, now=now), True
        if job.state == JobState.SCHEDULED:
            job = services.job_start(job=job, actor=None, now=now)
        return services.job_fail(job=job, reason=reason, note=note, actor=None, now=now), True


def _walk_to_arrived(job: Job, *, now: datetime) -> Job:
    """Start and arrive a job an outside system says is done, where it did not say so."""
    if job.state == JobState.SCHEDULED:
        job = services.job_start(job=job, actor=None, now=now)
    if job.state == JobState.STARTED:
        job = services.job_arrive(job=job, actor=None, now=now)
    return job


# --- notices ---------------------------------------------------------------------------------


def _sms_channel() -> str:
    slug = str(getattr(settings, "LASTMILE_JOBS_NOTICE_SMS", "") or "")
    return f"sms:{slug}" if slug else ""


def notice_text(job: Job, what: str) -> tuple[str, str]:
    """The subject and body of a notice: ``departure``, ``delay`` or ``on-time``."""
    zone = services.TeamZones()(job.team_id)
    window = services.window_words(job.window_start, job.window_end, zone)
    eta = f"{job.eta.astimezone(zone):%H:%M %Z}" if job.eta else "soon"
    name = (job.customer.display_name or "").strip()
    hello = f"Hello {name.split()[0]}," if name else "Hello,"
    thing = "delivery" if job.kind == "delivery" else "visit"
    link = services.tracking_url(job)
    if what == "departure":
        subject = f"Your {thing} is on its way: expected at {eta}"
        lead = f"our driver has set off. Your {thing} is expected at about {eta} (window {window})."
    elif what == "delay":
        subject = f"Your {thing} is running late: now expected at {eta}"
        lead = (
            f"we are running late. Your {thing} is now expected at about {eta}, after the "
            f"window you chose ({window}). We are sorry; our team will be in touch."
        )
    else:
        subject = f"Your {thing} is back on time: expected at {eta}"
        lead = f"good news: your {thing} is back on time, expected at about {eta} ({window})."
    lines = [f"{hello} {lead}", f"Follow it here: {link}"]
    if job.pin and "pin" in (job.required_proofs or []):
        lines.append(f"Please read this PIN to the driver: {job.pin}")
    return subject, "\n\n".join(lines)


def _notify(job: Job, what: str, *, now: datetime) -> bool:
    """Queue the notice ``what`` for the job's customer (email, else a text message when
    an SMS integration is set); True when newly queued, False when it was already or the
    customer cannot be reached."""
    customer = job.customer
    email = customer_email(customer)
    channel, recipient = "email", email
    if not email:
        sms = _sms_channel()
        phone = customer_phone(customer)
        if not (sms and phone):
            log.info("job %s: %s has no address for the %s notice", job.pk, customer, what)
            return False
        channel, recipient = sms, phone
    subject, body = notice_text(job, what)
    zone = services.TeamZones()(job.team_id)
    same_day = job.window_start.astimezone(zone).date() == now.astimezone(zone).date()
    purpose = PURPOSE_SAME_DAY if same_day and same_day_quiet_exception() else PURPOSE
    data: dict[str, Any] = {"job": job.pk, "notice": what}
    if channel.startswith("sms:"):
        data["integration"] = channel.partition(":")[2]
        body = f"{subject}. {body}"[:SMS_MAX]
    new = outbox_enqueue(
        [
            outbox_message(
                key=f"job:{job.pk}:{what}",
                purpose=purpose,
                channel=channel,
                recipient=recipient,
                customer=customer,
                case=job.case,
                subject="" if channel.startswith("sms:") else subject,
                body=body,
                data=data,
                now=now,
            )
        ]
    )
    return bool(new)
