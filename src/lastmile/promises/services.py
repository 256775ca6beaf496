"""Every write to promises and policies.

A promise is recorded only after every applicable policy is checked (``policies_check``):

- a failing (or erroring) ``warn`` policy needs the person recording it to confirm it,
  and the confirmation is stored with who and when;
- a failing (or erroring) ``block`` policy needs an override by a person whose authority
  covers it (``people.authority``), and the override names that person. An agent whose
  authority does not cover it may still ask for the exception: the promise is recorded
  ``awaiting`` approval, not live, and a ``task`` loop asks their team's lead; another
  person whose authority covers it approves it (it becomes a live promise) or rejects it
  (``promise_exception_approve`` / ``promise_exception_reject``).

A warning is advice every agent may confirm themselves (recorded with who and when);
authority, and so a second person, is what a block asks for.

Otherwise :class:`PolicyConflict` (409) carries the verdicts and nothing is written. A
recorded promise opens a ``promise`` loop for the team that must keep it, puts a note on
the customer's timeline and emits ``promise.made``; its outcome (kept, broken with a
reason, renegotiated into a new promise) closes, breaks or cancels that loop. A broken
promise opens a ``followup`` loop for the keeping team's lead and emits ``promise.broken``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.core.events import event_emit
from lastmile.customers.models import Channel, Direction
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, LoopEvent, LoopKind, LoopState
from lastmile.loops.services import loop_break, loop_cancel, loop_close, loop_open
from lastmile.people.authority import POLICY_KEY, TERM_KEY
from lastmile.people.models import Agent
from lastmile.people.selectors import agent_authority, agent_team_for, shares_a_team
from lastmile.people.viewers import Actor
from lastmile.promises.cel import cel_compile_error
from lastmile.promises.checks import Verdict, needs_for
from lastmile.promises.models import Policy, PolicyVersion, Promise, PromiseState, Severity
from lastmile.promises.selectors import exception_refusal, policies_check
from lastmile.promises.terms import terms_format, terms_validate

MAX_TEXT = 2000
MAX_DUE = timedelta(days=3660)
CASE_DONE = ("solved", "closed")


class PolicyConflict(Conflict):
    """A promise the policies do not let through as asked; ``verdicts`` say why."""

    def __init__(self, detail: str, *, code: ErrorCode, verdicts: list[Verdict]) -> None:
        super().__init__(
            detail=detail,
            code=code,
            errors=[
                FieldError(
                    f"policies.{v.policy}",
                    f"{v.severity} {v.result} (v{v.version}): {v.text}"
                    + (f" [{v.detail}]" if v.detail else ""),
                )
                for v in verdicts
                if v.failed
            ],
        )
        self.verdicts = verdicts


def _name(user: Actor) -> str:
    if user is None:
        return "an integration"
    return user.get_full_name() or user.username


def _channel_label(channel: str) -> str:
    if channel.startswith("social:"):
        return channel.split(":", 1)[1].replace("_", " ").title()
    try:
        return str(Channel(channel).label)
    except ValueError:
        return channel


def _local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%a %d %b %Y %H:%M %Z")


# --- policies ----------------------------------------------------------------------------


def _rule_fields(
    *, applies_when: str, rule: str, severity: str, text: str, authority_term: str
) -> dict[str, str]:
    """A version's rule fields, checked: CEL that does not compile is an InvalidInput."""
    applies_when, rule, text = (
        (applies_when or "").strip(),
        (rule or "").strip(),
        (text or "").strip(),
    )
    authority_term = (authority_term or "").strip()
    if severity not in Severity.values:
        raise InvalidInput(
            f"unknown severity {severity!r}",
            [FieldError("severity", f"one of {', '.join(Severity.values)}")],
        )
    if (why := cel_compile_error(rule)) is not None:
        raise InvalidInput(f"rule: {why}", [FieldError("rule", why)])
    if applies_when and (why := cel_compile_error(applies_when)) is not None:
        raise InvalidInput(f"applies_when: {why}", [FieldError("applies_when", why)])
    if not text:
        raise InvalidInput(
            "a policy needs the text agents read", [FieldError("text", "must not be empty")]
        )
    if authority_term and not TERM_KEY.match(authority_term):
        raise InvalidInput(
            f"bad authority term {authority_term!r}",
            [FieldError("authority_term", "a term name: letters, digits and _")],
        )
    return {
        "applies_when": applies_when,
        "rule": rule,
        "severity": severity,
        "text": text,
        "authority_term": authority_term,
    }


def _window(
    effective_from: datetime | None, effective_to: datetime | None, *, now: datetime
) -> tuple[datetime, datetime | None]:
    start = effective_from or now
    if start < now:
        # Promises already checked stay checked against what was in force then.
        raise InvalidInput(
            "a version cannot start in the past",
            [FieldError("effective_from", "now or later")],
        )
    if effective_to is not None and effective_to <= start:
        raise InvalidInput(
            "the window ends before it starts",
            [FieldError("effective_to", "after effective_from")],
        )
    return start, effective_to


@transaction.atomic
def policy_create(
    *,
    key: str,
    title: str,
    rule: str,
    severity: str,
    text: str,
    now: datetime,
    applies_when: str = "",
    authority_term: str = "",
    team: Any = None,
    effective_from: datetime | None = None,
    effective_to: datetime | None = None,
    actor: Actor = None,
) -> Policy:
    """A new policy with its version 1."""
    key = (key or "").strip()
    if not POLICY_KEY.match(key):
        raise InvalidInput(
            f"bad policy key {key!r}",
            [FieldError("key", "lower-case letters, digits, - and _, 64 at most")],
        )
    if Policy.objects.filter(key=key).exists():
        raise InvalidInput(f"policy {key!r} exists", [FieldError("key", "already taken")])
    title = (title or "").strip()
    if not title:
        raise InvalidInput("a policy needs a title", [FieldError("title", "must not be empty")])
    fields = _rule_fields(
        applies_when=applies_when,
        rule=rule,
        severity=severity,
        text=text,
        authority_term=authority_term,
    )
    start, end = _window(effective_from, effective_to, now=now)
    policy = Policy.objects.create(key=key, title=title[:200], team=team, created_at=now)
    version = PolicyVersion.objects.create(
        policy=policy,
        version=1,
        effective_from=start,
        effective_to=end,
        created_at=now,
        created_by=actor,
        **fields,
    )
    policy.current = version
    policy.save(update_fields=["current"])
    return policy


def policy_revise(
    *,
    policy: Policy,
    rule: str,
    severity: str,
    text: str,
    now: datetime,
    applies_when: str = "",
    authority_term: str = "",
    effective_from: datetime | None = None,
    effective_to: datetime | None = None,
    actor: Actor = None,
) -> PolicyVersion:
    """Edit a policy's rule: a new version, in force from ``effective_from`` (default now).

    The previous versions stay as they were, except that an open-ended window is closed
    where the new one starts; promises keep the version they were checked against. An edit
    that changes nothing makes no version.
    """
    fields = _rule_fields(
        applies_when=applies_when,
        rule=rule,
        severity=severity,
        text=text,
        authority_term=authority_term,
    )
    with transaction.atomic():
        locked = Policy.objects.select_for_update().get(pk=policy.pk)
        latest = locked.versions.order_by("-version").first()
        if (
            latest is not None
            and effective_from is None
            and effective_to == latest.effective_to
            and all(getattr(latest, k) == v for k, v in fields.items())
        ):
            return latest
        start, end = _window(effective_from, effective_to, now=now)
        if latest is not None and start < latest.effective_from:
            raise InvalidInput(
                f"version {latest.version} starts {_local(latest.effective_from)}",
                [FieldError("effective_from", "not before the latest version starts")],
            )
        locked.versions.filter(effective_from__lte=start).exclude(
            effective_to__isnull=False, effective_to__lte=start
        ).update(effective_to=start)
        version = PolicyVersion.objects.create(
            policy=locked,
            version=(latest.version if latest else 0) + 1,
            effective_from=start,
            effective_to=end,
            created_at=now,
            created_by=actor,
            **fields,
        )
        locked.current = version
        locked.save(update_fields=["current"])
    policy.current = version
    return version


def policy_set_details(
    *, policy: Policy, title: str, team: Any = None, active: bool = True
) -> Policy:
    """Title, owning team and whether it is checked: not part of the rule, so no new version."""
    title = (title or "").strip()
    if not title:
        raise InvalidInput("a policy needs a title", [FieldError("title", "must not be empty")])
    policy.title, policy.team, policy.active = title[:200], team, active
    policy.save(update_fields=["title", "team", "active"])
    return policy


# --- recording a promise -----------------------------------------------------------------


def _checked_channel(channel: str) -> str:
    channel = (channel or "").strip()
    ok = channel in Channel.values and channel != Channel.SOCIAL
    if not ok and not re.fullmatch(r"social:[a-z0-9_]{1,32}", channel):
        raise InvalidInput(
            f"unknown channel {channel!r}",
            [
                FieldError(
                    "channel", f"one of {', '.join(Channel.values)} (social as social:<network>)"
                )
            ],
        )
    return channel


def _checked_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(
            "say what was promised, in your words", [FieldError("text", "must not be empty")]
        )
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            "the promise is too long", [FieldError("text", f"at most {MAX_TEXT} characters")]
        )
    return text


def _checked_due(due_at: datetime | None, now: datetime) -> datetime:
    if due_at is None:
        raise InvalidInput("say when it is due", [FieldError("due_at", "required")])
    if due_at.tzinfo is None:
        raise InvalidInput("due_at needs a time zone", [FieldError("due_at", "an aware time")])
    if due_at <= now:
        raise InvalidInput(
            f"the due time {_local(due_at)} has passed", [FieldError("due_at", "in the future")]
        )
    if due_at - now > MAX_DUE:
        raise InvalidInput(
            "the due time is too far away", [FieldError("due_at", "within 10 years")]
        )
    return due_at


def _checked_maker(made_by: Any, actor: Actor) -> Any:
    made_by = made_by or actor
    if made_by is None:
        raise InvalidInput(
            "say who made the promise", [FieldError("made_by", "required without an agent")]
        )
    if not Agent.objects.filter(user=made_by).exists():
        raise InvalidInput(
            f"{made_by.username} is not an agent", [FieldError("made_by", "not an agent")]
        )
    if actor is not None and made_by.pk != actor.pk and not shares_a_team(actor, made_by):
        raise InvalidInput(
            f"{made_by.username} is not in your teams",
            [FieldError("made_by", "record promises for yourself or a teammate")],
        )
    return made_by


def _loop_case(case: Any, team: Any) -> Any:
    """The case the promise loop hangs on: the case it was made on, if that team works it.

    A promise another team keeps (membership promises, reception delivers) is a loop for
    the customer, not for the case: the case can be solved by the team that made it while
    the other team owes the promise.
    """
    if case is None or case.status in CASE_DONE or case.team_id != team.pk:
        return None
    return case


def _decide(
    verdicts: list[Verdict],
    *,
    terms: dict[str, Any],
    actor: Actor,
    confirm_warnings: bool,
    override: bool,
    may_ask: bool = False,
) -> tuple[bool, bool, list[Verdict]]:
    """(warnings confirmed, blocks overridden, blocks asked for a lead's approval) — or
    PolicyConflict, with every verdict.

    With ``may_ask``, a person whose authority does not cover a block asks for the
    exception instead of being refused; an integration (no person) is still refused.
    """
    needs = needs_for(verdicts, terms=terms, authority=agent_authority(actor) if actor else {})
    asked: list[Verdict] = []
    if needs.blocks:
        names = ", ".join(f"{v.policy} ({v.result})" for v in needs.blocks)
        if not override:
            raise PolicyConflict(
                f"blocked by policy: {names}; only an agent whose authority allows it can "
                "override this, or ask a lead to approve the exception",
                code=ErrorCode.POLICY_BLOCKED,
                verdicts=verdicts,
            )
        if needs.not_overridable:
            if not may_ask or actor is None:
                names = ", ".join(v.policy for v in needs.not_overridable)
                raise PolicyConflict(
                    f"{_name(actor)}'s authority does not cover overriding {names}; a lead "
                    "with that authority must record it",
                    code=ErrorCode.OVERRIDE_NOT_ALLOWED,
                    verdicts=verdicts,
                )
            asked = needs.not_overridable
    if needs.warnings and not confirm_warnings:
        names = ", ".join(f"{v.policy} ({v.result})" for v in needs.warnings)
        raise PolicyConflict(
            f"policy warning: {names}; read the policy and confirm to record the promise",
            code=ErrorCode.POLICY_WARNING,
            verdicts=verdicts,
        )
    return bool(needs.warnings), bool(needs.blocks) and not asked, asked


def _note(promise: Promise, body: str, *, actor: Actor, now: datetime, via: str) -> None:
    """The promise's story on the customer's timeline (an internal note, on its case)."""
    interaction_record(
        customer=promise.customer,
        case=promise.case,
        channel=Channel.API if via.startswith("api") else Channel.WEB,
        direction=Direction.NOTE,
        occurred_at=now,
        now=now,
        body=body,
        actor=actor,
        data={"promise": promise.pk, "state": promise.state},
    )


def _event_data(promise: Promise, **extra: Any) -> dict[str, Any]:
    return {
        "promise": promise.pk,
        "state": promise.state,
        "text": promise.text,
        "terms": promise.terms,
        "customer": promise.customer_id,
        "case": promise.case_id,
        "team": promise.team_id,
        "made_by": promise.made_by_id,
        "channel": promise.channel,
        "due_at": promise.due_at.isoformat(),
        "loop": promise.loop_id,
        **extra,
    }


def promise_record(
    *,
    text: str,
    terms: Any,
    due_at: datetime | None,
    team: Any,
    channel: str,
    now: datetime,
    case: Any = None,
    customer: Any = None,
    made_by: Any = None,
    actor: Actor = None,
    confirm_warnings: bool = False,
    override: bool = False,
    visible_to_customer: bool = True,
    recorded_via: str = "console",
    external_id: str | None = None,
) -> Promise:
    """Record what an agent promised, after checking every applicable policy.

    1. Validate; the promise is to the case's customer (or ``customer`` without a case).
    2. Check the policies at ``now`` against the terms and the customer's attributes.
    3. Failing warnings need ``confirm_warnings``; failing blocks need ``override`` and
       ``actor``'s authority. Otherwise PolicyConflict (409) and nothing is written.
    4. Write the promise (verdicts with their versions, who confirmed, who overrode), open
       its ``promise`` loop for ``team`` due at ``due_at``, note it on the timeline, emit
       ``promise.made`` — one transaction.
    5. Except when ``override`` asks past a block ``actor``'s authority does not cover: then
       the promise is written ``awaiting`` approval with no promise loop, a ``task`` loop
       asks the lead of ``actor``'s team (``approval_loop``), the timeline notes it and
       ``promise.approval_requested`` is emitted. ``promise_exception_approve`` makes it live.

    ``made_by`` (default ``actor``) is who said it to the customer; ``actor`` is who records
    it and confirms or overrides. The same ``external_id`` twice records one promise.
    """
    if external_id is not None:
        existing = Promise.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return _record(
                text=text,
                terms=terms,
                due_at=due_at,
                team=team,
                channel=channel,
                now=now,
                case=case,
                customer=customer,
                made_by=made_by,
                actor=actor,
                confirm_warnings=confirm_warnings,
                override=override,
                visible_to_customer=visible_to_customer,
                recorded_via=recorded_via,
                external_id=external_id,
                may_ask=True,
            )
    except IntegrityError:
        # A concurrent request with the same external id got there first.
        if external_id is not None:
            existing = Promise.objects.filter(external_id=external_id).first()
            if existing is not None:
                return existing
        raise


def _record(
    *,
    text: str,
    terms: Any,
    due_at: datetime | None,
    team: Any,
    channel: str,
    now: datetime,
    case: Any,
    customer: Any,
    made_by: Any,
    actor: Actor,
    confirm_warnings: bool,
    override: bool,
    visible_to_customer: bool,
    recorded_via: str,
    external_id: str | None,
    replaces: Promise | None = None,
    may_ask: bool = False,
) -> Promise:
    text = _checked_text(text)
    checked_terms = terms_validate(terms)
    due = _checked_due(due_at, now)
    channel = _checked_channel(channel)
    if team is None:
        raise InvalidInput("say which team keeps the promise", [FieldError("team", "required")])
    if case is not None:
        if customer is not None and customer.pk != case.customer_id:
            raise InvalidInput(
                "the customer is not the case's", [FieldError("customer", "not the case's")]
            )
        customer = case.customer
    if customer is None:
        raise InvalidInput("give a case or a customer", [FieldError("case", "required")])
    maker = _checked_maker(made_by, actor)
    verdicts = policies_check(terms=checked_terms, customer=customer.attributes or {}, now=now)
    confirmed, overridden, asked = _decide(
        verdicts,
        terms=checked_terms,
        actor=actor,
        confirm_warnings=confirm_warnings,
        override=override,
        may_ask=may_ask,
    )
    maker_team = agent_team_for(maker, prefer=case.team if case is not None else team)
    name = _name(maker)
    promise = Promise.objects.create(
        customer=customer,
        case=case,
        text=text,
        terms=checked_terms,
        channel=channel,
        team=team,
        made_by=maker,
        made_by_name=name,
        made_by_team=maker_team,
        made_at=now,
        due_at=due,
        visible_to_customer=visible_to_customer,
        recorded_by=actor,
        recorded_via=(recorded_via or "console")[:100],
        verdicts=[v.as_dict() for v in verdicts],
        warnings_confirmed_by=actor if confirmed else None,
        warnings_confirmed_at=now if confirmed else None,
        overridden_by=actor if overridden else None,
        overridden_at=now if overridden else None,
        replaces=replaces,
        external_id=external_id,
        state=PromiseState.AWAITING if asked else PromiseState.OPEN,
    )
    if asked:
        _ask_approval(promise, asked, actor=actor, confirmed=confirmed, now=now)
        return promise
    _go_live(promise, actor=actor, now=now, confirmed=confirmed, overridden=overridden)
    return promise


def _where(promise: Promise) -> str:
    team = promise.made_by_team
    return f"{promise.made_by_name} ({team.name})" if team else promise.made_by_name


def _go_live(
    promise: Promise, *, actor: Actor, now: datetime, confirmed: bool, overridden: bool
) -> None:
    """Open the promise's loop, note it on the timeline, emit ``promise.made``."""
    text, channel, team, due = promise.text, promise.channel, promise.team, promise.due_at
    where = _where(promise)
    customer, case, replaces = promise.customer, promise.case, promise.replaces
    verdicts = promise.verdicts
    promise.loop = loop_open(
        customer=customer,
        case=_loop_case(case, team),
        kind=LoopKind.PROMISE,
        title=f"{text} (promised by {where}, {_channel_label(channel).lower()})"[:300],
        now=now,
        team=team,
        channel=channel,
        due_at=due,
        visible_to_customer=promise.visible_to_customer,
        actor=actor,
        reason=f"Promised by {where} on {_channel_label(channel)}",
    )
    promise.save(update_fields=["loop"])
    lines = [
        f"Promise{' (renegotiated)' if replaces else ''}: “{text}”",
        f"Promised by {where} on {_channel_label(channel)}, {_local(promise.made_at)}.",
        f"{team.name} keeps it by {_local(due)}.",
    ]
    if promise.terms:
        lines.insert(1, f"Terms: {terms_format(promise.terms)}")
    if confirmed:
        lines.append(
            f"Policy warning confirmed by {_name(promise.warnings_confirmed_by)}: "
            f"{_policy_names(verdicts, 'warn')}."
        )
    if overridden and promise.approval_by_id is None:
        lines.append(f"Policy block overridden by {_name(actor)}: {_policy_names(verdicts)}.")
    elif overridden:
        why = f" — {promise.approval_reason}" if promise.approval_reason else ""
        lines.append(
            f"Exception asked by {_name(promise.recorded_by)}, approved by {_name(actor)} "
            f"({_local(now)}): {_policy_names(verdicts)}{why}."
        )
    _note(promise, "\n".join(lines), actor=actor, now=now, via=promise.recorded_via)
    event_emit("promise.made", _event_data(promise), at=now)


def _policy_names(verdicts: list[dict[str, Any]], severity: str = "block") -> str:
    return ", ".join(
        f"{v['policy']} v{v['version']}"
        for v in verdicts
        if v["severity"] == severity and v["result"] != "pass"
    )


def _approver_team(promise: Promise, actor: Actor) -> Any:
    """The team whose lead decides: the asking agent's (on the case's team if they are in it)."""
    return agent_team_for(actor, prefer=promise.case.team if promise.case else promise.team)


def _ask_approval(
    promise: Promise, asked: list[Verdict], *, actor: Actor, confirmed: bool, now: datetime
) -> None:
    """An exception beyond ``actor``'s authority: a task for their team's lead to decide.

    The task goes to the team's lead when the lead's authority covers the exception, else
    to the team unassigned (anyone whose authority covers it decides); it hangs on the
    case, so the case is not solved while the exception is undecided.
    """
    assert actor is not None, "only a person asks for an exception (_decide refuses the rest)"
    team = _approver_team(promise, actor) or promise.team
    lead = team.lead
    names = ", ".join(f"{v.policy} v{v.version}" for v in asked)
    if lead is not None and (
        lead.pk in (actor.pk, promise.made_by_id)
        or needs_for(asked, terms=promise.terms, authority=agent_authority(lead)).not_overridable
    ):
        lead = None
    case = (
        promise.case if promise.case is not None and promise.case.status not in CASE_DONE else None
    )
    promise.approval_loop = loop_open(
        customer=promise.customer,
        case=case,
        kind=LoopKind.TASK,
        # The promise's number: the lead decides on its card (Approve / Reject); marking
        # the task done without deciding withdraws the request (promise_follow_loop).
        title=f"Approve an exception ({names}) on promise #{promise.pk}: {promise.text}"[:300],
        now=now,
        team=team,
        assignee=lead,
        actor=actor,
        reason=f"{_name(actor)} asks to override {names}, beyond their authority",
    )
    promise.save(update_fields=["approval_loop"])
    lines = [
        f"Promise awaiting approval: “{promise.text}”",
        f"Promised by {_where(promise)} on {_channel_label(promise.channel)}, {_local(now)}.",
        f"Exception asked by {_name(actor)}: {names} is beyond their authority. Awaiting "
        f"approval by {_name(lead) if lead else 'a lead of ' + team.name}.",
    ]
    if promise.terms:
        lines.insert(1, f"Terms: {terms_format(promise.terms)}")
    if confirmed:
        lines.append(
            f"Policy warning confirmed by {_name(actor)}: {_policy_names(promise.verdicts, 'warn')}."
        )
    _note(promise, "\n".join(lines), actor=actor, now=now, via=promise.recorded_via)
    event_emit(
        "promise.approval_requested",
        _event_data(
            promise, approval_loop=promise.approval_loop.pk, policies=[v.policy for v in asked]
        ),
        at=now,
    )


def _claim_awaiting(promise: Promise, actor: Actor) -> Promise:
    fresh = (
        Promise.objects.select_for_update(of=("self",))
        .select_related("customer", "case", "team", "made_by_team", "recorded_by", "approval_loop")
        .get(pk=promise.pk)
    )
    if (refused := exception_refusal(promise=fresh, user=actor)) is not None:
        raise refused
    return fresh


def _decided(promise: Promise, *, actor: Actor, reason: str, now: datetime) -> None:
    """Store the decision, then close the approval task: the promise is no longer awaiting
    when the task's ``loop.closed`` reaches ``promise_follow_loop``."""
    promise.approval_by = actor
    promise.approval_at = now
    promise.approval_reason = reason[:500]
    promise.save(
        update_fields=[
            "state",
            "overridden_by",
            "overridden_at",
            "approval_by",
            "approval_at",
            "approval_reason",
            "outcome_at",
            "outcome_by",
            "outcome_reason",
        ]
    )
    loop = promise.approval_loop
    if loop is not None and loop.state == LoopState.OPEN:
        verb = "approved" if promise.state == PromiseState.OPEN else "rejected"
        loop_close(
            loop=loop,
            actor=actor,
            reason=f"exception {verb} by {_name(actor)}" + (f": {reason}" if reason else ""),
            now=now,
        )


def promise_exception_approve(
    *, promise: Promise, actor: Actor, reason: str = "", now: datetime
) -> Promise:
    """A second person approves the exception: the promise goes live.

    1. Refused (nothing written) unless the promise is awaiting approval and ``actor`` is a
       person, neither who asked nor who made it, whose authority covers every failed block
       (``exception_refusal``).
    2. The promise becomes ``open``, overridden by ``actor``; the decision (who, when, why)
       is stored; the approval loop closes; the promise loop opens, the timeline notes who
       asked and who approved, ``promise.made`` is emitted — one transaction.
    """
    reason = (reason or "").strip()
    with transaction.atomic():
        fresh = _claim_awaiting(promise, actor)
        fresh.state = PromiseState.OPEN
        fresh.overridden_by = actor
        fresh.overridden_at = now
        _decided(fresh, actor=actor, reason=reason, now=now)
        _go_live(
            fresh,
            actor=actor,
            now=now,
            confirmed=fresh.warnings_confirmed_at is not None,
            overridden=True,
        )
    return fresh


def promise_exception_reject(
    *, promise: Promise, actor: Actor, reason: str, now: datetime
) -> Promise:
    """A second person rejects the exception: the promise is ``rejected``, never live.

    Refused as approval is (``exception_refusal``); a reason is required. The decision is
    stored, the approval loop closes, the timeline notes it, ``promise.rejected`` is
    emitted — one transaction. The agent tells the customer and may record another promise.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "say why the exception is rejected", [FieldError("reason", "must not be empty")]
        )
    with transaction.atomic():
        fresh = _claim_awaiting(promise, actor)
        fresh.state = PromiseState.REJECTED
        fresh.outcome_at, fresh.outcome_by, fresh.outcome_reason = now, actor, reason[:500]
        _decided(fresh, actor=actor, reason=reason, now=now)
        _note(
            fresh,
            f"Exception rejected: “{fresh.text}” — asked by {_name(fresh.recorded_by)}, "
            f"rejected by {_name(actor)} ({_local(now)}): {reason}. Not a promise; tell the "
            "customer.",
            actor=actor,
            now=now,
            via="console",
        )
        event_emit("promise.rejected", _event_data(fresh, reason=reason), at=now)
    return fresh


# --- outcomes ----------------------------------------------------------------------------


def _claim_open(promise: Promise) -> Promise:
    fresh = (
        Promise.objects.select_for_update(of=("self",))
        .select_related("customer", "case", "team", "loop")
        .get(pk=promise.pk)
    )
    if fresh.state != PromiseState.OPEN:
        raise Conflict(
            f"promise #{fresh.pk} is {fresh.state}, not open", code=ErrorCode.PROMISE_NOT_OPEN
        )
    return fresh


def _settle(promise: Promise, state: str, *, actor: Actor, reason: str, now: datetime) -> None:
    promise.state = state
    promise.outcome_at = max(now, promise.made_at)
    promise.outcome_by = actor
    promise.outcome_reason = (reason or "")[:500]
    promise.save(update_fields=["state", "outcome_at", "outcome_by", "outcome_reason"])


def _open_loop(promise: Promise) -> Loop | None:
    """The promise's loop if it is still open (it may have been finished outside the ledger)."""
    loop = promise.loop
    return loop if loop is not None and loop.state == LoopState.OPEN else None


def promise_keep(
    *, promise: Promise, actor: Actor = None, note: str = "", now: datetime, via: str = "console"
) -> Promise:
    """The promise was kept: its loop closes. Conflict unless it is open."""
    with transaction.atomic():
        fresh = _claim_open(promise)
        _settle(fresh, PromiseState.KEPT, actor=actor, reason=note, now=now)
        if (loop := _open_loop(fresh)) is not None:
            loop_close(loop=loop, actor=actor, reason=note or "promise kept", now=now)
        _kept_note(fresh, actor=actor, now=now, via=via)
    return fresh


def _kept_note(promise: Promise, *, actor: Actor, now: datetime, via: str = "console") -> None:
    who = _name(actor) if actor is not None else "the loop's owner"
    extra = f" — {promise.outcome_reason}" if promise.outcome_reason else ""
    _note(
        promise,
        f"Promise kept: “{promise.text}” (marked by {who}){extra}.",
        actor=actor,
        now=now,
        via=via,
    )
    event_emit("promise.kept", _event_data(promise), at=now)


def promise_break(
    *, promise: Promise, actor: Actor = None, reason: str, now: datetime, via: str = "console"
) -> Promise:
    """The promise will not be kept: its loop breaks, the keeping team's lead gets a follow-up.

    The ``followup`` loop is assigned to the team's lead (unassigned if it has none) and
    ``promise.broken`` is emitted, in the same transaction.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "say why the promise is broken", [FieldError("reason", "must not be empty")]
        )
    with transaction.atomic():
        fresh = _claim_open(promise)
        _settle(fresh, PromiseState.BROKEN, actor=actor, reason=reason, now=now)
        if (loop := _open_loop(fresh)) is not None:
            loop_break(loop=loop, actor=actor, reason=reason, now=now)
        _broken_followup(fresh, actor=actor, now=now, via=via)
    return fresh


def _broken_followup(
    promise: Promise, *, actor: Actor, now: datetime, via: str = "console"
) -> None:
    team = promise.team
    lead = team.lead
    promise.followup_loop = loop_open(
        customer=promise.customer,
        case=_loop_case(promise.case, team),
        kind=LoopKind.FOLLOWUP,
        title=f"Broken promise to {promise.customer}: {promise.text}"[:300],
        now=now,
        team=team,
        assignee=lead,
        actor=actor,
        reason=f"Broken: {promise.outcome_reason}"[:500],
    )
    promise.save(update_fields=["followup_loop"])
    who = _name(actor) if actor is not None else "the loop's owner"
    _note(
        promise,
        f"Promise broken: “{promise.text}” (marked by {who}): {promise.outcome_reason}. "
        f"Follow-up for {_name(lead) if lead else team.name}.",
        actor=actor,
        now=now,
        via=via,
    )
    event_emit(
        "promise.broken",
        _event_data(
            promise,
            reason=promise.outcome_reason,
            followup_loop=promise.followup_loop.pk,
            lead=lead.pk if lead else None,
        ),
        at=now,
    )


def promise_renegotiate(
    *,
    promise: Promise,
    text: str,
    terms: Any,
    due_at: datetime | None,
    now: datetime,
    team: Any = None,
    channel: str | None = None,
    made_by: Any = None,
    actor: Actor = None,
    confirm_warnings: bool = False,
    override: bool = False,
    reason: str = "",
    recorded_via: str = "console",
) -> Promise:
    """Replace an open promise with a new one; both stay in the ledger.

    The new promise is checked against the policies like any other (PolicyConflict leaves
    the old one untouched). The old one becomes ``renegotiated`` and its loop is cancelled
    with the reason; the new one ``replaces`` it.
    """
    with transaction.atomic():
        old = _claim_open(promise)
        new = _record(
            text=text,
            terms=terms,
            due_at=due_at,
            team=team or old.team,
            channel=channel or old.channel,
            now=now,
            case=old.case,
            customer=old.customer,
            made_by=made_by,
            actor=actor,
            confirm_warnings=confirm_warnings,
            override=override,
            visible_to_customer=old.visible_to_customer,
            recorded_via=recorded_via,
            external_id=None,
            replaces=old,
        )
        why = (reason or "").strip() or f"renegotiated: replaced by promise #{new.pk}"
        _settle(old, PromiseState.RENEGOTIATED, actor=actor, reason=why, now=now)
        if (loop := _open_loop(old)) is not None:
            loop_cancel(
                loop=loop,
                actor=actor,
                reason=f"renegotiated: replaced by promise #{new.pk}",
                now=now,
            )
        event_emit("promise.renegotiated", _event_data(old, replaced_by=new.pk), at=now)
    return new


# --- the loop engine's events ------------------------------------------------------------


def promise_follow_loop(name: str, data: dict[str, Any], at: datetime) -> None:
    """Keep the ledger true when a promise loop is finished outside it (Mark done, the API).

    Closed → kept; broken → broken, with the lead's follow-up; cancelled → withdrawn. The
    ledger's own outcomes settle the promise before finishing the loop, so they end here
    with nothing to do.

    An exception's approval task finished without a decision (Mark done, cancelled) withdraws
    the request: the promise never goes live without a person with the authority approving
    it, and the task cannot sit closed while the promise still says it awaits approval.
    """
    if name not in ("loop.closed", "loop.broken", "loop.cancelled"):
        return
    loop_id = data.get("loop")
    if not isinstance(loop_id, int):
        return
    if data.get("kind") == LoopKind.TASK:
        _approval_task_finished(loop_id, at=at, reason=str(data.get("reason") or ""))
        return
    if data.get("kind") != LoopKind.PROMISE:
        return
    promise = (
        Promise.objects.select_for_update(of=("self",))
        .select_related("customer", "case", "team", "loop")
        .filter(loop_id=loop_id, state=PromiseState.OPEN)
        .first()
    )
    if promise is None:
        return
    last = LoopEvent.objects.filter(loop_id=loop_id).order_by("-at", "-id").first()
    actor = last.actor if last is not None else None
    reason = str(data.get("reason") or "")
    if name == "loop.closed":
        _settle(promise, PromiseState.KEPT, actor=actor, reason=reason, now=at)
        _kept_note(promise, actor=actor, now=at)
    elif name == "loop.broken":
        _settle(promise, PromiseState.BROKEN, actor=actor, reason=reason, now=at)
        _broken_followup(promise, actor=actor, now=at)
    else:
        _settle(promise, PromiseState.WITHDRAWN, actor=actor, reason=reason, now=at)
        _note(
            promise,
            f"Promise withdrawn: “{promise.text}” (its loop was cancelled: {reason}).",
            actor=actor,
            now=at,
            via="console",
        )
        event_emit("promise.withdrawn", _event_data(promise, reason=reason), at=at)


def _approval_task_finished(loop_id: int, *, at: datetime, reason: str) -> None:
    promise = (
        Promise.objects.select_for_update(of=("self",))
        .select_related("customer", "case", "team")
        .filter(approval_loop_id=loop_id, state=PromiseState.AWAITING)
        .first()
    )
    if promise is None:
        return
    last = LoopEvent.objects.filter(loop_id=loop_id).order_by("-at", "-id").first()
    actor = last.actor if last is not None else None
    why = f"the approval task was finished without a decision ({reason or 'no reason'})"
    _settle(promise, PromiseState.WITHDRAWN, actor=actor, reason=why, now=at)
    _note(
        promise,
        f"Exception withdrawn: “{promise.text}” — {why}, by {_name(actor)}. Not a promise.",
        actor=actor,
        now=at,
        via="console",
    )
    event_emit("promise.withdrawn", _event_data(promise, reason=why), at=at)
