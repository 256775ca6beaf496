"""Macros: save them (placeholders checked), fill them for a case, and act on send.

Every write is here; the admin and the console call these. The field actions run when a
reply made with the macro is sent (``reply.sent``, told by ``channels.replies`` inside the
reply's transaction), so "reply and solve" is one step that happens whole or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.services import case_set_status, case_tags_set, tag_names_checked
from lastmile.core.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.loops.models import LoopKind
from lastmile.loops.reactions import reply_loop_title
from lastmile.loops.selectors import loops_open_on_case
from lastmile.loops.services import loop_open, loop_pause
from lastmile.macros.models import Macro
from lastmile.macros.placeholders import PLACEHOLDERS, placeholders_fill, placeholders_unknown
from lastmile.macros.selectors import macro_get, macro_teams_managed
from lastmile.people.models import Team
from lastmile.people.viewers import SYSTEM, Actor

NAME_MAX = 100
BODY_MAX = 10_000  # a macro's text must fit in a reply (channels.replies.REPLY_BODY_MAX)
PAUSE_REASON = "waiting on the customer (macro {name})"


def macro_check(
    *,
    name: str,
    body: str,
    set_status: str = "",
    add_tag: str = "",
    pause_reply_loop: bool = False,
) -> tuple[str, str, str]:
    """(name, body, tag) cleaned, or ``InvalidInput`` naming each bad field: an empty or long
    name or text, an unknown placeholder (with the list of known ones), an unknown status, a
    tag the cases app would refuse, a pause with a status that ends the case (a case
    waiting on the customer is not solved or closed)."""
    name, body = (name or "").strip(), (body or "").strip()
    errors = []
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > NAME_MAX:
        errors.append(FieldError("name", f"at most {NAME_MAX} characters"))
    if not body:
        errors.append(FieldError("body", "must not be empty"))
    elif len(body) > BODY_MAX:
        errors.append(FieldError("body", f"at most {BODY_MAX} characters"))
    unknown = placeholders_unknown(body)
    if unknown:
        errors.append(
            FieldError(
                "body",
                f"unknown placeholder{'s' if len(unknown) > 1 else ''} "
                + ", ".join("{{" + u + "}}" for u in unknown)
                + "; known: "
                + ", ".join("{{" + k + "}}" for k in PLACEHOLDERS),
            )
        )
    if set_status and set_status not in CaseStatus.values:
        errors.append(FieldError("set_status", f"one of {', '.join(CaseStatus.values)}"))
    elif pause_reply_loop and set_status in (CaseStatus.SOLVED, CaseStatus.CLOSED):
        errors.append(
            FieldError(
                "pause_reply_loop",
                f"waiting on the customer is not {set_status}: pause, or set pending",
            )
        )
    tag = ""
    try:
        tag = next(iter(tag_names_checked([add_tag])), "")
    except InvalidInput as exc:
        errors.extend(FieldError("add_tag", e.reason) for e in exc.errors)
    if errors:
        raise InvalidInput("the macro cannot be saved: " + errors[0].reason, errors)
    return name, body, tag


def _may_write(actor: Actor, *, owner: Any, team: Team | None) -> None:
    """A personal macro is written by its owner (or an admin); a shared one by a lead of
    its team or an admin (``macro_teams_managed``). ``None`` (no person) may write any."""
    if actor is None:
        return
    managed = macro_teams_managed(viewer=actor)
    if owner is not None and owner.pk != actor.pk and managed is not None:
        raise PermissionDenied("a personal macro is written by its owner")
    if team is not None and managed is not None and team.pk not in managed:
        raise PermissionDenied(
            f"only a lead of {team.name} or an admin may write the macros it shares"
        )


def macro_save(
    *,
    macro: Macro | None = None,
    name: str,
    body: str,
    owner: Any = None,
    team: Team | None = None,
    set_status: str = "",
    add_tag: str = "",
    pause_reply_loop: bool = False,
    actor: Actor,
    now: datetime,
) -> Macro:
    """Create (``macro=None``) or change a macro: checked, personal xor shared with a team,
    written only by its owner, or by a lead of its team (admins: any)."""
    name, body, tag = macro_check(
        name=name,
        body=body,
        set_status=set_status,
        add_tag=add_tag,
        pause_reply_loop=pause_reply_loop,
    )
    if (owner is None) == (team is None):
        raise InvalidInput(
            "a macro is either personal (an owner) or shared with one team",
            [FieldError("team", "give an owner or a team, not both or neither")],
        )
    if macro is not None and macro.pk:
        _may_write(actor, owner=macro.owner, team=macro.team)
    _may_write(actor, owner=owner, team=team)
    row = macro or Macro()
    row.name, row.body, row.owner, row.team = name, body, owner, team
    row.set_status, row.add_tag, row.pause_reply_loop = set_status, tag, pause_reply_loop
    row.updated_at = now
    if row.pk is None:
        row.created_by = actor
    with transaction.atomic():
        row.save()
    return row


def macro_delete(*, macro: Macro, actor: Actor) -> None:
    """Delete a macro, by whoever may write it. Replies already sent with it keep their
    text; the macro's field actions were applied when they were sent."""
    _may_write(actor, owner=macro.owner, team=macro.team)
    with transaction.atomic():
        macro.delete()


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name) if name else timezone.get_current_timezone()
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.get_current_timezone()


def macro_values(*, case: Case, agent: Any, now: datetime) -> dict[str, str]:
    """What each placeholder stands for on ``case``, written by ``agent``."""
    customer = case.customer
    name = (customer.display_name or "").strip()
    zone = _zone(customer.timezone)
    reply = next(
        (lp for lp in loops_open_on_case(case=case) if lp.kind == LoopKind.REPLY and lp.due_at),
        None,
    )
    agent_name = ""
    if agent is not None:
        agent_name = agent.get_full_name() or agent.get_username()
    return {
        "customer.first_name": name.split()[0] if name else "",
        "customer.name": name,
        "case.ref": case.ref,
        "case.subject": case.subject,
        "agent.name": agent_name,
        "agent.first_name": (agent.first_name or agent_name) if agent is not None else "",
        "team.name": case.team.name if case.team is not None else "",
        "loop.due": (
            reply.due_at.astimezone(zone).strftime("%a %-d %b, %H:%M")
            if reply is not None and reply.due_at is not None
            else ""
        ),
        "today": now.astimezone(zone).strftime("%a %-d %b %Y"),
    }


def macro_render(*, macro: Macro, case: Case, agent: Any, now: datetime) -> str:
    """The macro's text for this case (plain text; the page escapes it)."""
    return placeholders_fill(macro.body, macro_values(case=case, agent=agent, now=now))


def macro_actions_apply(
    *, macro: Macro, case: Case, actor: Actor, now: datetime, channel: str = ""
) -> list[str]:
    """The macro's field actions on ``case``, through the services that own them; what was
    done, in words. Called in the reply's transaction: a refusal undoes the reply too.

    "Pause the reply loop" means waiting on the customer: the reply has closed the reply
    loop it answered, so a reply loop is kept open on the case (the one still open, else a
    new one on ``channel``) with its clock stopped; when the customer writes, the loops app
    restarts that loop's clock (and the next reply closes it)."""
    done = []
    if macro.pause_reply_loop:
        reason = PAUSE_REASON.format(name=macro.name)
        open_reply = [lp for lp in loops_open_on_case(case=case) if lp.kind == LoopKind.REPLY]
        if not open_reply:
            open_reply = [
                loop_open(
                    customer=case.customer,
                    case=case,
                    kind=LoopKind.REPLY,
                    title=reply_loop_title(
                        answered=True, customer=case.customer, channel=channel or case.channel
                    )[:300],
                    channel=channel or case.channel,
                    team=case.team,
                    assignee=case.assignee,
                    actor=actor,
                    reason=reason,
                    now=now,
                )
            ]
        for loop in open_reply:
            if loop.paused_at is None:
                loop_pause(loop=loop, actor=actor, reason=reason, now=now)
        done.append("waiting on the customer (reply loop paused)")
    if macro.add_tag:
        case_tags_set(case=case, add=[macro.add_tag], actor=actor, now=now)
        done.append(f"tagged {macro.add_tag}")
    if macro.set_status:
        case_set_status(case=case, status=macro.set_status, actor=actor, now=now)
        done.append(f"status set to {CaseStatus(macro.set_status).label.lower()}")
    return done


def on_reply_sent(name: str, data: dict[str, Any], at: datetime) -> None:
    """``reply.sent``: apply the field actions of the macro the reply was written with."""
    if not data.get("macro"):
        return
    actor = data.get("actor")
    try:
        macro = macro_get(macro_id=int(data["macro"]), viewer=actor or SYSTEM)
    except NotFound:
        raise InvalidInput(
            "the macro used is gone or not yours", [FieldError("macro", "not found")]
        ) from None
    sent = data.get("sent")
    interaction = getattr(sent, "interaction", None)
    macro_actions_apply(
        macro=macro,
        case=data["case"],
        actor=actor,
        now=data["now"],
        channel=getattr(interaction, "channel", ""),
    )
