"""An agent's reply on a case: sent on a channel that can deliver it, or logged, and said so.

Apps that can carry a reply register a :class:`ReplyRoute` (the mail app: email on a case that
is an email thread; the webhooks app: SMS, WhatsApp and chat back through the integration the
customer wrote on). This module carries the portal's own: the customer reads an answer on
their request's page once they have written there. A route answers two questions for a case:
which channels it can deliver on (``options``), and how to send on one (``send``).

A channel no route delivers on (phone, web, app, field, a social network without an
integration) is never "sent": the agent may only *log* a reply given elsewhere (a call, a
visit, a DM written in the network's own app). A logged reply is on the timeline marked
``{"delivery": "logged"}``; it does close the case's reply loops — the customer was answered,
only not through lastmile — and the loop's trail says "reply logged … not sent by lastmile".
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from lastmile.core.errors import Conflict, DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.core.events import event_emit
from lastmile.customers.models import Channel, Direction, Interaction
from lastmile.people.viewers import Actor

if TYPE_CHECKING:
    from lastmile.cases.models import Case

# The longest reply or note the server takes (the messaging integrations' limit; email takes
# the same, so a reply never fits one channel and not another). Forms and the API say it.
REPLY_BODY_MAX = 10_000
# Channels a reply given elsewhere may be logged on; social networks come from the case's
# own messages. Not the portal: the customer reads it, so a reply there is always posted
# (offered once they wrote there), never "logged, not sent".
LOGGABLE = tuple(c.value for c in Channel if c not in (Channel.SOCIAL, Channel.API, Channel.PORTAL))
# Where a logged reply's marker lives in its interaction's data.
LOGGED = "logged"


class Delivery(StrEnum):
    """What became of a reply."""

    QUEUED = "queued"  # in the outbox, a worker delivers it (email, messaging)
    POSTED = "posted"  # visible to the customer now (the portal)
    LOGGED = "logged"  # recorded as given elsewhere; lastmile sent nothing


class ChannelNotDeliverable(DomainError):
    def __init__(self, channel: str, detail: str) -> None:
        super().__init__(
            detail=detail,
            errors=[FieldError("channel", f"nothing can deliver a reply on {channel} here")],
            code=ErrorCode.CHANNEL_NOT_DELIVERABLE,
            status=422,
        )


@dataclass(frozen=True)
class OutgoingFile:
    """A file an agent attaches to a reply."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class FileLimits:
    """What a route accepts as attachments (the mail app's settings)."""

    max_bytes: int
    max_count: int
    types: frozenset[str]


@dataclass(frozen=True)
class ReplySent:
    """What happened: the timeline row, how it went, the outbox row, a sentence for the agent."""

    interaction: Interaction
    delivery: Delivery
    outbox_id: int | None
    said: str


@dataclass(frozen=True)
class ReplyOption:
    """One entry of the composer's "via" list."""

    channel: str
    label: str
    delivers: bool
    takes_files: bool = False

    @property
    def value(self) -> str:
        """The form's value: the channel, or ``log:<channel>`` for a reply given elsewhere."""
        return self.channel if self.delivers else f"log:{self.channel}"


@dataclass(frozen=True)
class ReplyRoute:
    """``options(*, case) -> [(channel, label)]`` it can deliver on now;
    ``send(*, case, channel, body, files, actor, now) -> ReplySent``;
    ``files() -> FileLimits`` when it carries attachments."""

    name: str
    options: Callable[..., list[tuple[str, str]]]
    send: Callable[..., ReplySent]
    files: Callable[[], FileLimits] | None = None


_routes: dict[str, ReplyRoute] = {}


def reply_route_register(route: ReplyRoute) -> None:
    """Register (or replace, by name: ``ready()`` may run twice) a reply route."""
    _routes[route.name] = route


def reply_routes() -> list[ReplyRoute]:
    return list(_routes.values())


def channel_label(channel: str) -> str:
    if channel.startswith("social:"):
        return channel.split(":", 1)[1].replace("_", " ").title()
    try:
        return str(Channel(channel).label)
    except ValueError:
        return channel or "—"


# --- the portal's own route -------------------------------------------------------------------


def _portal_options(*, case: Case) -> list[tuple[str, str]]:
    # The customer wrote here lately: they use the portal, and read our answers there.
    wrote = Channel.PORTAL.value in _latest_inbound_channels(case)
    return [(Channel.PORTAL.value, "Portal — on their request's page")] if wrote else []


def _portal_send(
    *,
    case: Case,
    channel: str,
    body: str,
    files: Sequence[OutgoingFile],
    actor: Actor,
    now: datetime,
) -> ReplySent:
    from lastmile.customers.services.timeline import interaction_record

    row = interaction_record(
        customer=case.customer,
        case=case,
        channel=Channel.PORTAL,
        direction=Direction.OUTBOUND,
        occurred_at=now,
        now=now,
        body=body,
        actor=actor,
        data={"delivery": Delivery.POSTED.value},
    )
    return ReplySent(
        row, Delivery.POSTED, None, "Posted on the portal: the customer reads it there."
    )


reply_route_register(ReplyRoute(name="portal", options=_portal_options, send=_portal_send))


# --- what the composer offers -----------------------------------------------------------------


def reply_options(*, case: Case) -> list[ReplyOption]:
    """Every channel a reply on ``case`` may go on: first those that deliver, each once, in
    the routes' order; then every other channel, offered only to log a reply given elsewhere."""
    options: list[ReplyOption] = []
    for route in _routes.values():
        for channel, label in route.options(case=case):
            if all(o.channel != channel for o in options):
                options.append(ReplyOption(channel, label, True, route.files is not None))
    delivering = {o.channel for o in options}
    # Social networks the customer wrote on here (the latest messages are enough).
    social = sorted(
        {c for c in _latest_inbound_channels(case) if c.startswith("social:")}
        | ({case.channel} if case.channel.startswith("social:") else set())
    )
    for channel in [*LOGGABLE, *social]:
        if channel not in delivering:
            label = f"{channel_label(channel)} — log a reply sent elsewhere (not sent)"
            options.append(ReplyOption(channel, label, False))
    return options


def _latest_inbound_channels(case: Case) -> list[str]:
    """The channels of the customer's latest messages on the case, newest first (cached on
    the case object: the options and the default both ask)."""
    cached = getattr(case, "_reply_latest_inbound", None)
    if cached is None:
        cached = list(
            Interaction.objects.filter(case=case, direction=Direction.INBOUND)
            .order_by("-occurred_at", "-id")
            .values_list("channel", flat=True)[:50]
        )
        case._reply_latest_inbound = cached  # type: ignore[attr-defined]
    return cached


def reply_default(*, case: Case, options: Sequence[ReplyOption]) -> ReplyOption:
    """The channel of the customer's latest message that can be answered; else the first that
    delivers; else logging on the case's own channel."""
    delivering = {o.channel: o for o in options if o.delivers}
    for channel in _latest_inbound_channels(case):
        if channel in delivering:
            return delivering[channel]
    if delivering:
        return next(iter(delivering.values()))
    logged = {o.channel: o for o in options}
    return logged.get(case.channel) or logged.get(Channel.PHONE.value) or options[0]


# --- sending ----------------------------------------------------------------------------------

log = logging.getLogger(__name__)

# What to undo outside the database if the reply being sent is rolled back (files a route
# wrote to storage): ``transaction.on_commit`` cannot tell a rollback, so ``case_reply_send``
# runs these when its transaction fails.
_undo: ContextVar[list[Callable[[], None]] | None] = ContextVar("reply_undo", default=None)


def reply_on_rollback(undo: Callable[[], None]) -> None:
    """Run ``undo`` if the reply being sent (``case_reply_send``) is rolled back; outside a
    reply, nothing is registered (the caller cleans up after its own transaction)."""
    hooks = _undo.get()
    if hooks is not None:
        hooks.append(undo)


def _undo_all(hooks: list[Callable[[], None]]) -> None:
    for undo in hooks:
        try:
            undo()
        except Exception:  # a cleanup that fails must not hide why the reply failed
            log.exception("undoing a rolled-back reply's side effect failed")


def _body_checked(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise InvalidInput("write something before sending", [FieldError("body", "is empty")])
    if len(body) > REPLY_BODY_MAX:
        raise InvalidInput(
            f"the text is {len(body)} characters long; the limit is {REPLY_BODY_MAX}",
            [FieldError("body", f"at most {REPLY_BODY_MAX} characters")],
        )
    return body


def files_checked(files: Sequence[OutgoingFile], limits: FileLimits) -> None:
    """Refuse attachments over the route's limits, naming the file and the limit."""
    if len(files) > limits.max_count:
        raise InvalidInput(
            f"at most {limits.max_count} attachments per reply",
            [FieldError("attachments", f"{len(files)} given, at most {limits.max_count}")],
        )
    for i, f in enumerate(files):
        ctype = (f.content_type or "").split(";")[0].strip().lower()
        # "invoice.pdf.exe" sent as application/pdf: the name decides how it opens, so it
        # must be of an allowed type too.
        guessed = (mimetypes.guess_type(f.filename)[0] or "").lower()
        if guessed and guessed not in limits.types:
            ctype = guessed
        if ctype not in limits.types:
            raise InvalidInput(
                f"{f.filename}: files of type {ctype or 'unknown'} cannot be attached",
                [FieldError("attachments", f"type {ctype or 'unknown'} is not allowed", index=i)],
            )
        if len(f.content) > limits.max_bytes:
            raise InvalidInput(
                f"{f.filename} is {len(f.content)} bytes; the limit is {limits.max_bytes}",
                [FieldError("attachments", f"over {limits.max_bytes} bytes", index=i)],
            )


# Room a request keeps for what surrounds its files (the form's fields, the JSON).
REQUEST_ROOM_BYTES = 64 * 1024


def reply_file_limits(*, base64: bool = False) -> FileLimits | None:
    """The attachment limits of the route that carries files (email), if any, capped by what
    fits in one request: ``LASTMILE_MAX_BODY_BYTES`` less 64 KB for the rest of it (a bigger
    body is refused 413 before it is read), three quarters of that with ``base64`` (the
    API's JSON, where base64 takes a third more)."""
    for route in _routes.values():
        if route.files is not None:
            limits = route.files()
            room = max(settings.LASTMILE_MAX_BODY_BYTES - REQUEST_ROOM_BYTES, 0)
            if base64:
                room = room * 3 // 4
            return replace(limits, max_bytes=min(limits.max_bytes, room))
    return None


def case_reply_send(
    *,
    case: Case,
    channel: str,
    body: str,
    actor: Actor,
    now: datetime,
    files: Sequence[OutgoingFile] = (),
    log_only: bool = False,
    macro: int | None = None,
) -> ReplySent:
    """Send the reply on ``channel`` through the route that delivers there, or, with
    ``log_only``, record it as given elsewhere. One transaction.

    1. The body is checked (not empty, at most ``REPLY_BODY_MAX``).
    2. ``log_only``: the reply is recorded as logged (no attachments: nothing carries them).
       Otherwise the route offering ``channel`` for this case sends it; no route:
       ``ChannelNotDeliverable`` (422, ``channel_not_deliverable``) and nothing is written.
    3. ``reply.sent`` is told (internal) with the macro the agent used, so the macros app
       applies its field actions in the same transaction.

    A refusal at any step writes nothing: what a route wrote outside the database (files)
    and registered with ``reply_on_rollback`` is undone when the transaction fails.
    """
    body = _body_checked(body)
    channel = (channel or "").strip()
    if not channel:
        raise InvalidInput("choose a channel", [FieldError("channel", "is required")])
    hooks: list[Callable[[], None]] = []
    token = _undo.set(hooks)
    try:
        return _reply_send(
            case=case,
            channel=channel,
            body=body,
            actor=actor,
            now=now,
            files=files,
            log_only=log_only,
            macro=macro,
        )
    except BaseException:
        _undo_all(hooks)
        raise
    finally:
        _undo.reset(token)


def _reply_send(
    *,
    case: Case,
    channel: str,
    body: str,
    actor: Actor,
    now: datetime,
    files: Sequence[OutgoingFile],
    log_only: bool,
    macro: int | None,
) -> ReplySent:
    with transaction.atomic():
        if log_only:
            if files:
                raise InvalidInput(
                    "a logged reply carries no attachments: nothing sends them",
                    [FieldError("attachments", "only with a reply that is sent")],
                )
            sent = _log(case=case, channel=channel, body=body, actor=actor, now=now)
        else:
            route = next(
                (r for r in _routes.values() if channel in dict(r.options(case=case))), None
            )
            if route is None:
                raise ChannelNotDeliverable(
                    channel,
                    f"a reply on {channel_label(channel)} cannot be sent from here for "
                    f"{case.ref}; log it as given elsewhere, or choose a channel that delivers",
                )
            if files:
                if route.files is None:
                    raise InvalidInput(
                        f"attachments cannot go on {channel_label(channel)}",
                        [FieldError("attachments", "only by email")],
                    )
                files_checked(files, route.files())
            sent = route.send(
                case=case, channel=channel, body=body, files=files, actor=actor, now=now
            )
        event_emit(
            "reply.sent",
            {"case": case, "sent": sent, "actor": actor, "macro": macro, "now": now},
            at=now,
            internal=True,
        )
    return sent


def _log(*, case: Case, channel: str, body: str, actor: Actor, now: datetime) -> ReplySent:
    from lastmile.customers.services.timeline import interaction_record

    network = channel.removeprefix("social:")
    if channel not in LOGGABLE and not (
        channel.startswith("social:") and network and network.replace("_", "").isalnum()
    ):
        raise InvalidInput(
            f"unknown channel {channel!r}",
            [FieldError("channel", f"one of {', '.join(LOGGABLE)}, or social:<network>")],
        )

    row = interaction_record(
        customer=case.customer,
        case=case,
        channel=channel,
        direction=Direction.OUTBOUND,
        occurred_at=now,
        now=now,
        body=body,
        actor=actor,
        data={"delivery": LOGGED},
    )
    said = f"Logged a reply given on {channel_label(channel)}: not sent by lastmile."
    return ReplySent(row, Delivery.LOGGED, None, said)


def case_note_add(*, case: Case, body: str, actor: Actor, now: datetime) -> Interaction:
    """An internal note on the case (the customer never sees it)."""
    from lastmile.customers.services.timeline import interaction_record

    return interaction_record(
        customer=case.customer,
        case=case,
        channel=Channel.WEB,
        direction=Direction.NOTE,
        occurred_at=now,
        now=now,
        body=_body_checked(body),
        actor=actor,
    )


def interactions_since(*, case: Case, after_id: int, viewer_actor: Actor) -> list[Interaction]:
    """The collision check: what the customer wrote on ``case`` (not auto-replies) and what
    colleagues replied or noted, after the interaction ``after_id``, oldest first. The
    writer's own messages do not count."""
    rows = (
        Interaction.objects.filter(case=case, pk__gt=after_id)
        .select_related("actor", "customer")
        .order_by("id")[:20]
    )
    out = []
    for i in rows:
        if i.direction == Direction.INBOUND:
            if not (isinstance(i.data, dict) and i.data.get("automated") is True):
                out.append(i)
        elif i.actor_id is not None and (viewer_actor is None or i.actor_id != viewer_actor.pk):
            out.append(i)
    return out


class NewerMessages(Conflict):
    """409 ``newer_messages``: the customer or a colleague wrote on the case since the newest
    message the writer had seen; ``arrived`` are those messages, oldest first."""

    def __init__(self, case: Case, seen: int, arrived: list[Interaction]) -> None:
        newest = arrived[-1].pk
        super().__init__(
            f"{len(arrived)} message{'s' if len(arrived) != 1 else ''} arrived on {case.ref} "
            f"since {seen}: {arrived_said(arrived)}. Read them, then send again with "
            f'"seen": {newest}, or with "force": true',
            code=ErrorCode.NEWER_MESSAGES,
            errors=[
                FieldError("seen", f"interaction {i.pk}: {interaction_said(i)}", index=k)
                for k, i in enumerate(arrived)
            ],
        )
        self.arrived = arrived


def newer_messages_check(*, case: Case, seen: int | None, actor: Actor) -> None:
    """The collision check before writing on ``case`` (console and API alike): refuse with
    ``NewerMessages`` if ``interactions_since`` the interaction ``seen`` lists anything. No
    ``seen`` (the writer did not say what they had read): nothing is checked."""
    if seen is None:
        return
    arrived = interactions_since(case=case, after_id=seen, viewer_actor=actor)
    if arrived:
        raise NewerMessages(case, seen, arrived)


def interaction_said(i: Interaction) -> str:
    """One arrived message in words: who, how, when, the start of it."""
    if i.direction == Direction.INBOUND:
        who = f"{i.customer} wrote on {channel_label(i.channel)}"
    elif i.direction == Direction.NOTE:
        who = f"{i.actor or 'someone'} added a note"
    else:
        who = f"{i.actor or 'lastmile'} replied on {channel_label(i.channel)}"
    text = " ".join(i.body.split())
    return f"{who} at {i.occurred_at:%H:%M}: “{text[:80]}{'…' if len(text) > 80 else ''}”"


def arrived_said(rows: Sequence[Interaction]) -> str:
    """What came since, in a sentence (the first three, and how many more)."""
    more = f" (and {len(rows) - 3} more)" if len(rows) > 3 else ""
    return "; ".join(interaction_said(i) for i in rows[:3]) + more


def interaction_logged(data: Any) -> bool:
    """Whether an outbound interaction's ``data`` says it was logged, not sent."""
    return isinstance(data, dict) and data.get("delivery") == LOGGED
