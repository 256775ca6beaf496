"""Every write to loops: open, close, pause, resume, reassign, cancel, and the sweeper.

Deadlines: a loop's SLA is a number of business seconds (``sla_seconds``) on a calendar.
The clock runs from ``clock_started_at`` with ``consumed_seconds`` already used; pausing
banks what was used and stops the clock, resuming restarts it. ``due_at`` (100 %) and
``next_check_at`` (the next rung of the escalation ladder) are stored and indexed, and
recomputed here whenever those inputs change; so is ``at_risk_at`` (``loop_at_risk_at``),
whenever ``due_at`` or the escalation level changes.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime

from lastmile.cases.services import case_loops_moved_record
from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.audit import audited_delete, audited_save
from lastmile.core.db import rows_insert, rows_update, unprepared
from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.core.events import event_emit, event_emit_many
from lastmile.loops.business_time import Calendar, add_business_time, business_time_between
from lastmile.loops.models import (
    TEAM_OWN_KINDS,
    BusinessHours,
    Loop,
    LoopEvent,
    LoopEventKind,
    LoopKind,
    LoopState,
    SlaPolicy,
    SlaTarget,
)
from lastmile.people.models import Team
from lastmile.people.selectors import assignee_check
from lastmile.people.viewers import Actor

ACTIONS = ("notify_owner", "notify_lead", "breach", "reassign_to_lead")
MAX_DUE = timedelta(days=3660)
DEFAULT_LADDER: list[dict[str, Any]] = [
    {"at": 75, "action": "notify_owner"},
    {"at": 100, "action": "breach"},
]


def ladder_validate(rungs: Any) -> list[dict[str, Any]]:
    """A ladder as stored on a policy, checked; raises InvalidInput naming the bad rung."""
    if not isinstance(rungs, list):
        raise InvalidInput(
            "escalation must be a list", [FieldError("escalation", "a list of rungs")]
        )
    out = []
    for i, rung in enumerate(rungs):
        if not isinstance(rung, dict) or rung.get("action") not in ACTIONS:
            raise InvalidInput(
                "bad escalation rung",
                [FieldError(f"escalation[{i}].action", f"one of {', '.join(ACTIONS)}")],
            )
        at = rung.get("at")
        if not isinstance(at, int | float) or isinstance(at, bool) or not 0 < at <= 1000:
            raise InvalidInput(
                "bad escalation rung",
                [FieldError(f"escalation[{i}].at", "a percentage of the SLA, 1 to 1000")],
            )
        out.append({"at": at, "action": rung["action"]})
    return out


def ladder_of(policy: SlaPolicy | None) -> list[dict[str, Any]]:
    """The policy's ladder in order, always with a breach rung at 100 %."""
    rungs = (
        list(policy.escalation)
        if policy is not None and policy.escalation
        else list(DEFAULT_LADDER)
    )
    if not any(r.get("action") == "breach" for r in rungs):
        rungs.append({"at": 100, "action": "breach"})
    return sorted(rungs, key=lambda r: (r["at"], r["action"] != "breach"))


def business_hours_check(hours: BusinessHours) -> None:
    """Opening hours that make a calendar with at least one open day; InvalidInput otherwise."""
    try:
        cal = hours.calendar()
    except ValueError as exc:
        raise InvalidInput(str(exc), [FieldError("weekly", str(exc))]) from None
    if not cal.has_open_hours:
        raise InvalidInput(
            "give at least one day with opening hours "
            "(leave the policy's business hours empty for 24/7)",
            [FieldError("weekly", "no open hours")],
        )


def business_hours_save(
    *, hours: BusinessHours, actor: Actor, now: datetime, actor_label: str = ""
) -> BusinessHours:
    """Create or change business hours (checked first) and write the audit row with it."""
    business_hours_check(hours)
    audited_save(hours, actor=actor, now=now, actor_label=actor_label)
    return hours


def business_hours_delete(
    *, hours: BusinessHours, actor: Actor, now: datetime, actor_label: str = ""
) -> None:
    """Delete business hours no policy uses (the PROTECT foreign key refuses otherwise)."""
    audited_delete(hours, actor=actor, now=now, actor_label=actor_label)


def sla_policy_save(
    *, policy: SlaPolicy, actor: Actor, now: datetime, actor_label: str = ""
) -> SlaPolicy:
    """Create or change an SLA policy and write the audit row with it.

    The escalation ladder is checked first (InvalidInput names the bad rung; nothing is
    written). Loops already open keep the deadline they were given.
    """
    policy.escalation = ladder_validate(policy.escalation or [])
    audited_save(policy, actor=actor, now=now, actor_label=actor_label)
    return policy


def sla_policy_delete(
    *, policy: SlaPolicy, actor: Actor, now: datetime, actor_label: str = ""
) -> None:
    audited_delete(policy, actor=actor, now=now, actor_label=actor_label)


def escalation_ladder_save(
    *, policy: SlaPolicy, rungs: Any, actor: Actor, now: datetime, actor_label: str = ""
) -> SlaPolicy:
    """Give ``policy`` this escalation ladder (stored on the policy, ``escalation``), checked;
    the audit row holds the ladder before and after."""
    policy.escalation = ladder_validate(rungs)
    audited_save(policy, actor=actor, now=now, actor_label=actor_label, fields=["escalation"])
    return policy


@lru_cache(maxsize=256)
def _calendar(tz: str, weekly_json: str, country: str, subdiv: str, extra_json: str) -> Calendar:
    return Calendar.from_config(
        tz=tz,
        weekly=json.loads(weekly_json),
        holiday_country=country or None,
        holiday_subdiv=subdiv or None,
        extra_holidays=json.loads(extra_json),
    )


def calendar_of(loop: Loop) -> Calendar:
    """The calendar the loop's clock runs on: its policy's business hours, else 24/7."""
    return calendar_for(loop.sla_policy, fixed=loop.due_at_fixed)


def calendar_for(policy: SlaPolicy | None, *, fixed: bool = False) -> Calendar:
    if fixed or policy is None or policy.business_hours is None:
        return Calendar.twenty_four_seven()
    bh = policy.business_hours
    return _calendar(
        bh.timezone,
        json.dumps(bh.weekly, sort_keys=True),
        bh.holiday_country,
        bh.holiday_subdiv,
        json.dumps(sorted(bh.extra_holidays or [])),
    )


def policy_match(
    *,
    kind: str,
    channel: str = "",
    priority: str = "",
    team_id: int | None = None,
    influence: float | None = None,
    sentiment: str = "",
) -> SlaPolicy | None:
    """The first active policy, in position order, whose every set condition matches
    (:func:`policy_pick` over :func:`policies_active`)."""
    return policy_pick(
        policies_active(),
        kind=kind,
        channel=channel,
        priority=priority,
        team_id=team_id,
        influence=influence,
        sentiment=sentiment,
    )


def policies_active() -> list[SlaPolicy]:
    """The active policies in position order, with their business hours."""
    return list(SlaPolicy.objects.filter(active=True).select_related("business_hours"))


def policy_pick(
    policies: Sequence[SlaPolicy],
    *,
    kind: str,
    channel: str = "",
    priority: str = "",
    team_id: int | None = None,
    influence: float | None = None,
    sentiment: str = "",
) -> SlaPolicy | None:
    """The first of ``policies`` (active ones, in position order) whose every set condition
    matches.

    ``influence`` and ``sentiment`` describe a social mention (its author's influence, 0-100,
    and its sentiment label); a policy that sets ``min_influence`` or ``sentiment`` matches
    only a loop that has them, so an influential negative mention can get a tighter deadline
    than the rest.
    """
    for policy in policies:
        if policy.kind and policy.kind != kind:
            continue
        if policy.channel:
            if policy.channel == "social":
                if not channel.startswith("social"):
                    continue
            elif policy.channel != channel:
                continue
        if policy.priority and policy.priority != priority:
            continue
        if policy.team_id and policy.team_id != team_id:
            continue
        if policy.min_influence is not None and (
            influence is None or influence < policy.min_influence
        ):
            continue
        if policy.sentiment and policy.sentiment != sentiment:
            continue
        return policy
    return None


def _rung_time(loop: Loop | DueLoop, cal: Calendar, percent: float) -> datetime:
    assert loop.sla_seconds is not None
    needed = loop.sla_seconds * percent / 100 - loop.consumed_seconds
    if needed <= 0:
        return loop.clock_started_at
    return add_business_time(loop.clock_started_at, timedelta(seconds=round(needed)), cal)


# The at_risk_at of a loop that is at risk whatever the time (it escalated): the earliest
# moment there is, so "at_risk_at <= now" holds for every now.
AT_RISK_ALWAYS = datetime.min.replace(tzinfo=UTC)


def at_risk_from(
    *, opened_at: datetime, due_at: datetime | None, escalated: bool
) -> datetime | None:
    """The first moment an open, unpaused loop counts as at risk or worse: ``at_risk_at``.

    ``loops.selectors.loop_sla_state`` says at risk once the loop escalated, or once less than
    a quarter of the time from opening to the deadline is left: ``4 * (due - now) < span``
    in whole microseconds, that is ``now >= due - ceil(span / 4) + 1 µs``. Escalated: always
    (``AT_RISK_ALWAYS``). No time to divide (a deadline not after the opening): the deadline
    itself, when it is breached anyway. No deadline: None. Never later than the deadline,
    which the inbox's counts rely on (``loop_state_counts``).
    """
    if due_at is None:
        return None
    if escalated:
        return AT_RISK_ALWAYS
    span = due_at - opened_at
    if span <= timedelta(0):
        return due_at
    micros = (span.days * 86400 + span.seconds) * 1_000_000 + span.microseconds
    return due_at - timedelta(microseconds=-(-micros // 4) - 1)


def loop_at_risk_at(loop: Loop) -> datetime | None:
    """``at_risk_from`` of the loop as it stands (breached counts as escalated)."""
    return at_risk_from(
        opened_at=loop.opened_at,
        due_at=loop.due_at,
        escalated=loop.escalation_level > 0 or loop.breached_at is not None,
    )


def loop_schedule(loop: Loop) -> None:
    """Recompute due_at, at_risk_at and next_check_at from the clock (not while paused: then
    none). Unsaved: the caller saves (or, for a batch, ``loops_insert`` inserts) the loop."""
    if loop.sla_seconds is None or loop.paused_at is not None:
        loop.due_at = None
        loop.at_risk_at = None
        loop.next_check_at = None
        return
    cal = calendar_of(loop)
    loop.due_at = _rung_time(loop, cal, 100)
    loop.at_risk_at = loop_at_risk_at(loop)
    ladder = ladder_of(loop.sla_policy)
    loop.next_check_at = (
        _rung_time(loop, cal, ladder[loop.escalation_level]["at"])
        if loop.escalation_level < len(ladder)
        else None
    )


def loop_sla_set(loop: Loop, *, policy: SlaPolicy | None, target: str) -> None:
    """The loop's SLA under ``policy`` for ``target``: none when there is no policy or the
    policy sets no time for that target (never an invented deadline). Unsaved."""
    minutes = policy.minutes_for(target) if policy is not None else None
    loop.sla_policy = policy
    loop.sla_target = target
    loop.sla_seconds = minutes * 60 if minutes is not None else None


def loop_opened_data(loop: Loop) -> dict[str, Any]:
    """The data of a loop's ``opened`` LoopEvent: its deadline and the policy that set it."""
    return {
        "due_at": loop.due_at.isoformat() if loop.due_at else None,
        "policy": loop.sla_policy.name if loop.sla_policy else None,
    }


def loop_finish_unsaved(loop: Loop, *, state: str, now: datetime) -> datetime:
    """Mark an open loop finished (closed, cancelled, broken) at ``now``, never before it
    opened; the time it finished. Unsaved: the caller saves or inserts it."""
    at = max(now, loop.opened_at)
    loop.state = state
    loop.closed_at = at
    loop.next_check_at = None
    return at


def loop_open(
    *,
    customer: Any,
    kind: str,
    title: str,
    now: datetime,
    case: Any = None,
    team: Any = None,
    assignee: Any = None,
    channel: str = "",
    priority: str = "",
    sla_target: str | None = None,
    due_at: datetime | None = None,
    visible_to_customer: bool = False,
    actor: Actor = None,
    reason: str = "",
    opened_by: Any = None,
    influence: float | None = None,
    sentiment: str = "",
) -> Loop:
    """Open a loop; its deadline comes from ``due_at`` or the first matching SLA policy.

    No matching policy (or a policy with no target for this loop) means no deadline, and
    the loop says so — never an invented one. ``influence`` and ``sentiment`` (of a social
    mention) take part in the policy match only. With no customer and no case, the loop is
    a team's own (an alert's acknowledgement, a coaching, a pay dispute): a kind in
    ``TEAM_OWN_KINDS``, a team, never customer-visible.
    """
    if kind not in LoopKind.values:
        raise InvalidInput(
            f"unknown loop kind {kind!r}",
            [FieldError("kind", f"one of {', '.join(LoopKind.values)}")],
        )
    title = (title or "").strip()
    if not title:
        raise InvalidInput("a loop needs a title", [FieldError("title", "must not be empty")])
    if sla_target is not None and sla_target not in SlaTarget.values:
        raise InvalidInput(
            "unknown SLA target",
            [FieldError("sla_target", f"one of {', '.join(SlaTarget.values)}")],
        )
    if due_at is not None and due_at <= now:
        raise InvalidInput(
            "due_at is in the past", [FieldError("due_at", "must be later than now")]
        )
    if due_at is not None and due_at > now + MAX_DUE:
        raise InvalidInput(
            "due_at is too far ahead", [FieldError("due_at", "at most 10 years from now")]
        )
    if case is not None:
        team = team if team is not None else case.team
        channel = channel or case.channel
        priority = priority or case.priority
        customer = case.customer
    if customer is None:
        _team_loop_check(kind=kind, team=team, visible_to_customer=visible_to_customer)
    loop = Loop(
        customer=customer,
        case=case,
        kind=kind,
        title=title[:300],
        team=team,
        assignee=assignee,
        channel=channel,
        visible_to_customer=visible_to_customer,
        opened_at=now,
        clock_started_at=now,
        opened_by=opened_by,
    )
    if due_at is not None:
        loop.due_at_fixed = True
        loop.sla_seconds = max(1, round((due_at - now).total_seconds()))
    else:
        target = sla_target or (
            SlaTarget.FIRST_REPLY if kind == LoopKind.REPLY else SlaTarget.RESOLUTION
        )
        policy = policy_match(
            kind=kind,
            channel=channel,
            priority=priority,
            team_id=team.pk if team else None,
            influence=influence,
            sentiment=sentiment,
        )
        loop_sla_set(loop, policy=policy, target=target)
    loop_schedule(loop)
    if due_at is not None:
        loop.due_at = due_at  # exactly as given (sla_seconds is whole seconds)
        loop.at_risk_at = loop_at_risk_at(loop)
    with transaction.atomic():
        loop.save()
        LoopEvent.objects.create(
            loop=loop,
            kind=LoopEventKind.OPENED,
            at=now,
            actor=actor,
            reason=reason,
            data=loop_opened_data(loop),
        )
        event_emit("loop.opened", loop_event_data(loop), at=now)
    return loop


def _team_loop_check(*, kind: str, team: Any, visible_to_customer: bool) -> None:
    """A loop with no customer is a team's own loop (``loop_team_own``, ``TEAM_OWN_KINDS``)."""
    errors = []
    if kind not in TEAM_OWN_KINDS:
        errors.append(FieldError("customer", f"a {kind} loop is owed to a customer: give one"))
    if team is None:
        errors.append(FieldError("team", "a loop without a customer belongs to a team"))
    if visible_to_customer:
        errors.append(FieldError("visible_to_customer", "a team's own loop has no customer"))
    if errors:
        raise InvalidInput("a loop without a customer is a team's own loop", errors)


def _claim_open(loop: Loop) -> Loop:
    """The loop's row, locked for this transaction; Conflict unless it is open."""
    fresh = (
        Loop.objects.select_for_update(of=("self",))
        .select_related("sla_policy__business_hours", "team")
        .get(pk=loop.pk)
    )
    if fresh.state != LoopState.OPEN:
        raise Conflict(f"loop #{fresh.pk} is {fresh.state}, not open", code=ErrorCode.LOOP_NOT_OPEN)
    return fresh


def _finish(
    *, loop: Loop, state: str, event: str, actor: Actor, reason: str, now: datetime
) -> Loop:
    with transaction.atomic():
        fresh = _claim_open(loop)
        at = loop_finish_unsaved(fresh, state=state, now=now)
        fresh.save(update_fields=["state", "closed_at", "next_check_at"])
        LoopEvent.objects.create(loop=fresh, kind=event, at=at, actor=actor, reason=reason)
        event_emit(f"loop.{state}", loop_event_data(fresh, reason=reason), at=at)
    return fresh


def loop_event_data(loop: Loop | DueLoop, **extra: Any) -> dict[str, Any]:
    """The data of a ``loop.*`` domain event, as subscribers (webhooks, …) receive it."""
    return {
        "loop": loop.pk,
        "kind": loop.kind,
        "title": loop.title,
        "state": loop.state,
        "customer": loop.customer_id,
        "case": loop.case_id,
        "team": loop.team_id,
        "assignee": loop.assignee_id,
        "due_at": loop.due_at.isoformat() if loop.due_at else None,
        **extra,
    }


@dataclass
class LoopEventIn:
    """One LoopEvent for :func:`loops_insert`, on one of the loops it writes."""

    loop: Loop
    kind: str
    at: datetime
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    actor: Actor = None


def loops_insert(*, loops: Sequence[Loop], events: Sequence[LoopEventIn]) -> list[int]:
    """Write loops built in memory (with ``loop_schedule``, ``loop_sla_set``, …) and their
    events, one multi-row INSERT each; the loops' ids, in order (also set on them).

    For ``reactions.loops_react_to_interactions``, which opens (and closes) a batch's reply
    loops in memory and tells the domain-event subscribers once the rows are written. All or
    nothing: inside the caller's transaction when there is one (no savepoint of its own: a
    batch's query count stays flat), else in its own.
    """
    if not loops:
        return []
    with transaction.atomic(savepoint=False):
        pks = rows_insert(Loop, list(loops), returning=True)
        for loop, pk in zip(loops, pks, strict=True):
            loop.pk = pk
        rows_insert(
            LoopEvent,
            [
                {
                    "loop_id": e.loop.pk,
                    "kind": e.kind,
                    "at": e.at,
                    "reason": e.reason,
                    "data": e.data,
                    "actor_id": e.actor.pk if e.actor is not None else None,
                }
                for e in events
            ],
        )
    return list(pks)


# Why a person closes a reply loop without replying (the console offers these; the API and
# the admin may write any reason, but not none).
REPLY_CLOSE_REASONS = ("answered elsewhere", "duplicate", "spam", "no reply needed")


def loop_close(*, loop: Loop, actor: Actor = None, reason: str = "", now: datetime) -> Loop:
    """Close an open loop (the obligation is met).

    Closing an open reply loop needs a reason, shown in the loop's trail, whoever closes it
    (a person, an integration's token through the API, the admin's action, the system): only
    the reply itself closes it without being asked, and it passes its own ("replied on …").
    """
    if loop.kind == LoopKind.REPLY and loop.state == LoopState.OPEN and not (reason or "").strip():
        raise InvalidInput(
            "closing a reply loop without replying needs a reason: "
            + ", ".join(REPLY_CLOSE_REASONS)
            + ", or your own words",
            [FieldError("reason", "required to close a reply loop")],
        )
    return _finish(
        loop=loop,
        state=LoopState.CLOSED,
        event=LoopEventKind.CLOSED,
        actor=actor,
        reason=reason,
        now=now,
    )


def loop_cancel(*, loop: Loop, actor: Actor = None, reason: str, now: datetime) -> Loop:
    """Cancel an open loop (no longer owed); a reason is required."""
    return _finish_with_reason(
        loop, LoopState.CANCELLED, LoopEventKind.CANCELLED, actor, reason, now
    )


def loop_break(*, loop: Loop, actor: Actor = None, reason: str, now: datetime) -> Loop:
    """Mark an open loop broken (owed but will not be met); a reason is required."""
    return _finish_with_reason(loop, LoopState.BROKEN, LoopEventKind.BROKEN, actor, reason, now)


def _finish_with_reason(
    loop: Loop, state: str, event: str, actor: Actor, reason: str, now: datetime
) -> Loop:
    if not (reason or "").strip():
        raise InvalidInput(
            f"a loop is {state} only with a reason", [FieldError("reason", "must not be empty")]
        )
    return _finish(loop=loop, state=state, event=event, actor=actor, reason=reason, now=now)


def loop_pause(*, loop: Loop, actor: Actor = None, reason: str = "", now: datetime) -> Loop:
    """Stop the clock (e.g. waiting on the customer); the used business time is banked."""
    with transaction.atomic():
        fresh = _claim_open(loop)
        if fresh.paused_at is not None:
            raise Conflict(f"loop #{fresh.pk} is already paused", code=ErrorCode.LOOP_PAUSED)
        if fresh.due_at is not None and fresh.due_at <= now:
            # Stopping the clock after the deadline would hide the breach.
            raise Conflict(
                f"loop #{fresh.pk} is overdue since {fresh.due_at:%Y-%m-%d %H:%M %Z}; "
                "an overdue loop cannot be paused",
                code=ErrorCode.LOOP_OVERDUE,
            )
        at = max(now, fresh.clock_started_at)
        if fresh.sla_seconds is not None:
            used = business_time_between(fresh.clock_started_at, at, calendar_of(fresh))
            fresh.consumed_seconds += round(used.total_seconds())
        fresh.paused_at = at
        fresh.pause_reason = (reason or "")[:200]
        loop_schedule(fresh)
        fresh.save(
            update_fields=[
                "consumed_seconds",
                "paused_at",
                "pause_reason",
                "due_at",
                "at_risk_at",
                "next_check_at",
            ]
        )
        LoopEvent.objects.create(
            loop=fresh, kind=LoopEventKind.PAUSED, at=at, actor=actor, reason=reason
        )
    return fresh


def loop_resume(*, loop: Loop, actor: Actor = None, reason: str = "", now: datetime) -> Loop:
    """Restart the clock; the deadline moves by the time spent paused (in business time)."""
    with transaction.atomic():
        fresh = _claim_open(loop)
        if fresh.paused_at is None:
            raise Conflict(f"loop #{fresh.pk} is not paused", code=ErrorCode.LOOP_NOT_PAUSED)
        at = max(now, fresh.paused_at)
        fresh.paused_seconds += round((at - fresh.paused_at).total_seconds())
        fresh.paused_at = None
        fresh.clock_started_at = at
        loop_schedule(fresh)
        fresh.save(
            update_fields=[
                "paused_seconds",
                "paused_at",
                "clock_started_at",
                "due_at",
                "at_risk_at",
                "next_check_at",
            ]
        )
        LoopEvent.objects.create(
            loop=fresh, kind=LoopEventKind.RESUMED, at=at, actor=actor, reason=reason
        )
    return fresh


def loop_reassign(
    *,
    loop: Loop,
    team: Any = None,
    assignee: Any = None,
    actor: Actor = None,
    reason: str = "",
    now: datetime,
) -> Loop:
    """Give the loop to another team and/or agent; the deadline stays. The agent must be in
    the loop's (new) team, as for a case (``assignee_check``).

    A change is told as the internal event ``loop.assigned`` (``loop_event_data``, with
    ``before``: the team and assignee it had, and the ``actor``'s id), as a case's is
    ``case.assigned``: the live app tells the new assignee."""
    with transaction.atomic():
        fresh = _claim_open(loop)
        before = {"team": fresh.team_id, "assignee": fresh.assignee_id}
        if team is not None:
            fresh.team = team
        assignee_check(assignee=assignee, team=fresh.team)
        fresh.assignee = assignee
        fresh.save(update_fields=["team", "assignee"])
        after = {"team": fresh.team_id, "assignee": fresh.assignee_id}
        LoopEvent.objects.create(
            loop=fresh,
            kind=LoopEventKind.REASSIGNED,
            at=now,
            actor=actor,
            reason=reason,
            data={"from": before, "to": after},
        )
        if after != before:
            event_emit(
                "loop.assigned",
                loop_event_data(
                    fresh, before=before, actor=actor.pk if actor is not None else None
                ),
                at=now,
                internal=True,
            )
    return fresh


def loops_follow_case(
    *, case: Any, from_team: Any, team: Any, actor: Actor = None, now: datetime
) -> list[Loop]:
    """A case moved from ``from_team`` to ``team``: its open loops that ``from_team`` held
    move with it (as a group move does in Zendesk), so the new team has the case's reply
    loop in its inbox and the old team no longer holds it. Each goes through
    :func:`loop_reassign` (its trail and ``loop.assigned`` say so, with the actor); its
    assignee stays if they are in ``team``, else it is unassigned. Loops of other teams on
    the case (a back-office task) stay. The case's history names the loops moved."""
    if from_team is None or team is None or from_team.pk == team.pk:
        return []
    moved = []
    loops = (
        Loop.objects.filter(case=case, team=from_team, state=LoopState.OPEN)
        .select_related("assignee")
        .order_by("pk")
    )
    for loop in loops:
        assignee = loop.assignee
        try:
            assignee_check(assignee=assignee, team=team)
        except InvalidInput:
            assignee = None
        moved.append(
            loop_reassign(
                loop=loop,
                team=team,
                assignee=assignee,
                actor=actor,
                reason=f"moved with case {case.ref} to {team.name}",
                now=now,
            )
        )
    if moved:
        case_loops_moved_record(
            case=case, team=team, loops=[lp.pk for lp in moved], actor=actor, now=now
        )
    return moved


# --- the sweeper -------------------------------------------------------------------------


@dataclass
class SweepResult:
    loops: int = 0
    rungs: int = 0
    breached: int = 0
    notifications: int = 0
    batches: int = 0
    actions: dict[str, int] = field(default_factory=dict)


def loops_sweep(
    *, now: datetime, batch_size: int = 2000, max_batches: int | None = None
) -> SweepResult:
    """Run the escalation ladder over every loop whose next rung is due.

    1. Claim up to ``batch_size`` due loops and read them in the same statement — on
       PostgreSQL ``FOR UPDATE SKIP LOCKED``, so concurrent sweepers split the work and each
       reads the rows' current values once it holds them; on SQLite the IMMEDIATE
       transaction holds the write lock, so there is one sweeper at a time.
    2. Apply every rung of each whose time has come: events, the new level and next rung
       time, outbox notifications.
    3. Commit the batch as one transaction: a sweeper killed mid-batch leaves nothing
       half-done, and the next sweep finds those loops still due.
    Running it twice changes nothing more: a rung moves ``next_check_at`` past itself.
    """
    result = SweepResult()
    # unprepared: batches of different loops, nothing to gain from prepared plans.
    with unprepared(), _no_cycle_collection(), _one_checkpoint():
        while max_batches is None or result.batches < max_batches:
            with transaction.atomic():
                claimed = _claim_due(now=now, batch_size=batch_size)
                if not claimed:
                    break
                _escalate(claimed, now=now, result=result)
            result.batches += 1
            if len(claimed) < batch_size:
                break
    return result


def _minute_utc(at: Any) -> str:
    """``f"{at:%Y-%m-%d %H:%M %Z}"``, without ``strftime`` for a UTC datetime (the claim's;
    a third of the cost of a message's body)."""
    if at.__class__ is datetime and at.tzinfo is UTC and at.year >= 1000:
        return at.isoformat(" ", "minutes")[:16] + " UTC"
    return f"{at:%Y-%m-%d %H:%M %Z}"


@contextmanager
def _one_checkpoint() -> Iterator[None]:
    """On SQLite, one checkpoint of the write-ahead log after the sweep instead of one after
    each batch's commit (when the log has passed ``wal_autocheckpoint`` pages, as a batch's
    does): the pages several batches wrote are copied to the database once, with one
    ``fsync`` instead of one a batch. Not inside a caller's transaction (the batches then
    commit nothing) nor on PostgreSQL."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (pages,) = cursor.fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cyclic garbage collector off while the sweep runs (as it was after).

    A batch makes tens of thousands of small dicts and tuples, freed by their reference
    counts, not by the collector; but their number sets the collector off hundreds of
    times a sweep, and now and then for a full pass over every object of the process (a
    tenth to a fifth of the sweep's own CPU time, measured in bench/SWEEP.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(slots=True)
class DueLoop:
    """The columns of a claimed loop that the sweep reads and writes (``SWEEP_FIELDS``), as
    plain values: a batch holds thousands, and a model instance each cost more than the
    rest of the sweep's Python work. ``loop_event_data`` and ``_rung_time`` read it as they
    read a ``Loop``."""

    pk: int
    kind: str
    title: str
    state: str
    case_id: int | None
    customer_id: int | None
    team_id: int | None
    assignee_id: int | None
    sla_policy_id: int | None
    due_at_fixed: bool
    sla_seconds: int | None
    consumed_seconds: int
    clock_started_at: datetime
    escalation_level: int
    breached_at: datetime | None
    due_at: datetime | None
    at_risk_at: datetime | None
    # Not read (the sweep works it out anew): the rung after the last one taken.
    next_check_at: datetime | None = None


# DueLoop's fields after its pk, in order: the columns the claim reads.
SWEEP_FIELDS = tuple(DueLoop.__dataclass_fields__)[1:-1]
# Their positions in a claimed row (after the pk) by kind: what _plain_rows converts.
_CLAIM_DATETIMES = tuple(
    i + 1
    for i, name in enumerate(SWEEP_FIELDS)
    if isinstance(Loop._meta.get_field(name), models.DateTimeField)
)
# On SQLite the claim reads the datetimes as the column stores them (text, under these
# names) and ``_utc_row`` parses each with one C call: Django's converter for the column
# type costs three Python calls a value, a tenth of the claim.
_CLAIM_AS_TEXT = {
    name: f"{name}_text"
    for name in SWEEP_FIELDS
    if isinstance(Loop._meta.get_field(name), models.DateTimeField)
}
_CLAIM_BOOLEANS = tuple(
    i + 1
    for i, name in enumerate(SWEEP_FIELDS)
    if isinstance(Loop._meta.get_field(name), models.BooleanField)
)


def _claim_due(*, now: datetime, batch_size: int) -> list[DueLoop]:
    # Lock, limit and read in one statement: PostgreSQL skips rows another sweeper holds
    # *before* applying the LIMIT, so concurrent sweepers each get a different batch, and
    # re-checks a row changed since the statement began before it locks and returns it, so
    # the values read are the row's current ones. (Picking ids first and locking them after
    # would hand a second sweeper the same, locked, ids.) SKIP LOCKED never waits, so the
    # lock order cannot deadlock. The batch is worked through in pk order.
    due = Loop.objects.filter(
        state=LoopState.OPEN, next_check_at__isnull=False, next_check_at__lte=now
    ).order_by("next_check_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    fields = SWEEP_FIELDS
    if connection.vendor == "sqlite":
        due = due.annotate(
            **{text: Cast(name, models.TextField()) for name, text in _CLAIM_AS_TEXT.items()}
        )
        fields = tuple(_CLAIM_AS_TEXT.get(name, name) for name in SWEEP_FIELDS)
    rows = _plain_rows(due.values_list("pk", *fields)[:batch_size])
    return sorted((DueLoop(*row) for row in rows), key=lambda lp: lp.pk)


def _plain_rows(query: Any) -> list[tuple[Any, ...]]:
    """The rows of the claim (a ``values_list`` of ``pk`` and ``SWEEP_FIELDS``) as it would
    read them, without Django's per-value conversions, which cost more than the rest of the
    claim: on PostgreSQL datetimes through psycopg's own (compiled) loader instead of
    Django's subclass of its pure-Python one; on SQLite the naive UTC datetimes made aware
    and the booleans made ``bool`` once per column kind, not through each value's converter."""
    sql, params = query.query.sql_with_params()
    if connection.vendor == "postgresql":
        import psycopg
        from psycopg.types.datetime import TimestamptzLoader

        connection.ensure_connection()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
            cur.adapters.register_loader("timestamptz", TimestamptzLoader)
            cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = cur.fetchall()
        if rows and any(
            v is not None and v.tzinfo is not UTC for v in (rows[0][i] for i in _CLAIM_DATETIMES)
        ):  # a session time zone other than Django's UTC: as Django would read them
            rows = [_utc_row(row) for row in rows]
        return rows
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [_utc_row(row) for row in cur.fetchall()]


def _utc_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out = list(row)
    for i in _CLAIM_DATETIMES:
        v = out[i]
        if v is not None:
            if v.__class__ is str:  # as SQLite stores it (_CLAIM_AS_TEXT)
                v = _stored_datetime(v)
            out[i] = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    for i in _CLAIM_BOOLEANS:
        out[i] = bool(out[i])
    return tuple(out)


def _stored_datetime(text: str) -> datetime:
    # What Django's converter for a SQLite datetime column reads: fromisoformat, else its
    # own parser (forms fromisoformat does not take).
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        value = parse_datetime(text)
        if value is None:
            raise
        return value


@dataclass
class _Owners:
    """Each distinct policy, team and person of a batch, loaded once (not a join per row)."""

    policies: dict[int, SlaPolicy]
    teams: dict[int, Any]
    users: dict[int, Any]

    @classmethod
    def of(cls, loops: Sequence[DueLoop]) -> _Owners:
        policies = SlaPolicy.objects.select_related("business_hours").in_bulk(
            {lp.sla_policy_id for lp in loops if lp.sla_policy_id}
        )
        teams = Team.objects.in_bulk({lp.team_id for lp in loops if lp.team_id})
        user_ids = {lp.assignee_id for lp in loops if lp.assignee_id}
        user_ids |= {t.lead_id for t in teams.values() if t.lead_id}
        return cls(policies, teams, get_user_model().objects.in_bulk(user_ids))


# What a rung may change besides the level and the next check; rows_update's names.
_SWEEP_CHANGES = ("breached_at", "assignee_id", "at_risk_at")
_SWEEP_FIELD_NAMES = {"assignee_id": "assignee"}
_sweep_changes_of = attrgetter(*_SWEEP_CHANGES)


def _escalate(loops: Sequence[DueLoop], *, now: datetime, result: SweepResult) -> None:
    owners = _Owners.of(loops)
    # Plain rows, not model instances: a batch writes thousands of them.
    events: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    breached: list[tuple[DueLoop, datetime]] = []
    # The other rungs (notify_owner, notify_lead, reassign_to_lead) as ``loop.escalated``
    # events: the loop's data as the rung left it, plus the rung and the team's lead.
    escalated: list[tuple[dict[str, Any], datetime]] = []
    by_policy: dict[int | None, tuple[Calendar, list[dict[str, Any]]]] = {}
    kinds = dict(LoopKind.choices)
    # The columns a rung may change besides the level and next check, as claimed.
    claimed_values = list(map(_sweep_changes_of, loops))
    for loop in loops:
        key = None if loop.due_at_fixed else loop.sla_policy_id
        if key not in by_policy:
            policy = owners.policies.get(loop.sla_policy_id) if loop.sla_policy_id else None
            by_policy[key] = (calendar_for(policy, fixed=loop.due_at_fixed), ladder_of(policy))
        cal, ladder = by_policy[key]
        team = owners.teams.get(loop.team_id) if loop.team_id else None
        lead = owners.users.get(team.lead_id) if team is not None and team.lead_id else None
        assignee = owners.users.get(loop.assignee_id) if loop.assignee_id else None
        result.loops += 1
        # The time of the rung the loop is on, once each: the one found not yet due is
        # the loop's next check.
        next_check: datetime | None = None
        while loop.escalation_level < len(ladder):
            rung = ladder[loop.escalation_level]
            at = _rung_time(loop, cal, rung["at"])
            if at > now:
                next_check = at
                break
            level = loop.escalation_level + 1
            action = rung["action"]
            reason = f"{rung['at']:g}% of the SLA: {action.replace('_', ' ')}"
            data: dict[str, Any] = {"level": level, "action": action, "at_percent": rung["at"]}
            kind = LoopEventKind.ESCALATED
            team_email = team.email if team is not None else ""
            lead_email = (lead.email if lead is not None else "") or team_email
            recipient = ""
            if action == "breach":
                loop.breached_at = loop.breached_at or at
                kind = LoopEventKind.BREACHED
                recipient = lead_email
                result.breached += 1
                breached.append((loop, at))
            elif action == "reassign_to_lead":
                if lead is not None and loop.assignee_id != lead.pk:
                    data["from"], data["to"] = loop.assignee_id, lead.pk
                    loop.assignee_id = lead.pk
                    kind = LoopEventKind.REASSIGNED
                    recipient = lead.email
                else:
                    data["skipped"] = "no team lead" if lead is None else "already with the lead"
            elif action == "notify_owner":
                recipient = (assignee.email if assignee is not None else "") or team_email
            else:
                recipient = lead_email
            events.append(
                {"loop_id": loop.pk, "kind": kind, "at": at, "reason": reason, "data": data}
            )
            if action != "breach":
                lead_id = lead.pk if lead is not None else None
                escalated.append((loop_event_data(loop, **data, lead=lead_id), at))
            if recipient:
                messages.append(
                    outbox_message(
                        key=f"loop:{loop.pk}:level:{level}",
                        purpose="escalation",
                        recipient=recipient,
                        subject=f"[{action.replace('_', ' ')}] {loop.title}",
                        body=(
                            f"Loop #{loop.pk} ({kinds.get(loop.kind, loop.kind).lower()}) "
                            + (
                                f"for customer {loop.customer_id}"
                                if loop.customer_id is not None
                                else f"of {team.name if team is not None else 'no team'}"
                            )
                            + f" reached {rung['at']:g}% of its SLA.\n"
                            f"Due: {_minute_utc(loop.due_at)}\n"
                        ),
                        data={"loop": loop.pk, **data},
                        now=now,
                    )
                )
            loop.escalation_level = level
            result.rungs += 1
            result.actions[action] = result.actions.get(action, 0) + 1
        loop.next_check_at = next_check
        if loop.escalation_level > 0 and loop.due_at is not None:
            loop.at_risk_at = AT_RISK_ALWAYS  # escalated: at risk whatever the time
    # Each loop is written once, setting only the columns its rungs changed besides its
    # level and next check: SQLite rewrites the entries of every index on a column SET
    # (five indexes hold these columns), changed or not.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for lp, before in zip(loops, claimed_values, strict=True):
        row: dict[str, Any] = {
            "pk": lp.pk,
            "escalation_level": lp.escalation_level,
            "next_check_at": lp.next_check_at,
        }
        after = _sweep_changes_of(lp)
        if after != before:
            for name, value, now_value in zip(_SWEEP_CHANGES, before, after, strict=True):
                if now_value != value:
                    row[name] = now_value
        groups.setdefault(tuple(row), []).append(row)
    for columns, rows in groups.items():
        rows_update(Loop, rows, [_SWEEP_FIELD_NAMES.get(c, c) for c in columns[1:]])
    rows_insert(LoopEvent, events)
    if messages:
        result.notifications += outbox_enqueue(messages)
    event_emit_many("loop.escalated", escalated)
    event_emit_many("loop.breached", [(loop_event_data(loop), at) for loop, at in breached])
