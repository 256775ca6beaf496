"""Every write to journeys: templates, starting, completing steps, cancelling.

A journey's open steps are ``task`` loops on its case, opened and closed through the loops
services, so deadlines, escalation and the rule that a case with an open loop cannot be
solved apply to them unchanged. At any moment an active journey has at least one open
step (a step opens as soon as the steps it depends on are done), so while a journey is
active its case cannot be solved.

A step's loop closed anywhere (the console's "Mark done", the loops API) completes the
step, with the loop's close reason as the note; cancelling or breaking it outside the
journey is refused (cancel the journey, with a reason, instead).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction

from lastmile.core.errors import (
    Conflict,
    ErrorCode,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from lastmile.core.events import event_emit
from lastmile.core.instants import instant_parse
from lastmile.journeys import dag
from lastmile.journeys.definitions import TemplateSpec, template_export, template_parse
from lastmile.journeys.models import (
    CustomerAction,
    Journey,
    JourneyState,
    JourneyStep,
    JourneyTemplate,
    StepState,
    StepTemplate,
)
from lastmile.loops.business_time import add_business_time
from lastmile.loops.models import Loop, LoopEvent, LoopKind, LoopState
from lastmile.loops.services import calendar_for, loop_cancel, loop_close, loop_open, policy_match
from lastmile.people.models import Team
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Actor

NOTE_LIMIT = 2000
MAX_WINDOWS = 20
MAX_WINDOW = timedelta(hours=12)
MAX_AHEAD = timedelta(days=366)  # a visit is booked within the year
DATA_LIMIT = 4096  # bytes of JSON a step may carry (file reference, chosen slot …)
CLOSED_CASE = ("solved", "closed")


# --- templates -------------------------------------------------------------------------------


def _teams_by_slug(definition: Any) -> dict[str, Team]:
    slugs: set[str] = set()
    steps = definition.get("steps") if isinstance(definition, Mapping) else None
    for raw in steps if isinstance(steps, list) else []:
        if isinstance(raw, Mapping) and isinstance(raw.get("team"), str):
            slugs.add(raw["team"])
    return {t.slug: t for t in Team.objects.filter(slug__in=slugs)}


def template_check(*, definition: Any) -> TemplateSpec:
    """The definition checked (fields, teams, the DAG) without writing anything."""
    return template_parse(definition, teams=_teams_by_slug(definition))


def _may_define_templates(actor: Actor) -> None:
    # A template decides what every team does: admins (and integrations) only.
    if actor is not None and visible_team_ids(actor) is not None:
        raise PermissionDenied("only admins may define journey templates")


@transaction.atomic
def template_save(
    *, definition: Any, actor: Actor = None, now: datetime
) -> tuple[JourneyTemplate, str]:
    """Create or replace the template named by the definition's slug.

    Returns the template and what happened: ``created``, ``updated`` (version + 1) or
    ``unchanged`` (the same definition sent again writes nothing). Journeys already started
    keep the steps they were started with.
    """
    _may_define_templates(actor)
    spec = template_check(definition=definition)
    existing = JourneyTemplate.objects.select_for_update().filter(slug=spec.slug).first()
    clash = JourneyTemplate.objects.filter(name=spec.name).exclude(slug=spec.slug).first()
    if clash is not None:
        raise InvalidInput(
            f"name {spec.name!r} is taken by template {clash.slug!r}",
            [FieldError("name", f"already the name of template {clash.slug!r}")],
        )
    if existing is not None:
        if template_export(existing) == spec.as_dict():
            return existing, "unchanged"
        existing.name = spec.name
        existing.description = spec.description
        existing.active = spec.active
        existing.version += 1
        existing.updated_at = now
        existing.save(update_fields=["name", "description", "active", "version", "updated_at"])
        existing.steps.all().delete()
        template, outcome = existing, "updated"
    else:
        template = JourneyTemplate.objects.create(
            name=spec.name,
            slug=spec.slug,
            description=spec.description,
            active=spec.active,
            updated_at=now,
        )
        outcome = "created"
    StepTemplate.objects.bulk_create(
        StepTemplate(
            template=template,
            position=i,
            key=s.key,
            title=s.title,
            team=s.team,
            sla_minutes=s.sla_minutes,
            depends_on=s.depends_on,
            customer_visible=s.customer_visible,
            customer_performs=s.customer_performs,
            customer_action=s.customer_action,
            instructions=s.instructions,
            due_by_slot=s.due_by_slot,
        )
        for i, s in enumerate(spec.steps)
    )
    return template, outcome


# --- starting ----------------------------------------------------------------------------


def _graph(steps: list[JourneyStep]) -> dict[str, list[str]]:
    return {s.key: list(s.depends_on or []) for s in steps}


def _due_at(
    step: JourneyStep, *, now: datetime, slot_end: datetime | None = None
) -> datetime | None:
    """The end of the window the customer chose, for a step due by it (a visit is late
    only once its window is over); else ``sla_minutes`` in business time on the calendar of
    the owning team's task policy (24/7 when none matches); None lets that policy set the
    deadline on its own (also for a step due by a slot no window was chosen for)."""
    if step.due_by_slot:
        return slot_end
    if not step.sla_minutes:
        return None
    policy = policy_match(kind=LoopKind.TASK, team_id=step.team_id)
    return add_business_time(now, timedelta(minutes=step.sla_minutes), calendar_for(policy))


def _open_step(
    step: JourneyStep,
    *,
    journey: Journey,
    actor: Actor,
    now: datetime,
    slot_end: datetime | None = None,
) -> None:
    reason = f"journey step: {journey.name}"
    if step.handoff_note:
        reason = f"hand-off: {step.handoff_note}"
    step.loop = loop_open(
        customer=journey.case.customer,
        case=journey.case,
        kind=LoopKind.TASK,
        title=f"{step.title} ({journey.name})",
        team=step.team,
        due_at=_due_at(step, now=now, slot_end=slot_end),
        visible_to_customer=step.customer_visible,
        actor=actor,
        reason=reason[:500],
        now=now,
    )
    step.state = StepState.OPEN
    step.opened_at = now
    step.save(update_fields=["loop", "state", "opened_at", "handoff_note"])


def _handoff(steps: list[JourneyStep], step: JourneyStep) -> str:
    """The notes the steps before ``step`` left, each under the step's title and team."""
    by_key = {s.key: s for s in steps}
    parts = []
    for d in step.depends_on or []:
        before = by_key.get(d)
        if before is not None and before.note:
            who = before.team.name if before.team else "the case's team"
            parts.append(f"{before.title} ({who}): {before.note}")
    return "\n".join(parts)


def _open_ready(journey: Journey, steps: list[JourneyStep], *, actor: Actor, now: datetime) -> None:
    done = {s.key for s in steps if s.state == StepState.DONE}
    started = {s.key for s in steps if s.state != StepState.PENDING}
    by_key = {s.key: s for s in steps}
    for key in dag.ready_steps(_graph(steps), done=done, started=started):
        step = by_key[key]
        step.handoff_note = _handoff(steps, step)
        slot = by_key.get(step.due_by_slot) if step.due_by_slot else None
        slot_end = slot.slot_ends_at if slot is not None else None
        _open_step(step, journey=journey, actor=actor, now=now, slot_end=slot_end)


def _finish_journey_if_done(journey: Journey, steps: list[JourneyStep], *, now: datetime) -> None:
    if all(s.state == StepState.DONE for s in steps):
        journey.state = JourneyState.COMPLETED
        journey.completed_at = now
        journey.save(update_fields=["state", "completed_at"])
        event_emit("journey.completed", _event_data(journey), at=now)


def _event_data(journey: Journey, **extra: Any) -> dict[str, Any]:
    return {
        "journey": journey.pk,
        "template": journey.template.slug,
        "name": journey.name,
        "case": journey.case_id,
        "customer": journey.case.customer_id,
        "state": journey.state,
        **extra,
    }


def _note(note: str | None, *, field: str = "note") -> str:
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise InvalidInput(
            f"the note is longer than {NOTE_LIMIT} characters",
            [FieldError(field, f"at most {NOTE_LIMIT} characters")],
        )
    return note


@transaction.atomic
def journey_start(
    *,
    template: JourneyTemplate,
    case: Any,
    actor: Actor = None,
    now: datetime,
    linked: Mapping[str, Loop] | None = None,
    done_before: Mapping[str, str] | None = None,
) -> Journey:
    """Start ``template`` on ``case``: copy its steps, open a task loop for each ready step.

    Work already under way on the case is taken in, so nobody does it twice: ``linked``
    gives, per step key, the task loop already doing that step (closed: the step is done,
    its close reason the step's note; open: the step is open on that loop), and
    ``done_before`` the steps done with no loop, with a note saying how. A step taken in
    needs every step it depends on done. Then the steps whose dependencies are all done
    open, each with the hand-off notes of the steps before it.

    1. Refused on a solved or closed case, an inactive template, or when the same
       journey is already active on the case (the database enforces it too).
    2. One transaction: the journey, its steps and their loops, or nothing.
    """
    # Fresh rows: the caller's objects may predate a close or a status change.
    fresh_loops = Loop.objects.in_bulk([lp.pk for lp in (linked or {}).values()])
    linked = {k: fresh_loops[lp.pk] for k, lp in (linked or {}).items()}
    case.refresh_from_db(fields=["status"])
    done_before = {k: _note(v, field=f"done_before.{k}") for k, v in (done_before or {}).items()}
    if not template.active:
        raise Conflict(
            f"template {template.slug!r} is not active", code=ErrorCode.TEMPLATE_INACTIVE
        )
    if case.status in CLOSED_CASE:
        raise Conflict(
            f"{case.ref} is {case.status}: reopen it before starting a journey",
            code=ErrorCode.CASE_CLOSED,
        )
    specs = list(template.steps.select_related("team").order_by("position", "id"))
    if not specs:
        raise Conflict(f"template {template.slug!r} has no steps", code=ErrorCode.TEMPLATE_EMPTY)
    if Journey.objects.filter(case=case, template=template, state=JourneyState.ACTIVE).exists():
        raise Conflict(
            f"{template.name!r} is already under way on {case.ref}", code=ErrorCode.JOURNEY_ACTIVE
        )
    try:
        with transaction.atomic():
            journey = Journey.objects.create(
                template=template,
                template_version=template.version,
                name=template.name,
                case=case,
                started_by=actor,
                started_at=now,
            )
    except IntegrityError:
        raise Conflict(
            f"{template.name!r} is already under way on {case.ref}", code=ErrorCode.JOURNEY_ACTIVE
        ) from None
    steps = JourneyStep.objects.bulk_create(
        JourneyStep(
            journey=journey,
            position=i,
            key=s.key,
            title=s.title,
            team=s.team if s.team_id else case.team,
            sla_minutes=s.sla_minutes,
            depends_on=list(s.depends_on or []),
            customer_visible=s.customer_visible,
            customer_performs=s.customer_performs,
            customer_action=s.customer_action,
            instructions=s.instructions,
            due_by_slot=s.due_by_slot,
        )
        for i, s in enumerate(specs)
    )
    steps = list(journey.steps.select_related("team").order_by("position", "id"))
    _take_in(journey, steps, linked=linked, done_before=done_before, actor=actor, now=now)
    _open_ready(journey, steps, actor=actor, now=now)
    event_emit("journey.started", _event_data(journey), at=now)
    _finish_journey_if_done(journey, steps, now=now)
    return journey


def _take_in(
    journey: Journey,
    steps: list[JourneyStep],
    *,
    linked: dict[str, Loop],
    done_before: dict[str, str],
    actor: Actor,
    now: datetime,
) -> None:
    by_key = {s.key: s for s in steps}
    errors: list[FieldError] = []
    for key in list(linked) + list(done_before):
        if key not in by_key:
            where = "linked" if key in linked else "done_before"
            errors.append(FieldError(f"{where}.{key}", f'no step "{key}" in {journey.name!r}'))
    for key in set(linked) & set(done_before):
        errors.append(FieldError(f"done_before.{key}", "already given a loop in linked"))
    for key, loop in linked.items():
        if loop.case_id != journey.case_id or loop.kind != LoopKind.TASK:
            errors.append(FieldError(f"linked.{key}", f"loop #{loop.pk} is not a task on the case"))
        elif loop.state not in (LoopState.OPEN, LoopState.CLOSED):
            errors.append(FieldError(f"linked.{key}", f"loop #{loop.pk} is {loop.state}"))
        elif JourneyStep.objects.filter(loop=loop).exists():
            errors.append(FieldError(f"linked.{key}", f"loop #{loop.pk} is another step's"))
    taken = set(linked) | set(done_before)
    done = {k for k in taken if k in done_before or linked[k].state == LoopState.CLOSED}
    for key in taken:
        if key in by_key:
            waiting = [d for d in by_key[key].depends_on if d not in done]
            if waiting:
                where = "linked" if key in linked else "done_before"
                errors.append(
                    FieldError(f"{where}.{key}", f"waits for {', '.join(waiting)}, not done")
                )
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    for step in steps:  # in template order, so hand-off notes come from earlier steps
        if step.key in done_before:
            step.state = StepState.DONE
            step.note = done_before[step.key]
            step.completed_at = now
            # A customer's own step done before the journey was done by the customer.
            step.completed_by_customer = step.customer_performs
            step.completed_by = None if step.customer_performs else actor
        elif step.key in linked:
            loop = linked[step.key]
            step.loop = loop
            step.team_id = loop.team_id
            step.opened_at = loop.opened_at
            if loop.state == LoopState.CLOSED:
                closed = loop.events.filter(kind="closed").order_by("-at", "-id").first()
                step.state = StepState.DONE
                step.completed_at = loop.closed_at
                step.completed_by_id = closed.actor_id if closed else None
                step.note = (closed.reason if closed else "")[:NOTE_LIMIT]
            else:
                step.state = StepState.OPEN
        else:
            continue
        step.handoff_note = _handoff(steps, step)
        step.save()


# --- completing --------------------------------------------------------------------------


def _lock_loops(loop_ids: list[int]) -> None:
    """Lock loop rows before the journey row, in pk order.

    Closing a step's loop elsewhere (the console) locks the loop, then — through
    ``on_loop_event`` — the journey; taking them in the same order here means the two
    paths queue up instead of deadlocking.
    """
    if loop_ids:
        list(
            Loop.objects.select_for_update(of=("self",))
            .filter(pk__in=loop_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _lock(step: JourneyStep) -> tuple[Journey, list[JourneyStep], JourneyStep]:
    """The journey row locked (completions of one journey queue up), its steps fresh."""
    journey = (
        Journey.objects.select_for_update(of=("self",))
        .select_related("template", "case__customer")
        .get(pk=step.journey_id)
    )
    steps = list(journey.steps.select_related("team", "loop").order_by("position", "id"))
    fresh = next(s for s in steps if s.pk == step.pk)
    return journey, steps, fresh


def _check_open(journey: Journey, step: JourneyStep) -> None:
    if step.state != StepState.OPEN:
        raise Conflict(
            f"step {step.key!r} of {journey.name!r} is {step.get_state_display().lower()}, "
            "not open",
            code=ErrorCode.STEP_NOT_OPEN,
        )


def _data(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("data must be an object", [FieldError("data", "a JSON object")])
    try:
        size = len(json.dumps(data).encode())
    except (TypeError, ValueError):
        raise InvalidInput("data must be JSON", [FieldError("data", "JSON values only")]) from None
    if size > DATA_LIMIT:
        raise InvalidInput(
            "data is too large", [FieldError("data", f"at most {DATA_LIMIT} bytes of JSON")]
        )
    return data


def _complete(
    journey: Journey,
    steps: list[JourneyStep],
    step: JourneyStep,
    *,
    actor: Actor,
    by_customer: bool,
    note: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Mark ``step`` done, open what it unblocks, end the journey when nothing is left."""
    step.state = StepState.DONE
    step.note = note
    step.completed_at = now
    step.completed_by = actor
    step.completed_by_customer = by_customer
    step.data = {**(step.data or {}), **data}
    step.save(
        update_fields=[
            "state",
            "note",
            "completed_at",
            "completed_by",
            "completed_by_customer",
            "data",
        ]
    )
    event_emit(
        "journey.step_completed",
        _event_data(journey, step=step.key, title=step.title, by_customer=by_customer),
        at=now,
    )
    _open_ready(journey, steps, actor=actor, now=now)
    _finish_journey_if_done(journey, steps, now=now)


def _may_complete(actor: Actor, step: JourneyStep) -> None:
    if actor is None:
        return
    teams = visible_team_ids(actor)
    if teams is not None and step.team_id not in teams:
        owner = step.team.name if step.team else "no team"
        raise PermissionDenied(f"step {step.key!r} belongs to {owner}")


@transaction.atomic
def step_complete(
    *,
    step: JourneyStep,
    actor: Actor = None,
    note: str = "",
    data: Any = None,
    now: datetime,
) -> JourneyStep:
    """An agent of the owning team (or a system caller) finishes an open step.

    The note is the hand-off: it is required when other steps wait for this one, shown on
    each step it opens and recorded as the reason on their loops' "opened" events. The
    step's loop is closed with the note as its reason.
    """
    _lock_loops([step.loop_id] if step.loop_id else [])
    journey, steps, fresh = _lock(step)
    _check_open(journey, fresh)
    _may_complete(actor, fresh)
    note = _note(note)
    waiting = dag.dependents(_graph(steps), fresh.key)
    if waiting and not note:
        names = ", ".join(s.title for s in steps if s.key in waiting)
        raise InvalidInput(
            "write a hand-off note for the next team",
            [FieldError("note", f"required: {names} start(s) from it")],
        )
    payload = _data(data)
    if fresh.customer_action == CustomerAction.CHOOSE_SLOT and "slot" in payload:
        # The customer told the team (a call): still one of the windows offered.
        start, end = _chosen_window(fresh, payload["slot"], now=now)
        fresh.slot_starts_at, fresh.slot_ends_at = start, end
        payload["slot"] = _window_json(start, end)
    # Done before its loop closes, so the loop.closed subscriber knows it is handled.
    fresh.state = StepState.DONE
    fresh.save(update_fields=["state", "slot_starts_at", "slot_ends_at"])
    if fresh.loop is not None and fresh.loop.state == LoopState.OPEN:
        loop_close(loop=fresh.loop, actor=actor, reason=(note or "step done")[:500], now=now)
    _complete(
        journey, steps, fresh, actor=actor, by_customer=False, note=note, data=payload, now=now
    )
    return fresh


def _customer_payload(step: JourneyStep, data: Any, *, now: datetime) -> tuple[dict[str, Any], str]:
    """The customer's answer, checked for the step's action; and a note for the next team."""
    payload = _data(data)

    def text(name: str, limit: int) -> str:
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise InvalidInput(
                f"{name} is required",
                [FieldError(f"data.{name}", f"text, 1 to {limit} characters")],
            )
        return value.strip()

    if step.customer_action == CustomerAction.UPLOAD:
        ref = text("file", 500)
        given = payload.get("name")
        name = given if isinstance(given, str) else ""
        return {"file": ref, "name": name[:200]}, f"Customer uploaded {name or ref}."
    if step.customer_action == CustomerAction.CHOOSE_SLOT:
        start, end = _chosen_window(step, payload.get("slot"), now=now)
        step.slot_starts_at, step.slot_ends_at = start, end
        return {
            "slot": _window_json(start, end)
        }, f"Customer chose {window_words(step, start, end)}."
    if payload.get("confirmed") is not True:
        raise InvalidInput(
            "the customer must confirm", [FieldError("data.confirmed", "must be true")]
        )
    return {"confirmed": True}, "Customer confirmed."


# --- slots: windows the team offers, one the customer chooses ------------------------------


def _window_json(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.astimezone(UTC).isoformat(), "end": end.astimezone(UTC).isoformat()}


def step_windows(step: JourneyStep) -> list[tuple[datetime, datetime]]:
    """The windows offered on a choose_slot step, earliest first, as aware UTC datetimes."""
    return [
        (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
        for w in step.windows or []
    ]


def window_words(step: JourneyStep, start: datetime, end: datetime) -> str:
    """A window as people read it, in the zone it is offered in: "Wed 9 Dec, 10:00-12:00"."""
    zone = slot_zone(step)
    a, b = start.astimezone(zone), end.astimezone(zone)
    until = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%a} {b.day} {b:%b}, {b:%H:%M}"
    return f"{a:%a} {a.day} {a:%b}, {a:%H:%M}-{until} ({a.tzname()})"


def slot_zone(step: JourneyStep) -> ZoneInfo:
    """Where a step's windows are read and written: the customer's time zone, else the
    owning team's business hours (its task policy), else the site's."""
    names = [getattr(step.journey.case.customer, "timezone", "")]
    policy = policy_match(kind=LoopKind.TASK, team_id=step.team_id)
    if policy is not None and policy.business_hours is not None:
        names.append(policy.business_hours.timezone)
    names.append(settings.TIME_ZONE)
    for name in names:
        try:
            return ZoneInfo(name) if name else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def _instant(value: Any) -> datetime | None:
    """An aware datetime as given, or an ISO 8601 string with a time zone read by the one
    parser every edge uses (``instant_parse``); None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    try:
        return instant_parse(value)
    except ValueError:
        return None


def _chosen_window(step: JourneyStep, value: Any, *, now: datetime) -> tuple[datetime, datetime]:
    """The offered window ``value`` names ({"start", "end"}, ISO 8601 with an offset), or
    InvalidInput saying why not: free text, a window not offered, one already started."""
    start = end = None
    if isinstance(value, dict):
        start, end = _instant(value.get("start")), _instant(value.get("end"))
    if start is None or end is None:
        raise InvalidInput(
            "choose one of the times offered",
            [FieldError("data.slot", "one of the windows offered: {start, end} with a time zone")],
        )
    offered = step_windows(step)
    if (start, end) not in offered:
        raise InvalidInput(
            "this time was not offered",
            [FieldError("data.slot", "not one of the windows offered on this step")],
        )
    if start <= now:
        raise InvalidInput(
            "this time has already started; choose a later one",
            [FieldError("data.slot", "the window has started")],
        )
    return start, end


@transaction.atomic
def step_windows_offer(
    *, step: JourneyStep, windows: Any, actor: Actor = None, now: datetime
) -> JourneyStep:
    """The owning team offers the windows the customer chooses from on a choose_slot step
    (replacing those offered before), while the step is waiting or open.

    ``windows``: pairs of aware datetimes (start, end), each in the future but within a
    year, at most 12 hours long, no two the same; at most 20. A refusal writes nothing.
    """
    _lock_loops([step.loop_id] if step.loop_id else [])
    journey, steps, fresh = _lock(step)
    if fresh.customer_action != CustomerAction.CHOOSE_SLOT:
        raise Conflict(
            f"step {fresh.key!r} is not a choose_slot step", code=ErrorCode.NOT_A_SLOT_STEP
        )
    if not journey.is_active or fresh.state not in (StepState.PENDING, StepState.OPEN):
        raise Conflict(
            f"step {fresh.key!r} of {journey.name!r} is {fresh.get_state_display().lower()}: "
            "its windows can no longer change",
            code=ErrorCode.STEP_NOT_OPEN,
        )
    _may_complete(actor, fresh)
    pairs = list(windows) if isinstance(windows, list | tuple) else None
    if not pairs or len(pairs) > MAX_WINDOWS:
        raise InvalidInput(
            "offer at least one window", [FieldError("windows", f"1 to {MAX_WINDOWS} windows")]
        )
    errors: list[FieldError] = []
    seen: set[tuple[datetime, datetime]] = set()
    for i, pair in enumerate(pairs):
        at = f"windows[{i}]"
        start, end = (
            (_instant(pair[0]), _instant(pair[1]))
            if isinstance(pair, list | tuple) and len(pair) == 2
            else (None, None)
        )
        if start is None or end is None:
            errors.append(FieldError(at, "a start and an end, each with a time zone"))
        elif end <= start:
            errors.append(FieldError(at, "ends before it starts"))
        elif end - start > MAX_WINDOW:
            errors.append(FieldError(at, "at most 12 hours long"))
        elif start <= now:
            errors.append(FieldError(at, "starts in the past"))
        elif start - now > MAX_AHEAD:
            errors.append(FieldError(at, "more than a year ahead"))
        elif (start, end) in seen:
            errors.append(FieldError(at, "offered twice"))
        else:
            seen.add((start, end))
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    fresh.windows = [_window_json(a, b) for a, b in sorted(seen)]
    fresh.save(update_fields=["windows"])
    event_emit(
        "journey.step_windows_offered",
        _event_data(journey, step=fresh.key, windows=fresh.windows),
        at=now,
    )
    return fresh


@transaction.atomic
def step_complete_by_customer(
    *, step: JourneyStep, customer: Any, data: Any, now: datetime
) -> JourneyStep:
    """The customer performs their own step (from the portal): upload, choose a slot, confirm.

    Only the journey's customer, only a step they perform, only while it is open: anything
    else is the same 404 as a missing step. ``data`` by action: upload ``{"file": ref,
    "name"?}``, choose_slot ``{"slot": {"start": iso, "end": iso}}`` (one of the windows
    offered; its end is the deadline of the steps ``due_by_slot`` it), confirm
    ``{"confirmed": true}``.
    """
    _lock_loops([step.loop_id] if step.loop_id else [])
    journey, steps, fresh = _lock(step)
    owner = journey.case.customer
    customer_ids = {customer.pk, getattr(customer, "merged_into_id", None)}
    if owner.pk not in customer_ids or not fresh.customer_performs or not fresh.customer_visible:
        raise NotFound(f"step {step.key}")
    _check_open(journey, fresh)
    payload, note = _customer_payload(fresh, data, now=now)
    fresh.state = StepState.DONE
    fresh.save(update_fields=["state", "slot_starts_at", "slot_ends_at"])
    if fresh.loop is not None and fresh.loop.state == LoopState.OPEN:
        loop_close(loop=fresh.loop, actor=None, reason=f"by the customer: {note}"[:500], now=now)
    _complete(journey, steps, fresh, actor=None, by_customer=True, note=note, data=payload, now=now)
    return fresh


# --- cancelling --------------------------------------------------------------------------


@transaction.atomic
def journey_cancel(*, journey: Journey, reason: str, actor: Actor = None, now: datetime) -> Journey:
    """Stop a journey: every open step's loop is cancelled with the reason; nothing else opens."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "a journey is cancelled only with a reason", [FieldError("reason", "must not be empty")]
        )
    if len(reason) > 400:
        raise InvalidInput(
            "the reason is too long", [FieldError("reason", "at most 400 characters")]
        )
    _lock_loops(
        list(
            JourneyStep.objects.filter(
                journey_id=journey.pk, state=StepState.OPEN, loop__isnull=False
            ).values_list("loop_id", flat=True)
        )
    )
    fresh = (
        Journey.objects.select_for_update(of=("self",))
        .select_related("template", "case__customer")
        .get(pk=journey.pk)
    )
    if fresh.state != JourneyState.ACTIVE:
        raise Conflict(
            f"journey #{fresh.pk} is {fresh.state}, not active", code=ErrorCode.JOURNEY_NOT_ACTIVE
        )
    if actor is not None:
        teams = visible_team_ids(actor)
        if teams is not None and fresh.case.team_id not in teams:
            raise PermissionDenied(
                "only the case's team (or an admin) may cancel the journey on it"
            )
    for step in fresh.steps.select_related("loop").order_by("position", "id"):
        if step.state not in (StepState.OPEN, StepState.PENDING):
            continue
        was_open = step.state == StepState.OPEN
        step.state = StepState.CANCELLED
        step.cancelled_at = now
        step.save(update_fields=["state", "cancelled_at"])
        if was_open and step.loop is not None and step.loop.state == LoopState.OPEN:
            loop_cancel(loop=step.loop, actor=actor, reason=f"journey cancelled: {reason}", now=now)
    fresh.state = JourneyState.CANCELLED
    fresh.cancelled_at = now
    fresh.cancelled_by = actor
    fresh.cancelled_reason = reason
    fresh.save(update_fields=["state", "cancelled_at", "cancelled_by", "cancelled_reason"])
    event_emit("journey.cancelled", _event_data(fresh, reason=reason), at=now)
    return fresh


# --- loops changed outside the journey -------------------------------------------------------


def on_loop_event(name: str, data: dict[str, Any], at: datetime) -> None:
    """Keep a journey in step with its loops (subscribed in ``apps.ready``).

    Runs inside the transaction that changed the loop: completing the step here commits or
    rolls back with the close; raising refuses the cancel or break.
    """
    if name not in ("loop.closed", "loop.cancelled", "loop.broken") or data.get("kind") != "task":
        return
    loop_id = data.get("loop")
    if not isinstance(loop_id, int):
        return
    step = JourneyStep.objects.filter(loop_id=loop_id, state=StepState.OPEN).first()
    if step is None:
        return  # not a journey's loop, or the journey's own services are handling it
    if name != "loop.closed":
        raise Conflict(
            f"loop #{data.get('loop')} is step {step.key!r} of journey #{step.journey_id}: "
            "cancel the journey (with a reason) instead",
            code=ErrorCode.JOURNEY_STEP_LOOP,
        )
    journey, steps, fresh = _lock(step)
    event = LoopEvent.objects.filter(loop_id=loop_id, kind="closed").order_by("-at", "-id").first()
    actor = event.actor if event is not None else None
    note = (event.reason if event is not None else "")[:NOTE_LIMIT]
    _complete(journey, steps, fresh, actor=actor, by_customer=False, note=note, data={}, now=at)
