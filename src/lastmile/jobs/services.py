"""Every write of jobs: booking a job into a team's slot, changing its slot, the day of the
job (start, arrive, proof, complete, fail), and the slots themselves.

A job's state moves one way (``TRANSITIONS``): scheduled → started → arrived → completed,
or failed from started or arrived; a scheduled job may be cancelled. Any other step is a
409 ``invalid_transition`` naming the state the job is in and the states the step needs.

Slot capacity is counted from the jobs in the slot under the slot's row lock
(``select_for_update``; on SQLite the IMMEDIATE transaction serialises writers), so two
bookings of the last place never both succeed.

Each job owes the customer a ``visit`` loop, due at the end of the window the customer
chose, never before it; completion closes it and opens a ``followup`` loop, due at the
close of the second business day after completion under the team's business hours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput, NotFound
from lastmile.core.events import event_emit
from lastmile.invoices import services as invoice_services
from lastmile.invoices.selectors import pdf_url
from lastmile.jobs.models import (
    BOOKED_STATES,
    ChangeState,
    ConsentKind,
    FailReason,
    IdempotentAnswer,
    Job,
    JobChange,
    JobEvent,
    JobEventKind,
    JobKind,
    JobLine,
    JobState,
    Proof,
    ProofKind,
    Slot,
)
from lastmile.loops.business_time import Calendar, open_intervals
from lastmile.loops.models import Loop, LoopKind, LoopState
from lastmile.loops.services import (
    calendar_for,
    loop_break,
    loop_cancel,
    loop_close,
    loop_open,
    policies_active,
    policy_pick,
)
from lastmile.loops.services import policy_match as loop_policy_match
from lastmile.people.selectors import assignee_check
from lastmile.people.viewers import Actor

MAX_LINES = 200
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = 10**12  # minor units
MAX_PROOF_BYTES = 2_000_000  # a photo or signature as a data URL, or a file reference
PIN_DIGITS = 6
FOLLOWUP_BUSINESS_DAYS = 2
CURRENCY = re.compile(r"^[A-Z]{3}$")

# step: (the states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": ((JobState.SCHEDULED,), JobState.STARTED),
    "arrive": ((JobState.STARTED,), JobState.ARRIVED),
    "complete": ((JobState.ARRIVED,), JobState.COMPLETED),
    "fail": ((JobState.STARTED, JobState.ARRIVED), JobState.FAILED),
    "cancel": ((JobState.SCHEDULED,), JobState.CANCELLED),
    "reschedule": ((JobState.SCHEDULED,), JobState.SCHEDULED),
}
# A proof is taken at the door: once the driver is on the way or there.
PROOF_STATES = (JobState.STARTED, JobState.ARRIVED)


@dataclass(frozen=True)
class LineIn:
    """One item or piece of work: ``unit_price`` in minor units of ``currency``."""

    sku: str
    description: str
    quantity: int
    unit_price: int
    currency: str


class InvalidTransition(Conflict):
    """The job's state does not allow this step: 409 naming both."""

    def __init__(self, job: Job, step: str) -> None:
        allowed, _ = TRANSITIONS[step]
        super().__init__(
            f"job #{job.pk} is {job.state}; {step} needs it {' or '.join(allowed)}",
            code=ErrorCode.INVALID_TRANSITION,
            errors=[FieldError("state", f"is {job.state}, not {' or '.join(allowed)}")],
        )


class ProofMissing(Conflict):
    """A required proof is not taken yet: completion is refused, naming what is missing."""

    def __init__(self, job: Job, missing: Sequence[str]) -> None:
        super().__init__(
            f"job #{job.pk} cannot be completed without proof: {', '.join(missing)} missing",
            code=ErrorCode.PROOF_MISSING,
            errors=[FieldError("proof", f"{kind} missing") for kind in missing],
        )


# --- words -----------------------------------------------------------------------------------


class TeamZones:
    """The zone each team's times are told in: the business hours of the policy its visit
    loops match (loops' rule), else UTC. The policies are read once, on first use, so a
    page of jobs costs one query for all its teams."""

    def __init__(self) -> None:
        self._policies: list[Any] | None = None
        self._zones: dict[int, ZoneInfo] = {}

    def __call__(self, team_id: int) -> ZoneInfo:
        zone = self._zones.get(team_id)
        if zone is None:
            if self._policies is None:
                self._policies = policies_active()
            policy = policy_pick(self._policies, kind=LoopKind.VISIT, team_id=team_id)
            zone = self._zones[team_id] = ZoneInfo(calendar_for(policy).tz)
        return zone


def zone_of(team: Any) -> ZoneInfo:
    """The time zone a team works in (its SLA policies' business hours; UTC without)."""
    return TeamZones()(team.pk)


def window_words(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``Tue 24 Nov 10:00–12:00 GMT`` (both dates when the window spans midnight)."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    tail = f"{b:%H:%M %Z}" if a.date() == b.date() else f"{b:%a %d %b %H:%M %Z}"
    return f"{a:%a %d %b %H:%M}–{tail}"


def visit_due_words(job: Job, *, zones: TeamZones | None = None) -> str:
    """Why the job's visit loop is due when it is, in words to repeat to the customer."""
    zone = (zones or TeamZones())(job.team_id)
    end = job.window_end.astimezone(zone)
    return (
        f"due {end:%a %d %b %H:%M %Z}: the end of the window the customer chose "
        f"({window_words(job.window_start, job.window_end, zone)})"
    )


def _loop_title(kind: str, customer: Any, start: datetime, end: datetime, zone: ZoneInfo) -> str:
    what = JobKind(kind).label
    name = getattr(customer, "display_name", "") or f"customer {customer.pk}"
    return f"{what} for {name}, {window_words(start, end, zone)}"[:300]


# --- slots -----------------------------------------------------------------------------------


def slot_check(*, team: Any, starts_at: Any, ends_at: Any, capacity: Any) -> None:
    """A slot's fields, checked; InvalidInput naming each bad one."""
    errors = []
    if team is None:
        errors.append(FieldError("team", "required"))
    if not isinstance(starts_at, datetime) or starts_at.tzinfo is None:
        errors.append(FieldError("starts_at", "an aware date-time"))
    if not isinstance(ends_at, datetime) or ends_at.tzinfo is None:
        errors.append(FieldError("ends_at", "an aware date-time"))
    elif isinstance(starts_at, datetime) and starts_at.tzinfo and ends_at <= starts_at:
        errors.append(FieldError("ends_at", "must be after starts_at"))
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0:
        errors.append(FieldError("capacity", "a whole number, 0 or more"))
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)


def slot_create(
    *,
    team: Any,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    cutoff_minutes: int = 120,
    actor: Actor = None,
) -> Slot:
    """A new slot for ``team`` (checked first: InvalidInput naming the field)."""
    slot_check(team=team, starts_at=starts_at, ends_at=ends_at, capacity=capacity)
    if Slot.objects.filter(team=team, starts_at=starts_at, ends_at=ends_at).exists():
        raise InvalidInput(
            "the team offers this window already",
            [FieldError("starts_at", "a slot with this start and end exists for the team")],
        )
    return Slot.objects.create(
        team=team,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        cutoff_minutes=cutoff_minutes,
    )


def slot_booked(slot: Slot) -> int:
    """How many jobs hold a place in ``slot`` (every job but a cancelled one)."""
    return Job.objects.filter(slot=slot, state__in=BOOKED_STATES).count()


def _slot_for_window(*, team: Any, start: datetime, end: datetime) -> Slot:
    """The team's slot for exactly this window, locked for this transaction; InvalidInput
    naming ``window`` if the team offers no such slot."""
    slot = (
        Slot.objects.select_for_update()
        .filter(team=team, starts_at=start, ends_at=end)
        .order_by("pk")
        .first()
    )
    if slot is None:
        raise InvalidInput(
            f"team {team.slug!r} offers no slot for this window",
            [
                FieldError(
                    "window",
                    "not one of the team's slots (GET /api/v1/jobs/slots?team=&date= lists them)",
                )
            ],
        )
    return slot


def _slot_bookable(slot: Slot, *, now: datetime, exclude: Job | None = None) -> None:
    """InvalidInput naming ``window`` if ``slot`` has begun, is past its cut-off or is full."""
    if slot.starts_at <= now:
        raise InvalidInput(
            "the window is in the past",
            [FieldError("window.start", "the slot has started or is over")],
        )
    cutoff = slot.starts_at - timedelta(minutes=slot.cutoff_minutes)
    if now >= cutoff:
        raise InvalidInput(
            "bookings for this slot are closed",
            [
                FieldError(
                    "window.start",
                    f"bookings closed {slot.cutoff_minutes} min before the slot starts "
                    f"({cutoff:%Y-%m-%d %H:%M} UTC)",
                )
            ],
        )
    taken = Job.objects.filter(slot=slot, state__in=BOOKED_STATES)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    booked = taken.count()
    if booked >= slot.capacity:
        raise InvalidInput(
            "the slot is full",
            [FieldError("window", f"the slot is full ({booked} of {slot.capacity} booked)")],
        )


# --- creating a job --------------------------------------------------------------------------


def lines_check(lines: Sequence[LineIn]) -> str:
    """The lines' one currency; InvalidInput naming each bad field (``lines[i].quantity``)."""
    errors: list[FieldError] = []
    if len(lines) > MAX_LINES:
        errors.append(FieldError("lines", f"at most {MAX_LINES} lines"))
    currencies: list[str] = []
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if not (line.description or "").strip():
            errors.append(FieldError(f"{where}.description", "must not be empty"))
        q = line.quantity
        if not isinstance(q, int) or isinstance(q, bool) or q <= 0:
            errors.append(FieldError(f"{where}.quantity", "must be a whole number above 0"))
        elif q > MAX_QUANTITY:
            errors.append(FieldError(f"{where}.quantity", f"at most {MAX_QUANTITY}"))
        p = line.unit_price
        if not isinstance(p, int) or isinstance(p, bool) or p < 0:
            errors.append(
                FieldError(f"{where}.unit_price", "must be 0 or more, in minor units (pence)")
            )
        elif p > MAX_UNIT_PRICE:
            errors.append(FieldError(f"{where}.unit_price", f"at most {MAX_UNIT_PRICE}"))
        if not CURRENCY.match(line.currency or ""):
            errors.append(FieldError(f"{where}.currency", "an ISO 4217 code such as GBP"))
        else:
            currencies.append(line.currency)
            if line.currency != currencies[0]:
                errors.append(
                    FieldError(
                        f"{where}.currency",
                        f"every line in one currency: {currencies[0]}, not {line.currency}",
                    )
                )
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    return currencies[0] if currencies else ""


def _proofs_check(proofs: Sequence[str]) -> list[str]:
    bad = [
        FieldError(f"proof[{i}]", f"one of {', '.join(ProofKind.values)}")
        for i, p in enumerate(proofs)
        if p not in ProofKind.values
    ]
    if bad:
        raise InvalidInput(f"{bad[0].field}: {bad[0].reason}", bad)
    return list(dict.fromkeys(proofs))


def tracking_token_new() -> str:
    return secrets.token_urlsafe(24)


def pin_new() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def tracking_url(job: Job) -> str:
    """The customer's tracking link (no login: the token is their key to the job)."""
    return f"{settings.LASTMILE_PUBLIC_URL.rstrip('/')}/jobs/t/{job.tracking_token}/"


def job_event_data(job: Job, **extra: Any) -> dict[str, Any]:
    """The data of a ``job.*`` domain event, as webhook subscribers receive it (``team`` is
    the team's id, which a team's subscription is matched on)."""
    return {
        "job": job.pk,
        "kind": job.kind,
        "state": job.state,
        "customer": job.customer_id,
        "case": job.case.ref if job.case_id and job.case else None,
        "team": job.team_id,
        "assignee": job.assignee_id,
        "window": {"start": job.window_start.isoformat(), "end": job.window_end.isoformat()},
        **extra,
    }


def _trail(job: Job, event: str, /, *, actor: Actor, now: datetime, **data: Any) -> JobEvent:
    return JobEvent.objects.create(job=job, kind=event, at=now, actor=actor, data=data)


def _visit_loop_open(job: Job, *, actor: Actor, now: datetime) -> Loop:
    """The job's visit loop, due at the end of its window (the customer's choice)."""
    zone = zone_of(job.team)
    return loop_open(
        customer=job.customer,
        case=job.case,
        kind=LoopKind.VISIT,
        title=_loop_title(job.kind, job.customer, job.window_start, job.window_end, zone),
        team=job.team,
        assignee=job.assignee,
        due_at=job.window_end,
        visible_to_customer=True,
        actor=actor,
        reason=visit_due_words(job),
        now=now,
    )


def job_create(
    *,
    kind: str,
    customer: Any,
    team: Any,
    window_start: datetime,
    window_end: datetime,
    address: str,
    lines: Sequence[LineIn] = (),
    proofs: Sequence[str] = (),
    case: Any = None,
    assignee: Any = None,
    notes: str = "",
    actor: Actor,
    now: datetime,
) -> Job:
    """Book a delivery or visit into one of ``team``'s slots.

    1. The input is checked (422 naming the field): the kind, the address, the window ends
       after it starts, each line (quantity above 0, price not negative, one currency), the
       proofs, the case is the customer's, the assignee is in the team. Nothing is written.
    2. In one transaction: the slot for exactly this window is locked, refused if it has
       started, is past its cut-off or is full (422 naming ``window``); the job, its lines
       and its trail are written; its ``visit`` loop opens, due at the window's end; and
       ``job.created`` is told.
    """
    errors: list[FieldError] = []
    if kind not in JobKind.values:
        errors.append(FieldError("kind", f"one of {', '.join(JobKind.values)}"))
    address = (address or "").strip()
    if not address:
        errors.append(FieldError("address", "must not be empty"))
    elif len(address) > 500:
        errors.append(FieldError("address", "at most 500 characters"))
    if window_end <= window_start:
        errors.append(FieldError("window.end", "must be after window.start"))
    if case is not None and case.customer_id != customer.pk:
        errors.append(FieldError("case", f"{case.ref} is not this customer's case"))
    for check in (
        lambda: lines_check(lines),
        lambda: _proofs_check(proofs),
        lambda: assignee_check(assignee=assignee, team=team),
    ):
        try:
            check()
        except InvalidInput as exc:
            errors += exc.errors
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    required = _proofs_check(proofs)
    with transaction.atomic():
        slot = _slot_for_window(team=team, start=window_start, end=window_end)
        _slot_bookable(slot, now=now)
        job = Job.objects.create(
            kind=kind,
            customer=customer,
            team=team,
            assignee=assignee,
            case=case,
            slot=slot,
            address=address,
            notes=(notes or "").strip()[:2000],
            window_start=slot.starts_at,
            window_end=slot.ends_at,
            tracking_token=tracking_token_new(),
            pin=pin_new() if ProofKind.PIN in required else "",
            required_proofs=required,
            created_at=now,
            updated_at=now,
        )
        JobLine.objects.bulk_create(
            JobLine(
                job=job,
                position=i,
                sku=(line.sku or "").strip()[:64],
                description=line.description.strip()[:300],
                quantity=line.quantity,
                unit_price=line.unit_price,
                currency=line.currency,
            )
            for i, line in enumerate(lines)
        )
        job.visit_loop = _visit_loop_open(job, actor=actor, now=now)
        job.save(update_fields=["visit_loop"])
        _trail(
            job,
            JobEventKind.CREATED,
            actor=actor,
            now=now,
            slot=slot.pk,
            window=window_words(job.window_start, job.window_end, zone_of(team)),
        )
        event_emit("job.created", job_event_data(job), at=now)
    return job


# --- changing the slot -----------------------------------------------------------------------


def _lock(job: Job) -> Job:
    """The job's row, locked for this transaction, read again."""
    return (
        Job.objects.select_for_update(of=("self",))
        .select_related("team", "customer", "case", "slot")
        .get(pk=job.pk)
    )


def job_reschedule(
    *, job: Job, window_start: datetime, window_end: datetime, actor: Actor, now: datetime
) -> Job:
    """Move a scheduled job to another of its team's slots, up to the cut-off of both.

    The job's current slot must still be open to changes (before its cut-off) and the new
    one bookable (not begun, before its cut-off, not full: 422 naming ``window``). The visit
    loop moves with the window: the old one is cancelled ("rescheduled") and a new one opens,
    due at the new window's end. Both slots are locked in id order (no deadlock between two
    jobs swapping slots)."""
    if window_end <= window_start:
        raise InvalidInput(
            "the window ends before it starts",
            [FieldError("window.end", "must be after window.start")],
        )
    with transaction.atomic():
        fresh = _lock(job)
        if fresh.state not in TRANSITIONS["reschedule"][0]:
            raise InvalidTransition(fresh, "reschedule")
        target = (
            Slot.objects.filter(team=fresh.team, starts_at=window_start, ends_at=window_end)
            .values_list("pk", flat=True)
            .first()
        )
        ids = sorted(pk for pk in (fresh.slot_id, target) if pk is not None)
        list(Slot.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        current = Slot.objects.get(pk=fresh.slot_id)
        cutoff = current.starts_at - timedelta(minutes=current.cutoff_minutes)
        if now >= cutoff:
            raise InvalidInput(
                "the job's window can no longer be changed",
                [
                    FieldError(
                        "window",
                        f"changes closed {current.cutoff_minutes} min before the booked slot "
                        f"({cutoff:%Y-%m-%d %H:%M} UTC)",
                    )
                ],
            )
        slot = _slot_for_window(team=fresh.team, start=window_start, end=window_end)
        if slot.pk == current.pk:
            return fresh
        _slot_bookable(slot, now=now, exclude=fresh)
        before = window_words(fresh.window_start, fresh.window_end, zone_of(fresh.team))
        fresh.slot = slot
        fresh.window_start, fresh.window_end = slot.starts_at, slot.ends_at
        fresh.updated_at = now
        old_loop = _open_loop(fresh.visit_loop_id)
        after = window_words(fresh.window_start, fresh.window_end, zone_of(fresh.team))
        if old_loop is not None:
            loop_cancel(loop=old_loop, actor=actor, reason=f"rescheduled to {after}", now=now)
        fresh.visit_loop = _visit_loop_open(fresh, actor=actor, now=now)
        fresh.save(update_fields=["slot", "window_start", "window_end", "updated_at", "visit_loop"])
        _trail(
            fresh,
            JobEventKind.RESCHEDULED,
            actor=actor,
            now=now,
            **{"from": before, "to": after, "slot": slot.pk},
        )
        event_emit("job.rescheduled", job_event_data(fresh, before=before), at=now)
    return fresh


def job_stop_order_set(*, job: Job, stop_order: int, actor: Actor, now: datetime) -> Job:
    """Put the job at ``stop_order`` on its driver's run (1 first); a run's ETAs follow the
    stops in this order (``runs.eta_plan``). Not below 1 (422 naming ``stop_order``)."""
    if isinstance(stop_order, bool) or not isinstance(stop_order, int) or stop_order < 1:
        raise InvalidInput(
            "the stop order is a whole number from 1",
            [FieldError("stop_order", "a whole number from 1")],
        )
    with transaction.atomic():
        fresh = _lock(job)
        fresh.stop_order = stop_order
        fresh.updated_at = now
        fresh.save(update_fields=["stop_order", "updated_at"])
    return fresh


def job_reattempt(
    *, job: Job, window_start: datetime, window_end: datetime, actor: Actor, now: datetime
) -> Job:
    """Book the re-attempt of a failed job in the window the customer chose: a new job of
    the same kind, customer, team, case, address, lines, proofs and driver (its own visit
    loop, due at the new window's end). The failed job's trail names it. A job is re-attempted
    once (409 ``conflict`` when it already was); a job that did not fail cannot be."""
    with transaction.atomic():
        fresh = _lock(job)
        if fresh.state != JobState.FAILED:
            raise Conflict(
                f"job #{fresh.pk} is {fresh.state}; only a failed job is re-attempted",
                code=ErrorCode.INVALID_TRANSITION,
                errors=[FieldError("state", f"is {fresh.state}, not failed")],
            )
        done = JobEvent.objects.filter(
            job=fresh, kind=JobEventKind.RESCHEDULED, data__reattempt__isnull=False
        ).first()
        if done is not None:
            raise Conflict(
                f"job #{fresh.pk} was re-attempted already, as job #{done.data['reattempt']}",
                errors=[FieldError("job", f"re-attempted as job #{done.data['reattempt']}")],
            )
        lines = [
            LineIn(
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                currency=line.currency,
            )
            for line in fresh.lines.order_by("position")
        ]
        again = job_create(
            kind=fresh.kind,
            customer=fresh.customer,
            team=fresh.team,
            window_start=window_start,
            window_end=window_end,
            address=fresh.address,
            lines=lines,
            proofs=fresh.required_proofs,
            case=fresh.case,
            assignee=fresh.assignee,
            notes=fresh.notes,
            actor=actor,
            now=now,
        )
        _trail(
            fresh,
            JobEventKind.RESCHEDULED,
            actor=actor,
            now=now,
            reattempt=again.pk,
            to=window_words(again.window_start, again.window_end, zone_of(again.team)),
        )
        event_emit("job.reattempted", job_event_data(again, reattempt_of=fresh.pk), at=now)
    return again


def _open_loop(loop_id: int | None) -> Loop | None:
    if loop_id is None:
        return None
    return Loop.objects.filter(pk=loop_id, state=LoopState.OPEN).first()


# --- the day of the job ----------------------------------------------------------------------


def _step(job: Job, step: str, *, now: datetime) -> Job:
    """Lock the job, check ``step`` is allowed from its state and move it (unsaved); the
    caller's transaction holds it, and the caller saves, writes the trail and tells."""
    fresh = _lock(job)
    allowed, target = TRANSITIONS[step]
    if fresh.state not in allowed:
        raise InvalidTransition(fresh, step)
    fresh.state = target
    fresh.updated_at = now
    return fresh


def job_start(*, job: Job, actor: Actor, now: datetime) -> Job:
    """The driver or engineer is on the way (scheduled → started)."""
    with transaction.atomic():
        fresh = _step(job, "start", now=now)
        fresh.save(update_fields=["state", "updated_at"])
        _trail(fresh, JobEventKind.STARTED, actor=actor, now=now)
        event_emit("job.started", job_event_data(fresh), at=now)
    return fresh


def job_arrive(*, job: Job, actor: Actor, now: datetime) -> Job:
    """The driver or engineer is at the door (started → arrived)."""
    with transaction.atomic():
        fresh = _step(job, "arrive", now=now)
        fresh.save(update_fields=["state", "updated_at"])
        _trail(fresh, JobEventKind.ARRIVED, actor=actor, now=now)
        event_emit("job.arrived", job_event_data(fresh), at=now)
    return fresh


IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
MAX_QR_CHARS = 4296  # the most a QR code holds (alphanumeric)
OUTSIDE_REF = re.compile(r"^[a-z][a-z0-9_-]{0,30}:\S{1,500}$")  # "onfleet:<upload id>"


def image_data_clean(data: str, *, what: str) -> str:
    """``data`` as a PNG or JPEG data URL, else a 422 naming ``data``: a data URL
    (``data:image/png;base64,…``) or bare base64 of a picture Pillow can read. Bare base64
    comes back as a data URL of its real type, so every page can show it."""
    from PIL import Image, UnidentifiedImageError

    text = data.strip()
    declared = ""
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        declared = head[5:].lower()
        if not sep or not declared.endswith(";base64"):
            raise InvalidInput(
                f"the {what} is not a base64 data URL",
                [FieldError("data", "a data URL such as data:image/png;base64,…")],
            )
        declared = declared.removesuffix(";base64")
        if declared not in ("image/png", "image/jpeg", "image/jpg"):
            raise InvalidInput(
                f"the {what} is {declared or 'of no type'}, not a picture",
                [FieldError("data", "a PNG or JPEG picture (image/png or image/jpeg)")],
            )
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    kind = ""
    if raw:
        try:
            with Image.open(io.BytesIO(raw)) as image:
                kind = image.format or ""
                image.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            kind = ""
    if kind not in IMAGE_FORMATS:
        raise InvalidInput(
            f"the {what} is not a picture",
            [FieldError("data", "must be a PNG or JPEG picture, as a data URL or base64")],
        )
    return f"data:{IMAGE_FORMATS[kind]};base64,{base64.b64encode(raw).decode()}"


def proof_data_clean(kind: str, data: str, *, outside: bool = False) -> str:
    """What a proof of ``kind`` stores for ``data`` (422 naming ``data`` when it is not one):
    a signature or photo is a real PNG or JPEG (``image_data_clean``), or, from an outside
    system (``outside``: Onfleet's webhook), its reference such as ``onfleet:<upload id>``;
    a QR code's text is at most ``MAX_QR_CHARS``; a PIN is checked by ``proof_add``."""
    if kind in (ProofKind.SIGNATURE, ProofKind.PHOTO):
        if outside and OUTSIDE_REF.match(data.strip()):
            return data.strip()
        return image_data_clean(data, what=ProofKind(kind).label.lower())
    if kind == ProofKind.QR and len(data.strip()) > MAX_QR_CHARS:
        raise InvalidInput(
            "the QR code's text is too long",
            [FieldError("data", f"at most {MAX_QR_CHARS} characters")],
        )
    return data


def proof_add(
    *, job: Job, kind: str, data: str, actor: Actor, now: datetime, outside: bool = False
) -> Proof:
    """Record a proof taken at the door (while the job is started or arrived).

    A PIN is checked against the job's (422 naming ``data`` when wrong, nothing stored) and
    stored as matched, never as the digits. A signature or photo must be a real PNG or
    JPEG picture (``proof_data_clean``: 422 naming ``data``; ``outside`` lets an outside
    system's reference through). Every proof keeps the SHA-256 of what was sent.
    """
    if kind not in ProofKind.values:
        raise InvalidInput(
            "unknown proof kind", [FieldError("kind", f"one of {', '.join(ProofKind.values)}")]
        )
    data = data if isinstance(data, str) else ""
    if not data.strip():
        raise InvalidInput("a proof needs its data", [FieldError("data", "must not be empty")])
    if len(data.encode()) > MAX_PROOF_BYTES:
        raise InvalidInput(
            "the proof is too large", [FieldError("data", f"at most {MAX_PROOF_BYTES} bytes")]
        )
    clean = proof_data_clean(kind, data, outside=outside)
    with transaction.atomic():
        fresh = _lock(job)
        if fresh.state not in PROOF_STATES:
            raise Conflict(
                f"job #{fresh.pk} is {fresh.state}; a proof is taken while it is "
                f"{' or '.join(PROOF_STATES)}",
                code=ErrorCode.INVALID_TRANSITION,
                errors=[FieldError("state", f"is {fresh.state}")],
            )
        stored = clean
        if kind == ProofKind.PIN:
            if not fresh.pin:
                raise InvalidInput(
                    "this job has no PIN", [FieldError("kind", "the job requires no PIN")]
                )
            if not hmac.compare_digest(data.strip().encode(), fresh.pin.encode()):
                raise InvalidInput(
                    "wrong PIN", [FieldError("data", "does not match the customer's PIN")]
                )
            stored = "matched"
        proof = Proof.objects.create(
            job=fresh,
            kind=kind,
            data=stored,
            content_hash=hashlib.sha256(data.encode()).hexdigest(),
            at=now,
            actor=actor,
        )
        fresh.updated_at = now
        fresh.save(update_fields=["updated_at"])
        _trail(fresh, JobEventKind.PROOF, actor=actor, now=now, proof=proof.pk, kind=kind)
    return proof


def proofs_missing(job: Job) -> list[str]:
    """The required proof kinds not taken yet, in the order the job lists them."""
    taken = set(Proof.objects.filter(job=job).values_list("kind", flat=True))
    return [kind for kind in job.required_proofs if kind not in taken]


def followup_due(*, team: Any, now: datetime) -> tuple[datetime, str]:
    """When the follow-up after a job is due, and why in words: the close of the
    ``FOLLOWUP_BUSINESS_DAYS``-th open day after ``now``'s local day, under the business
    hours of the policy that matches the team's follow-up loops (loops' rule); with none,
    the clock runs 24/7 and it is that many days later."""
    policy = loop_policy_match(kind=LoopKind.FOLLOWUP, team_id=team.pk)
    cal = calendar_for(policy)
    n = FOLLOWUP_BUSINESS_DAYS
    if cal.always_open:
        due = now + timedelta(days=n)
        return due, f"{n} days after completion (no business hours for {team.name}: 24/7)"
    due = _close_of_business_day(cal, now, n)
    hours = policy.business_hours if policy is not None else None
    zone = ZoneInfo(cal.tz)
    return due, (
        f"due {due.astimezone(zone):%a %d %b %H:%M %Z}: the close of the {_ordinal(n)} business day "
        f"after completion under '{hours}'"
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _close_of_business_day(cal: Calendar, now: datetime, n: int) -> datetime:
    """The closing instant of the n-th local day after ``now``'s that has open hours."""
    zone = ZoneInfo(cal.tz)
    day = now.astimezone(zone).date()
    seen = 0
    for _ in range(366):
        day += timedelta(days=1)
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
        spans = list(open_intervals(cal, start, end))
        if spans:
            seen += 1
            if seen == n:
                return spans[-1][1]
    raise ValueError("the calendar has no open day within a year")


def _invoice_of(job: Job, *, actor: Actor, now: datetime) -> dict[str, Any] | None:
    """Issue the job's invoice through invoices (source ``job:<id>``: once per job) and the
    summary the job keeps of it; none for a job with no lines."""
    lines = list(job.lines.all())
    if not lines:
        return None
    invoice = invoice_services.invoice_issue(
        source=f"job:{job.pk}",
        customer_id=job.customer_id,
        team_id=job.team_id,
        case_id=job.case_id,
        currency=lines[0].currency,
        lines=[
            invoice_services.LineIn(
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                currency=line.currency,
            )
            for line in lines
        ],
        actor=actor,
        now=now,
    )
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "total": invoice.total,
        "currency": invoice.currency,
        "pdf_url": pdf_url(invoice),
    }


def job_complete(*, job: Job, actor: Actor, now: datetime) -> Job:
    """Complete a job at the door (arrived → completed), with every required proof.

    In one transaction: the job is locked; a missing proof refuses it (409 ``proof_missing``
    naming each); the visit loop closes; a ``followup`` loop opens ("check the customer is
    happy", ``followup_due``); the invoice is issued from the job's lines (source
    ``job:<id>``, so the job is billed once); ``job.completed`` is told with the invoice
    and the follow-up loop.
    """
    with transaction.atomic():
        fresh = _step(job, "complete", now=now)
        missing = proofs_missing(fresh)
        if missing:
            raise ProofMissing(fresh, missing)
        fresh.completed_at = now
        visit = _open_loop(fresh.visit_loop_id)
        if visit is not None:
            loop_close(loop=visit, actor=actor, reason="proof of delivery taken", now=now)
        due, why = followup_due(team=fresh.team, now=now)
        fresh.followup_loop = loop_open(
            customer=fresh.customer,
            case=fresh.case,
            kind=LoopKind.FOLLOWUP,
            title=f"Check the customer is happy after the {JobKind(fresh.kind).label.lower()}",
            team=fresh.team,
            due_at=due,
            actor=actor,
            reason=why,
            now=now,
        )
        _changes_lapse(fresh, now=now)
        fresh.invoice = _invoice_of(fresh, actor=actor, now=now)
        fresh.save(
            update_fields=["state", "updated_at", "completed_at", "followup_loop", "invoice"]
        )
        _trail(
            fresh,
            JobEventKind.COMPLETED,
            actor=actor,
            now=now,
            invoice=(fresh.invoice or {}).get("number"),
            followup_loop=fresh.followup_loop.pk,
        )
        event_emit(
            "job.completed",
            job_event_data(fresh, invoice=fresh.invoice, followup_loop=fresh.followup_loop.pk),
            at=now,
        )
    return fresh


def job_fail(*, job: Job, reason: str, note: str = "", actor: Actor, now: datetime) -> Job:
    """The job could not be done (started or arrived → failed), for a structured reason.

    The visit loop is marked broken with the reason (the customer chooses a re-attempt,
    which is a new job); ``job.failed`` is told with the reason.
    """
    if reason not in FailReason.values:
        raise InvalidInput(
            "unknown reason", [FieldError("reason", f"one of {', '.join(FailReason.values)}")]
        )
    note = (note or "").strip()[:500]
    with transaction.atomic():
        fresh = _step(job, "fail", now=now)
        fresh.fail_reason = reason
        fresh.save(update_fields=["state", "updated_at", "fail_reason"])
        _changes_lapse(fresh, now=now)
        visit = _open_loop(fresh.visit_loop_id)
        words = FailReason(reason).label.lower() + (f": {note}" if note else "")
        if visit is not None:
            loop_break(loop=visit, actor=actor, reason=f"failed ({words})", now=now)
        _trail(fresh, JobEventKind.FAILED, actor=actor, now=now, reason=reason, note=note)
        event_emit("job.failed", job_event_data(fresh, reason=reason, note=note), at=now)
    return fresh


def job_cancel(*, job: Job, reason: str, actor: Actor, now: datetime) -> Job:
    """Cancel a scheduled job: its place in the slot is given back and its visit loop is
    cancelled with the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a job is cancelled with a reason", [FieldError("reason", "required")])
    with transaction.atomic():
        fresh = _step(job, "cancel", now=now)
        fresh.save(update_fields=["state", "updated_at"])
        visit = _open_loop(fresh.visit_loop_id)
        if visit is not None:
            loop_cancel(loop=visit, actor=actor, reason=reason[:500], now=now)
        _trail(fresh, JobEventKind.CANCELLED, actor=actor, now=now, reason=reason[:500])
        event_emit("job.cancelled", job_event_data(fresh, reason=reason[:500]), at=now)
    return fresh


# --- on site: changing the work with the customer's consent ---------------------------------

CHANGE_OPS = ("add", "split", "remove")
MAX_CHANGE_OPS = 50
MAX_SPLIT_PARTS = 10
# Where a change may be proposed and answered: at the door, with the customer.
CHANGE_STATES = (JobState.ARRIVED,)
CHANGE_REF = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def line_dict(line: JobLine) -> dict[str, Any]:
    """A job line as a change keeps it (before and after)."""
    return {
        "sku": line.sku,
        "description": line.description,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "currency": line.currency,
    }


def lines_total(lines: Sequence[dict[str, Any]]) -> int:
    return sum(int(line["quantity"]) * int(line["unit_price"]) for line in lines)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _line_in(
    raw: Any, where: str, *, currency: str, sku: str, errors: list[FieldError]
) -> dict[str, Any]:
    """One added line or split part, checked (each bad field named under ``where``)."""
    if not isinstance(raw, dict):
        errors.append(FieldError(where, "an object with description, quantity and unit_price"))
        return {}
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        errors.append(FieldError(f"{where}.description", "must not be empty"))
        description = ""
    elif len(description.strip()) > 300:
        errors.append(FieldError(f"{where}.description", "at most 300 characters"))
    q = raw.get("quantity", 1)
    if not _is_int(q) or q <= 0:
        errors.append(FieldError(f"{where}.quantity", "must be a whole number above 0"))
    elif q > MAX_QUANTITY:
        errors.append(FieldError(f"{where}.quantity", f"at most {MAX_QUANTITY}"))
    p = raw.get("unit_price")
    if not _is_int(p) or p < 0:
        errors.append(
            FieldError(f"{where}.unit_price", "must be 0 or more, in minor units (pence)")
        )
    elif p > MAX_UNIT_PRICE:
        errors.append(FieldError(f"{where}.unit_price", f"at most {MAX_UNIT_PRICE}"))
    own_sku = raw.get("sku", sku)
    if own_sku is None:
        own_sku = sku
    if not isinstance(own_sku, str) or len(own_sku.strip()) > 64:
        errors.append(FieldError(f"{where}.sku", "text of at most 64 characters"))
        own_sku = ""
    cur = raw.get("currency") or currency
    if not isinstance(cur, str) or not CURRENCY.match(cur):
        errors.append(FieldError(f"{where}.currency", "an ISO 4217 code such as GBP"))
    elif currency and cur != currency:
        errors.append(
            FieldError(f"{where}.currency", f"every line in one currency: {currency}, not {cur}")
        )
    return {
        "sku": own_sku.strip(),
        "description": description.strip(),
        "quantity": q,
        "unit_price": p,
        "currency": cur,
    }


def change_lines(
    before: Sequence[dict[str, Any]], ops: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The lines after ``ops`` and the change in words, from the lines ``before``.

    Each op names a line by its place in ``before`` (``line``, from 0), and a line is
    touched by one op at most: ``remove`` drops it, ``split`` puts two or more ``parts`` in
    its place (each with its own description, quantity and unit price; the SKU is the
    line's unless given), ``add`` puts a new line at the end. Prices are minor units in
    the job's one currency. InvalidInput names each bad field (``ops[0].parts[1].unit_price``).

    >>> before = [{"sku": "T", "description": "Test", "quantity": 1, "unit_price": 900,
    ...            "currency": "GBP"}]
    >>> after, words = change_lines(before, [{"op": "split", "line": 0, "parts": [
    ...     {"description": "Test, part 1", "unit_price": 500},
    ...     {"description": "Test, part 2", "unit_price": 400}]}])
    >>> [(a["description"], a["sku"], a["unit_price"]) for a in after], words
    ([('Test, part 1', 'T', 500), ('Test, part 2', 'T', 400)], ["split 'Test' into 2 parts"])
    """
    errors: list[FieldError] = []
    currency = before[0]["currency"] if before else ""
    if not isinstance(ops, list | tuple) or not ops:
        raise InvalidInput(
            "a change needs at least one op", [FieldError("ops", "must not be empty")]
        )
    if len(ops) > MAX_CHANGE_OPS:
        raise InvalidInput(
            "too many ops", [FieldError("ops", f"at most {MAX_CHANGE_OPS} in one change")]
        )
    replaced: dict[int, list[dict[str, Any]]] = {}
    added: list[dict[str, Any]] = []
    words: list[str] = []
    for i, op in enumerate(ops):
        where = f"ops[{i}]"
        if not isinstance(op, dict) or op.get("op") not in CHANGE_OPS:
            errors.append(FieldError(f"{where}.op", f"one of {', '.join(CHANGE_OPS)}"))
            continue
        kind = op["op"]
        if kind == "add":
            line = _line_in(op, where, currency=currency, sku="", errors=errors)
            if line:
                currency = currency or line["currency"]
                added.append(line)
                words.append(f"added {line['description']!r}")
            continue
        n = op.get("line")
        if not _is_int(n) or not 0 <= n < len(before):
            errors.append(
                FieldError(
                    f"{where}.line",
                    f"the place of a line of the job, from 0 to {len(before) - 1}"
                    if before
                    else "the job has no lines",
                )
            )
            continue
        if n in replaced:
            errors.append(FieldError(f"{where}.line", f"line {n} is changed by an earlier op"))
            continue
        old = before[n]
        if kind == "remove":
            replaced[n] = []
            words.append(f"removed {old['description']!r}")
            continue
        parts = op.get("parts")
        if not isinstance(parts, list) or not 2 <= len(parts) <= MAX_SPLIT_PARTS:
            errors.append(FieldError(f"{where}.parts", f"2 to {MAX_SPLIT_PARTS} parts"))
            continue
        replaced[n] = [
            _line_in(part, f"{where}.parts[{k}]", currency=currency, sku=old["sku"], errors=errors)
            for k, part in enumerate(parts)
        ]
        words.append(f"split {old['description']!r} into {len(parts)} parts")
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    after: list[dict[str, Any]] = []
    for n, line in enumerate(before):
        after += replaced.get(n, [dict(line)])
    after += added
    if len(after) > MAX_LINES:
        raise InvalidInput("too many lines", [FieldError("ops", f"at most {MAX_LINES} lines")])
    return after, words


def _change_of(job: Job, ref: str) -> JobChange:
    change = JobChange.objects.filter(job=job, ref=ref).first() if isinstance(ref, str) else None
    if change is None:
        raise NotFound(f"change {ref} of job {job.pk}")
    return change


def _on_site(job: Job, what: str) -> None:
    if job.state not in CHANGE_STATES:
        raise Conflict(
            f"job #{job.pk} is {job.state}; a change is {what} at the door, while it is "
            f"{' or '.join(CHANGE_STATES)}",
            code=ErrorCode.INVALID_TRANSITION,
            errors=[FieldError("state", f"is {job.state}, not {' or '.join(CHANGE_STATES)}")],
        )


def change_propose(
    *,
    job: Job,
    ops: Sequence[Any],
    ref: str | None = None,
    note: str = "",
    actor: Actor,
    now: datetime,
) -> JobChange:
    """Propose a change of the work at the door: what the customer is asked to accept.

    1. ``ref`` (chosen by the caller, or made here) and the ops are checked: 422 naming the
       field (``ops[0].parts[1].quantity``); nothing is written.
    2. In one transaction, the job locked: it must be arrived (409 ``invalid_transition``);
       the lines after are worked out from the job's lines now (``change_lines``); an
       earlier proposal still waiting is superseded; the change is written with the lines
       and totals before and after, and the trail gets a ``proposed`` event.

    The job's lines do not change until the customer accepts (``change_accept``). The same
    ``ref`` with the same ops again answers the change already proposed; with other ops it
    is a 409 naming ``ref``."""
    if ref is None:
        ref = secrets.token_urlsafe(9)
    if not isinstance(ref, str) or not CHANGE_REF.match(ref):
        raise InvalidInput(
            "bad change reference", [FieldError("ref", "1 to 64 letters, digits, - or _")]
        )
    if not isinstance(note, str) or len(note.strip()) > 500:
        raise InvalidInput("the note is too long", [FieldError("note", "at most 500 characters")])
    ops = list(ops) if isinstance(ops, list | tuple) else ops
    with transaction.atomic():
        fresh = _lock(job)
        existing = JobChange.objects.filter(job=fresh, ref=ref).first()
        if existing is not None:
            if existing.ops == ops:
                return existing
            raise Conflict(
                f"change {ref} of job #{fresh.pk} was proposed already with other ops",
                errors=[FieldError("ref", "used already for another change of this job")],
            )
        _on_site(fresh, "proposed")
        before = [line_dict(line) for line in fresh.lines.order_by("position")]
        after, words = change_lines(before, ops)
        currency = (after or before or [{"currency": ""}])[0]["currency"]
        superseded = list(
            JobChange.objects.filter(job=fresh, state=ChangeState.PROPOSED).values_list(
                "ref", flat=True
            )
        )
        JobChange.objects.filter(job=fresh, state=ChangeState.PROPOSED).update(
            state=ChangeState.SUPERSEDED, decided_at=now
        )
        change = JobChange.objects.create(
            job=fresh,
            ref=ref,
            ops=ops,
            before=before,
            after=after,
            currency=currency,
            total_before=lines_total(before),
            total_after=lines_total(after),
            note=note.strip(),
            proposed_at=now,
            proposed_by=actor,
        )
        fresh.updated_at = now
        fresh.save(update_fields=["updated_at"])
        _trail(
            fresh,
            JobEventKind.PROPOSED,
            actor=actor,
            now=now,
            change=ref,
            summary="; ".join(words),
            before=before,
            after=after,
            total_before=change.total_before,
            total_after=change.total_after,
            currency=currency,
            superseded=superseded,
        )
    return change


def change_accept(
    *, job: Job, ref: str, via: str, data: str, actor: Actor, now: datetime
) -> JobChange:
    """The customer accepts a proposed change, by a signature drawn on the driver's page or
    by reading their PIN: the job's lines become the change's.

    1. ``via`` is ``signature`` or ``pin`` and ``data`` is not empty (422 naming each).
    2. In one transaction, the job locked: a change accepted already is answered as it is
       (accepting twice changes nothing); a declined, superseded or lapsed one is a 409;
       the job must be arrived (409 ``invalid_transition``) and its lines still those the
       change was proposed on (409 naming ``ref``: propose again); a PIN is checked
       against the job's (422 naming ``data`` when wrong; a job without a PIN, naming
       ``via``), nothing written when refused.
    3. The lines are replaced by the change's; the change keeps the consent (the signature,
       or ``matched`` for a PIN) and its SHA-256; the trail gets a ``changed`` event with
       the lines and totals before and after and who accepted how; ``job.changed`` is told.
    """
    if via not in ConsentKind.values:
        raise InvalidInput(
            "how the customer accepts",
            [FieldError("via", f"one of {', '.join(ConsentKind.values)}")],
        )
    data = data if isinstance(data, str) else ""
    if not data.strip():
        raise InvalidInput(
            "the customer's consent needs its data",
            [FieldError("data", "the signature drawn, or the PIN the customer read")],
        )
    if len(data.encode()) > MAX_PROOF_BYTES:
        raise InvalidInput(
            "the signature is too large", [FieldError("data", f"at most {MAX_PROOF_BYTES} bytes")]
        )
    if via == ConsentKind.SIGNATURE:
        data = image_data_clean(data, what="signature")
    with transaction.atomic():
        fresh = _lock(job)
        change = _change_of(fresh, ref)
        if change.state == ChangeState.ACCEPTED:
            return change
        if change.state != ChangeState.PROPOSED:
            raise Conflict(
                f"change {ref} of job #{fresh.pk} is {change.get_state_display().lower()}; "
                "propose it again",
                errors=[FieldError("ref", f"is {change.state}, not proposed")],
            )
        _on_site(fresh, "accepted")
        lines = [line_dict(line) for line in fresh.lines.order_by("position")]
        if lines != change.before:
            raise Conflict(
                f"the lines of job #{fresh.pk} changed since change {ref} was proposed; "
                "propose it again",
                errors=[FieldError("ref", "proposed on lines that have changed since")],
            )
        stored = data
        if via == ConsentKind.PIN:
            if not fresh.pin:
                raise InvalidInput(
                    "this job has no PIN: the customer signs",
                    [FieldError("via", "the job has no PIN; use signature")],
                )
            if not hmac.compare_digest(data.strip().encode(), fresh.pin.encode()):
                raise InvalidInput(
                    "wrong PIN", [FieldError("data", "does not match the customer's PIN")]
                )
            stored = "matched"
        JobLine.objects.filter(job=fresh).delete()
        JobLine.objects.bulk_create(
            JobLine(job=fresh, position=i, **line) for i, line in enumerate(change.after)
        )
        change.state = ChangeState.ACCEPTED
        change.decided_at = now
        change.decided_by = actor
        change.consent = via
        change.consent_data = stored
        change.consent_hash = hashlib.sha256(data.encode()).hexdigest()
        change.save(
            update_fields=[
                "state",
                "decided_at",
                "decided_by",
                "consent",
                "consent_data",
                "consent_hash",
            ]
        )
        fresh.updated_at = now
        fresh.save(update_fields=["updated_at"])
        _trail(
            fresh,
            JobEventKind.CHANGED,
            actor=actor,
            now=now,
            change=ref,
            before=change.before,
            after=change.after,
            total_before=change.total_before,
            total_after=change.total_after,
            currency=change.currency,
            accepted_by="customer",
            via=via,
            consent_hash=change.consent_hash,
        )
        event_emit(
            "job.changed",
            job_event_data(
                fresh,
                change=ref,
                total_before=change.total_before,
                total_after=change.total_after,
                currency=change.currency,
                via=via,
            ),
            at=now,
        )
    return change


def change_decline(
    *, job: Job, ref: str, reason: str = "", actor: Actor, now: datetime
) -> JobChange:
    """The customer declines a proposed change: the job's lines stay as they are and the
    trail gets a ``declined`` event. Declining twice changes nothing; an accepted change
    cannot be declined (409)."""
    if not isinstance(reason, str) or len(reason.strip()) > 500:
        raise InvalidInput(
            "the reason is too long", [FieldError("reason", "at most 500 characters")]
        )
    with transaction.atomic():
        fresh = _lock(job)
        change = _change_of(fresh, ref)
        if change.state == ChangeState.DECLINED:
            return change
        if change.state != ChangeState.PROPOSED:
            raise Conflict(
                f"change {ref} of job #{fresh.pk} is {change.get_state_display().lower()}",
                errors=[FieldError("ref", f"is {change.state}, not proposed")],
            )
        change.state = ChangeState.DECLINED
        change.decided_at = now
        change.decided_by = actor
        change.decline_reason = reason.strip()
        change.save(update_fields=["state", "decided_at", "decided_by", "decline_reason"])
        _trail(
            fresh,
            JobEventKind.DECLINED,
            actor=actor,
            now=now,
            change=ref,
            reason=reason.strip(),
            total_before=change.total_before,
            total_after=change.total_after,
            currency=change.currency,
        )
    return change


def _changes_lapse(job: Job, *, now: datetime) -> None:
    """The proposals still waiting when the job ends lapse: they never reach the invoice."""
    JobChange.objects.filter(job=job, state=ChangeState.PROPOSED).update(
        state=ChangeState.LAPSED, decided_at=now
    )


# How long an Idempotency-Key is remembered: far longer than a phone stays offline.
IDEMPOTENCY_KEEP = timedelta(days=7)


def idempotent_answers_prune(*, now: datetime, keep: timedelta = IDEMPOTENCY_KEEP) -> int:
    """Forget the answers to keys older than ``keep`` (the worker runs it daily); how many.
    A key sent again after that runs as a new request."""
    deleted, _ = IdempotentAnswer.objects.filter(created_at__lt=now - keep).delete()
    return deleted
