"""Every write of the guarded responders: enrolments, and a responder's replies — checked
against the enrolment's limits and the policies, held for the lead while the responder is
new (or a policy warns), and sent through the same service as an agent's reply
(``channels.replies.case_reply_send``). Each attempt is a ``ResponderReply`` row, each step an
append-only ``ResponderEvent``; a refusal is recorded too, then raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from lastmile.cases.models import Case
from lastmile.cases.services import tag_names_checked
from lastmile.channels.replies import (
    REPLY_BODY_MAX,
    ChannelNotDeliverable,
    case_reply_send,
    channel_label,
    reply_default,
    reply_options,
)
from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from lastmile.core.events import event_emit
from lastmile.customers.models import Direction, Interaction
from lastmile.listening.models import Mention
from lastmile.listening.services.batch import channel_of
from lastmile.listening.services.replies import mention_case, mention_case_open
from lastmile.loops.models import Loop, LoopKind, LoopState
from lastmile.loops.services import loop_close, loop_open
from lastmile.macros.models import Macro
from lastmile.macros.services import macro_actions_apply, macro_render
from lastmile.people.models import Team
from lastmile.people.selectors import person_name
from lastmile.people.viewers import Actor
from lastmile.promises.checks import Verdict, verdicts_for
from lastmile.promises.selectors import policy_versions_effective
from lastmile.promises.services import PolicyConflict
from lastmile.responders.models import (
    Enrolment,
    ReplyState,
    ResponderEvent,
    ResponderReply,
    Target,
)
from lastmile.responders.selectors import (
    agent_in_team,
    approved_count,
    approver_of,
    case_not_simple,
    enrolment_expired,
    enrolment_of,
    may_decide,
    may_enrol,
)

NETWORK = re.compile(r"^[a-z0-9_]{1,30}$")
MAX_APPROVALS = 100
NOTE_MAX = 2000


class LimitRefused(DomainError):
    """403: the reply is outside one of the enrolment's limits, named by ``field``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(
            detail=f"outside your limits as a responder: {reason}",
            errors=[FieldError(field, reason)],
            code=ErrorCode.FORBIDDEN,
            status=403,
        )


class KeyReused(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(
            detail=f"the Idempotency-Key {key!r} was used for another reply; use a new key "
            "for each reply",
            errors=[FieldError("Idempotency-Key", "used before with another body")],
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            status=422,
        )


@dataclass
class _Refused(Exception):
    """A refusal to record (the attempt's row) before it is raised."""

    fields: dict[str, Any]
    error: DomainError


def _event(
    *,
    enrolment: Enrolment,
    kind: str,
    actor: Actor,
    now: datetime,
    reply: ResponderReply | None = None,
    data: dict[str, Any] | None = None,
) -> ResponderEvent:
    row = ResponderEvent.objects.create(
        enrolment=enrolment, reply=reply, kind=kind, actor=actor, at=now, data=data or {}
    )
    if reply is not None:
        event_emit(
            f"responder_reply.{kind}",
            {
                "reply": reply.pk,
                "responder": reply.responder.username,
                "team": enrolment.team.slug,
                "state": reply.state,
                "case": reply.case.ref if reply.case is not None else None,
                "mention": reply.mention_id,
            },
            at=now,
        )
    return row


# --- enrolments ------------------------------------------------------------------------------


def _networks_checked(networks: Any) -> list[str]:
    if not isinstance(networks, list | tuple):
        raise InvalidInput("networks: a list of network names", [FieldError("networks", "a list")])
    out: list[str] = []
    for i, raw in enumerate(networks):
        name = str(raw or "").strip().lower()
        if not NETWORK.match(name):
            raise InvalidInput(
                f"networks: {raw!r} is not a network name",
                [FieldError("networks", "lower-case letters, digits and _", index=i)],
            )
        if name not in out:
            out.append(name)
    return out


def _macros_checked(macros: list[Macro], team: Team) -> list[Macro]:
    for i, m in enumerate(macros):
        if m.team_id != team.pk:
            raise InvalidInput(
                f"{m.name!r} is not a saved response shared with {team.name}",
                [FieldError("macros", f"not one of {team.name}'s macros", index=i)],
            )
    return macros


def enrolment_check(
    *,
    user: User,
    team: Team,
    approver: User | None,
    networks: Any,
    case_replies: bool,
    macros: list[Macro] | None,
    simple_tag: str,
    simple_max_messages: int,
    approvals_needed: int,
    valid_until: datetime | None,
    now: datetime,
    was_valid_until: datetime | None = None,
) -> tuple[list[str], list[Macro], str]:
    """(networks, saved responses, tag) cleaned, or ``InvalidInput`` naming each bad field
    (the admin's form asks this before saving)."""
    errors: list[FieldError] = []
    nets = _networks_checked(list(networks or []))
    chosen = _macros_checked(list(macros or []), team)
    tag = ""
    if simple_tag:
        try:
            tag = tag_names_checked([simple_tag])[0]
        except InvalidInput as exc:
            errors.extend(FieldError("simple_tag", e.reason) for e in exc.errors)
    if not 0 <= approvals_needed <= MAX_APPROVALS:
        errors.append(FieldError("approvals_needed", f"from 0 to {MAX_APPROVALS}"))
    if simple_max_messages < 0:
        errors.append(FieldError("simple_max_messages", "0 (no limit) or more"))
    if approver is not None and approver.pk == user.pk:
        errors.append(FieldError("approver", "a responder does not approve their own replies"))
    if valid_until is not None and valid_until <= now and valid_until != was_valid_until:
        errors.append(FieldError("valid_until", "must be in the future"))
    if not nets and not case_replies:
        errors.append(FieldError("networks", "give a network, or allow case replies"))
    if errors:
        raise InvalidInput(f"the enrolment cannot be saved: {errors[0].reason}", errors)
    return nets, chosen, tag


def enrolment_save(
    *,
    enrolment: Enrolment | None = None,
    user: User,
    team: Team,
    actor: Actor,
    now: datetime,
    approver: User | None = None,
    networks: Any = (),
    case_replies: bool = False,
    macros: list[Macro] | None = None,
    free_text: bool = False,
    simple_tag: str = "",
    simple_max_messages: int = 4,
    approvals_needed: int = 5,
    active: bool = True,
    valid_until: datetime | None = None,
) -> Enrolment:
    """Enrol ``user`` (``enrolment=None``) or change an enrolment, by an admin or a lead of
    the sponsoring team (of both teams, when it moves). Checked: networks, the saved
    responses (the team's shared macros), the tag, the number of approvals (0-100), an end
    in the future. One enrolment per person (409 otherwise). Audited with what changed."""
    if actor is not None:
        if not may_enrol(viewer=actor, team=team):
            raise PermissionDenied(f"only a lead of {team.name} or an admin may enrol for it")
        if enrolment is not None and not may_enrol(viewer=actor, team=enrolment.team):
            raise PermissionDenied(
                f"only a lead of {enrolment.team.name} or an admin may change it"
            )
    nets, chosen, tag = enrolment_check(
        user=user,
        team=team,
        approver=approver,
        networks=networks,
        case_replies=case_replies,
        macros=macros,
        simple_tag=simple_tag,
        simple_max_messages=simple_max_messages,
        approvals_needed=approvals_needed,
        valid_until=valid_until,
        now=now,
        was_valid_until=enrolment.valid_until if enrolment is not None else None,
    )
    with transaction.atomic():
        creating = enrolment is None
        if creating:
            if Enrolment.objects.filter(user=user).exists():
                raise Conflict(
                    f"{user.username} is enrolled already; change that enrolment",
                    code=ErrorCode.DUPLICATE,
                    errors=[FieldError("user", "enrolled already")],
                )
            row = Enrolment(user=user, created_at=now, created_by=actor)
        else:
            assert enrolment is not None
            row = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
        before = _enrolment_facts(row) if not creating else {}
        row.team, row.approver, row.networks = team, approver, nets
        row.case_replies, row.free_text = case_replies, free_text
        row.simple_tag, row.simple_max_messages = tag, simple_max_messages
        row.approvals_needed, row.active, row.valid_until = approvals_needed, active, valid_until
        row.updated_at = now
        row.save()
        row.macros.set(chosen)
        after = _enrolment_facts(row)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if creating or changed:
            _event(
                enrolment=row,
                kind="enrolled" if creating else "changed",
                actor=actor,
                now=now,
                data=after if creating else changed,
            )
    return row


def _enrolment_facts(row: Enrolment) -> dict[str, Any]:
    return {
        "team": row.team.slug,
        "approver": row.approver.username if row.approver else None,
        "networks": list(row.networks or []),
        "case_replies": row.case_replies,
        "macros": sorted(row.macros.values_list("name", flat=True)) if row.pk else [],
        "free_text": row.free_text,
        "simple_tag": row.simple_tag,
        "simple_max_messages": row.simple_max_messages,
        "approvals_needed": row.approvals_needed,
        "active": row.active,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
    }


def enrolment_set_active(
    *, enrolment: Enrolment, active: bool, actor: Actor, now: datetime
) -> Enrolment:
    """Pause or resume an enrolment (a lead of its team or an admin); 409 if it already is."""
    if actor is not None and not may_enrol(viewer=actor, team=enrolment.team):
        raise PermissionDenied(f"only a lead of {enrolment.team.name} or an admin may do this")
    with transaction.atomic():
        changed = Enrolment.objects.filter(pk=enrolment.pk, active=not active).update(
            active=active, updated_at=now
        )
        if not changed:
            raise Conflict(f"the enrolment is {'active' if active else 'paused'} already")
        enrolment.refresh_from_db()
        _event(enrolment=enrolment, kind="resumed" if active else "paused", actor=actor, now=now)
    return enrolment


# --- replies ---------------------------------------------------------------------------------


def _said(text: str) -> str:
    return " ".join((text or "").split())


def reply_terms(
    *, target: str, channel: str, text: str, macro: Macro | None, edited: bool, team: Team
) -> dict[str, Any]:
    """What a policy reads of a guarded reply, as ``terms``: a reply policy says
    ``has(terms.reply)`` in its ``applies_when``, and may read ``terms.text`` (the reply as
    it would go), ``terms.channel``, ``terms.network``, ``terms.saved_response``,
    ``terms.free_text``, ``terms.target`` (mention or case) and ``terms.team``."""
    return {
        "reply": True,
        "responder": True,
        "target": target,
        "channel": channel,
        "network": channel.removeprefix("social:") if channel.startswith("social:") else "",
        "text": text,
        "saved_response": macro.name if macro is not None else "",
        "free_text": edited,
        "team": team.slug,
    }


def _latest_inbound_at(case: Case) -> datetime | None:
    return (
        Interaction.objects.filter(case=case, direction=Direction.INBOUND)
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", flat=True)
        .first()
    )


def _policy_refusal(verdicts: list[Verdict]) -> PolicyConflict:
    blocks = [v for v in verdicts if v.failed and v.severity == "block"]
    reasons = "; ".join(f"{v.title}: {v.text}" for v in blocks)
    return PolicyConflict(
        f"blocked by policy — {reasons}", code=ErrorCode.POLICY_BLOCKED, verdicts=verdicts
    )


def _refusal_of(row: ResponderReply) -> DomainError:
    """The refusal a refused or blocked attempt answered with (an Idempotency-Key replay)."""
    if row.state == ReplyState.BLOCKED:
        return _policy_refusal([Verdict(**v) for v in row.verdicts])
    return LimitRefused(row.limit, row.reason)


def reply_replay(row: ResponderReply, *, fingerprint: str) -> ResponderReply:
    """The answer to a reply sent again with the same key: the same row, or the same refusal;
    another body with the key is 422 ``idempotency_key_reused``."""
    if row.fingerprint != fingerprint:
        raise KeyReused(row.idempotency_key or "")
    if row.state in (ReplyState.REFUSED, ReplyState.BLOCKED):
        raise _refusal_of(row)
    return row


def reply_submit(
    *,
    responder: User,
    now: datetime,
    mention: Mention | None = None,
    case: Case | None = None,
    macro: Macro | None = None,
    body: str = "",
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> tuple[ResponderReply, bool]:
    """A responder's reply to a mention or on a case, and whether it is new.

    1. With an ``idempotency_key`` this responder used before: that reply again (or its
       refusal), nothing written (``reply_replay``).
    2. The limits of the enrolment (``LimitRefused``, 403, naming the limit): active, not
       past ``valid_until``; a mention on one of its networks and not on another team's
       case; a case reply only if allowed and on a simple case; a saved response of its
       list; free text (a text of one's own, or a saved response changed) only if allowed.
       A mention already answered, or a target with a reply waiting for the lead: 409.
    3. The policy check, the reply's words and facts as terms (``reply_terms``): a failed
       block refuses it (409 ``policy_blocked`` with the policy's text); a warning holds it.
    4. While fewer than ``approvals_needed`` of the responder's replies were approved, it is
       held for the lead. Otherwise it goes out now through ``case_reply_send``, as the
       responder's reply (a mention's on the case of its conversation with the brand,
       opened for the sponsoring team if it had none).
    A refusal (2, 3) is recorded as the attempt's row and an event, then raised; anything
    else refused (bad input, 404, 409) writes nothing.
    """
    if idempotency_key:
        found = ResponderReply.objects.filter(
            responder=responder, idempotency_key=idempotency_key
        ).first()
        if found is not None:
            return reply_replay(found, fingerprint=fingerprint), False
    try:
        with transaction.atomic():
            row = _submit(
                responder=responder,
                now=now,
                mention=mention,
                case=case,
                macro=macro,
                body=body,
                idempotency_key=idempotency_key or None,
                fingerprint=fingerprint,
            )
    except _Refused as refused:
        try:
            with transaction.atomic():
                row = ResponderReply.objects.create(**refused.fields)
                _event(
                    enrolment=row.enrolment,
                    reply=row,
                    kind=row.state,
                    actor=responder,
                    now=now,
                    data={"limit": row.limit, "reason": row.reason},
                )
        except IntegrityError:
            # The same key, recorded meanwhile by a request sent twice at once.
            found = ResponderReply.objects.get(responder=responder, idempotency_key=idempotency_key)
            return reply_replay(found, fingerprint=fingerprint), False
        raise refused.error from None
    except IntegrityError:
        if not idempotency_key:
            raise
        found = ResponderReply.objects.get(responder=responder, idempotency_key=idempotency_key)
        return reply_replay(found, fingerprint=fingerprint), False
    return row, True


def _submit(
    *,
    responder: User,
    now: datetime,
    mention: Mention | None,
    case: Case | None,
    macro: Macro | None,
    body: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> ResponderReply:
    enrolment = enrolment_of(responder)
    if enrolment is None:
        raise PermissionDenied("you are not enrolled as a responder")
    if (mention is None) == (case is None):
        raise InvalidInput(
            "reply to one mention or on one case",
            [FieldError("mention", "give a mention or a case")],
        )
    body = (body or "").strip()
    if len(body) > REPLY_BODY_MAX:
        raise InvalidInput(
            f"the text is {len(body)} characters long; the limit is {REPLY_BODY_MAX}",
            [FieldError("body", f"at most {REPLY_BODY_MAX} characters")],
        )
    if macro is None and not body:
        raise InvalidInput(
            "choose a saved response", [FieldError("macro", "choose one of your saved responses")]
        )
    fields: dict[str, Any] = {
        "enrolment": enrolment,
        "responder": responder,
        "team": enrolment.team,
        "target": Target.MENTION if mention is not None else Target.CASE,
        "mention": mention,
        "case": case,
        "macro": macro,
        "macro_name": macro.name if macro is not None else "",
        "body": body,
        "created_at": now,
        "idempotency_key": idempotency_key,
        "fingerprint": fingerprint,
    }

    def refuse(limit: str, reason: str) -> _Refused:
        return _Refused(
            {**fields, "state": ReplyState.REFUSED, "limit": limit, "reason": reason},
            LimitRefused(limit, reason),
        )

    team = enrolment.team
    if not enrolment.active:
        raise refuse("active", "your enrolment is paused")
    if enrolment_expired(enrolment, now=now):
        assert enrolment.valid_until is not None
        raise refuse("valid_until", f"your enrolment ended on {enrolment.valid_until:%d %b %Y}")
    if mention is not None:
        mention = (
            Mention.objects.select_for_update(of=("self",))
            .select_related("author", "case")
            .filter(pk=mention.pk)
            .first()
        )
        if mention is None:
            raise NotFound("mention")
        fields["mention"] = mention
        if mention.is_from_brand:
            raise Conflict("this is the brand's own post", code=ErrorCode.MENTION_FROM_BRAND)
        if mention.replied_at is not None or mention.handled_at is not None:
            raise Conflict(
                "this mention is answered or set aside already", code=ErrorCode.MENTION_HANDLED
            )
        fields["channel"] = channel_of(mention.network)
        fields["target_at"] = mention.posted_at
        if mention.network not in (enrolment.networks or []):
            allowed = ", ".join(enrolment.networks or []) or "none"
            raise refuse(
                "network", f"{mention.network} is not one of your networks (yours: {allowed})"
            )
        on = mention_case(mention)
        if on is not None and on.team_id is not None and on.team_id != team.pk:
            raise refuse("mention", f"the mention is on a case of {on.team or 'another team'}")
        if ResponderReply.objects.filter(mention=mention, state=ReplyState.HELD).exists():
            raise Conflict("a reply to this mention is waiting for the lead already")
    else:
        assert case is not None
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("customer", "team")
            .get(pk=case.pk)
        )
        fields["case"] = case
        if not enrolment.case_replies:
            raise refuse("case", "you may answer social mentions, not cases")
        why = case_not_simple(enrolment=enrolment, case=case)
        if why:
            raise refuse("case", f"not a simple case: {why}")
        if ResponderReply.objects.filter(case=case, state=ReplyState.HELD).exists():
            raise Conflict(f"a reply on {case.ref} is waiting for the lead already")
        fields["target_at"] = _latest_inbound_at(case)
    if macro is not None and not enrolment.macros.filter(pk=macro.pk).exists():
        raise refuse("macro", f"“{macro.name}” is not one of your saved responses")
    if macro is None and not enrolment.free_text:
        raise refuse("free_text", "choose one of your saved responses: free text is not allowed")

    # The case the reply goes on: a mention's conversation with the brand.
    if mention is not None:
        case = mention_case(mention) or mention_case_open(
            mention=mention, team=team, actor=responder, now=now
        )
        fields["case"] = case
    assert case is not None
    text = body
    edited = macro is None
    if macro is not None:
        rendered = macro_render(macro=macro, case=case, agent=responder, now=now).strip()
        edited = bool(body) and _said(body) != _said(rendered)
        text = body if edited else rendered
        if edited and not enrolment.free_text:
            raise refuse(
                "free_text", f"send “{macro.name}” as it is: changing its text is not allowed"
            )
    fields["body"], fields["edited"] = text, edited
    if mention is None:
        options = reply_options(case=case)
        option = reply_default(case=case, options=options)
        if not option.delivers and not option.channel.startswith("social:"):
            raise ChannelNotDeliverable(
                option.channel,
                f"nothing can send a reply on {channel_label(option.channel)} for {case.ref}; "
                "an agent answers this case",
            )
        fields["channel"] = option.channel

    verdicts = verdicts_for(
        policy_versions_effective(now=now),
        terms=reply_terms(
            target=fields["target"],
            channel=fields["channel"],
            text=text,
            macro=macro,
            edited=edited,
            team=team,
        ),
        customer=dict(case.customer.attributes or {}),
    )
    fields["verdicts"] = [v.as_dict() for v in verdicts]
    if any(v.failed and v.severity == "block" for v in verdicts):
        error = _policy_refusal(verdicts)
        raise _Refused(
            {**fields, "state": ReplyState.BLOCKED, "limit": "policy", "reason": error.detail},
            error,
        )
    hold: list[str] = []
    reasons: list[str] = []
    warned = [v for v in verdicts if v.failed and v.severity == "warn"]
    if warned:
        hold.append("policy_warning")
        reasons.append("policy warning — " + "; ".join(f"{v.title}: {v.text}" for v in warned))
    approved = approved_count(enrolment)
    if approved < enrolment.approvals_needed:
        hold.append("first_replies")
        # Worded as of the moment it was held: the approved count moves on as the lead
        # approves, so the pages show the live count beside it (``approved_now``).
        reasons.append(
            f"one of the first {enrolment.approvals_needed} replies the lead approves "
            f"({approved} approved when it was held)"
        )
    if hold:
        lead = approver_of(enrolment)
        row = ResponderReply.objects.create(
            **fields, state=ReplyState.HELD, hold=hold, reason="; ".join(reasons)
        )
        row.approval_loop = _approval_task(row, lead=lead, now=now)
        row.save(update_fields=["approval_loop"])
        told = _tell_lead(row, lead=lead, now=now)
        _event(
            enrolment=enrolment,
            reply=row,
            kind="held",
            actor=responder,
            now=now,
            data={"hold": hold, "approver": lead.username if lead else None, "told": told},
        )
        return row
    row = ResponderReply.objects.create(**fields, state=ReplyState.SENT)
    _send(row, now=now)
    return row


def _approval_task(row: ResponderReply, *, lead: User | None, now: datetime) -> Loop:
    """The lead's task to decide a held reply: on its case, for the sponsoring team, assigned
    to the approver when they work in the team (else the team's, unassigned)."""
    case = row.case
    assert case is not None
    assignee = lead if lead is not None and agent_in_team(lead, row.team) else None
    who = person_name(row.responder)
    return loop_open(
        customer=case.customer,
        case=case,
        kind=LoopKind.TASK,
        title=f"Approve {who}'s reply (guarded responder, reply #{row.pk}): {row.body}"[:300],
        team=row.team,
        assignee=assignee,
        actor=row.responder,
        reason=f"held for the lead: {row.reason}"[:500],
        now=now,
    )


def _public(path: str) -> str:
    return f"{str(settings.LASTMILE_PUBLIC_URL).rstrip('/')}{path}"


def _tell_lead(row: ResponderReply, *, lead: User | None, now: datetime) -> str:
    """An email to whoever decides the held reply (the enrolment's approver, else the team's
    lead; neither or no address: the team's address) through the outbox, in the reply's
    transaction, keyed by the reply so that it goes once. Who was told ("" for nobody)."""
    team = row.team
    recipient = (lead.email if lead is not None else "") or team.email
    if not recipient:
        return ""
    who = person_name(row.responder)
    if row.mention is not None:
        target = f"@{row.mention.author.handle}'s {row.mention.network} mention"
    else:
        assert row.case is not None
        target = f"case {row.case.ref}"
    outbox_enqueue(
        [
            outbox_message(
                key=f"responder-reply:{row.pk}:held",
                purpose="notification",
                recipient=recipient,
                subject=f"[approval] {who}'s reply to {target} waits for you"[:300],
                body=(
                    f"{who}, a guarded responder for {team.name}, replied to {target}"
                    + (f" with the saved response “{row.macro_name}”" if row.macro_name else "")
                    + f". The reply is held: {row.reason}.\n\n{row.body}\n\n"
                    f"Approve or return it: {_public('/responders/approvals/')}\n"
                ),
                data={"responder_reply": row.pk},
                now=now,
            )
        ]
    )
    return recipient


def _approval_task_finish(row: ResponderReply, *, actor: Actor, reason: str, now: datetime) -> None:
    loop = row.approval_loop
    if loop is not None and loop.state == LoopState.OPEN:
        loop_close(loop=loop, actor=actor, reason=reason[:500], now=now)


def _send(row: ResponderReply, *, now: datetime) -> None:
    """Out through the agent's reply service, as the responder's words: delivered where a
    route delivers on the channel; on a social network without one, recorded as the brand's
    reply given there (``log_only``, as the composer does)."""
    case = row.case
    if case is None:
        raise Conflict("the case of this reply is gone")
    delivering = {o.channel for o in reply_options(case=case) if o.delivers}
    sent = case_reply_send(
        case=case,
        channel=row.channel,
        body=row.body,
        actor=row.responder,
        now=now,
        log_only=row.channel not in delivering and row.channel.startswith("social:"),
    )
    # The saved response's field actions (pause, tag, status), through the macros service
    # the console's reply uses (its ``reply.sent`` handler), in this transaction: a refusal
    # there undoes the reply. Called here rather than by passing the macro to
    # ``case_reply_send``, whose handler looks the macro up as the sender sees macros: a
    # responder from outside the team does not, and the enrolment already allowed it.
    done: list[str] = []
    if row.macro is not None:
        done = macro_actions_apply(
            macro=row.macro, case=case, actor=row.responder, now=now, channel=row.channel
        )
    row.interaction = sent.interaction
    row.delivery = sent.delivery.value
    row.sent_at = now
    row.save(update_fields=["interaction", "delivery", "sent_at"])
    _event(
        enrolment=row.enrolment,
        reply=row,
        kind="sent",
        actor=row.responder,
        now=now,
        data={
            "delivery": row.delivery,
            "interaction": sent.interaction.pk,
            "said": sent.said,
            "actions": done,
        },
    )


def _claim_held(reply: ResponderReply, actor: Actor) -> ResponderReply:
    fresh = (
        ResponderReply.objects.select_for_update(of=("self",))
        .select_related(
            "enrolment", "enrolment__team", "responder", "case", "mention", "approval_loop"
        )
        .get(pk=reply.pk)
    )
    if fresh.state != ReplyState.HELD:
        raise Conflict(
            f"reply #{fresh.pk} is {fresh.get_state_display().lower()}, not waiting for the lead"
        )
    if actor is not None and not may_decide(viewer=actor, enrolment=fresh.enrolment):
        raise PermissionDenied(
            f"only a lead of {fresh.enrolment.team.name} or an admin decides this reply"
        )
    return fresh


def reply_approve(*, reply: ResponderReply, actor: Actor, now: datetime) -> ResponderReply:
    """The lead approves a held reply: it goes out now through the normal path (``_send``).
    409 if it is not held, or if its mention was answered or set aside meanwhile (return
    it instead); 403 for anyone but a lead of the team, the approver or an admin."""
    with transaction.atomic():
        fresh = _claim_held(reply, actor)
        if fresh.mention is not None:
            m = Mention.objects.filter(pk=fresh.mention.pk).values("replied_at", "handled_at")
            state = m.first()
            if state and (state["replied_at"] or state["handled_at"]):
                raise Conflict(
                    "the mention was answered or set aside meanwhile: return this reply",
                    code=ErrorCode.MENTION_HANDLED,
                )
        fresh.state, fresh.decided_by, fresh.decided_at = ReplyState.SENT, actor, now
        fresh.save(update_fields=["state", "decided_by", "decided_at"])
        _event(enrolment=fresh.enrolment, reply=fresh, kind="approved", actor=actor, now=now)
        # The task is done before the reply goes: a saved response that solves the case
        # must not find the lead's own task open on it. One transaction: if the sending is
        # refused, the task is open again.
        _approval_task_finish(
            fresh, actor=actor, reason=f"reply approved by {person_name(actor)} and sent", now=now
        )
        _send(fresh, now=now)
    return fresh


def reply_return(
    *, reply: ResponderReply, actor: Actor, note: str, now: datetime
) -> ResponderReply:
    """The lead returns a held reply with a note (required): nothing is sent, the responder
    reads why, and the mention or case is theirs to answer again."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput("say why it is returned", [FieldError("note", "must not be empty")])
    if len(note) > NOTE_MAX:
        raise InvalidInput(
            f"the note is over {NOTE_MAX} characters", [FieldError("note", f"at most {NOTE_MAX}")]
        )
    with transaction.atomic():
        fresh = _claim_held(reply, actor)
        fresh.state, fresh.decided_by, fresh.decided_at = ReplyState.RETURNED, actor, now
        fresh.note = note
        fresh.save(update_fields=["state", "decided_by", "decided_at", "note"])
        _event(
            enrolment=fresh.enrolment,
            reply=fresh,
            kind="returned",
            actor=actor,
            now=now,
            data={"note": note},
        )
        _approval_task_finish(
            fresh, actor=actor, reason=f"reply returned by {person_name(actor)}: {note}", now=now
        )
    return fresh


def on_approval_loop_finished(name: str, data: dict[str, Any], at: datetime) -> None:
    """A held reply's approval task finishes only with the lead's decision (``reply_approve``
    or ``reply_return``, which decide the reply before they close the task): closing,
    cancelling or breaking it anywhere else (the console, the API, the admin) while the reply
    is held is refused, so that no reply is left held behind a closed task. Subscribed in
    ``apps.ready``; runs inside the loop's transaction, so raising refuses the change."""
    if name not in ("loop.closed", "loop.cancelled", "loop.broken") or data.get("kind") != (
        LoopKind.TASK
    ):
        return
    loop_id = data.get("loop")
    if not isinstance(loop_id, int):
        return
    held = (
        ResponderReply.objects.filter(approval_loop_id=loop_id, state=ReplyState.HELD)
        .select_related("responder")
        .first()
    )
    if held is None:
        return
    raise Conflict(
        f"reply #{held.pk} by {person_name(held.responder)} waits for a decision: approve or "
        "return it on the approvals page (/responders/approvals/); the decision closes this "
        "task"
    )
