"""Messaging integrations: SMS, WhatsApp and chat providers' webhooks in, replies back out.

A provider posts a signed message to ``/hooks/in/<slug>``; ``message_receive`` puts it on the
sender's timeline, on their open case for that channel (or a new one for the integration's
team), which opens a reply loop. ``message_send`` records a reply and queues it in the outbox;
the outbox worker hands it to ``message_transport``, which POSTs it, signed, to the
integration's URL (a non-2xx raises, so the outbox retries with backoff).

Event subscriptions (domain events delivered to subscribers' URLs) are
``lastmile.webhooks.services.subscriptions``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.text import slugify

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.selectors import customer_cases
from lastmile.cases.services import case_create
from lastmile.channels.delivery import PermanentFailure
from lastmile.channels.models import OutboxMessage
from lastmile.channels.replies import Delivery, ReplyRoute, ReplySent
from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.clock import utcnow
from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.core.jsonbody import json_load
from lastmile.customers.identities import IdentityError, IdentityKey, identity_normalize
from lastmile.customers.models import Direction, Interaction
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.people.models import Team
from lastmile.people.viewers import Actor
from lastmile.webhooks.models import (
    PHONE_CHANNELS,
    Conversation,
    Integration,
    MessagingChannel,
)
from lastmile.webhooks.sender import post_signed, url_check
from lastmile.webhooks.signing import (
    DELIVERY_HEADER,
    TOLERANCE_SECONDS,
    secret_generate,
    secret_prefix,
)

MAX_TEXT = 10_000
MAX_MEDIA = 10
RETRYABLE = (408, 425, 429)  # 4xx answers that mean "not now" rather than "never"
# The outbox channel of a reply is "<channel>:<slug>", at most 40 characters.
SLUG_MAX = 30
_MESSAGE_LOCK = 0x4C4D5748  # "LMWH": advisory lock class of inbound message ids


# --- integrations --------------------------------------------------------------------------


def integration_create(
    *,
    name: str,
    channel: str,
    now: datetime,
    url: str = "",
    team: Team | None = None,
    slug: str = "",
    active: bool = True,
) -> tuple[Integration, str]:
    """A new messaging integration and its signing secret (returned this once)."""
    name = (name or "").strip()
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > 100:
        errors.append(FieldError("name", "at most 100 characters"))
    elif Integration.objects.filter(name=name).exists():
        errors.append(FieldError("name", f"an integration called {name!r} exists"))
    slug = (slug or "").strip() or slugify(name)[:SLUG_MAX].strip("-_")
    if not re.fullmatch(rf"[a-z0-9][a-z0-9_-]{{0,{SLUG_MAX - 1}}}", slug):
        errors.append(FieldError("slug", f"lowercase letters, digits, - and _; at most {SLUG_MAX}"))
    elif Integration.objects.filter(slug=slug).exists():
        errors.append(FieldError("slug", f"{slug!r} is taken"))
    if channel not in MessagingChannel.values:
        errors.append(FieldError("channel", f"one of {', '.join(MessagingChannel.values)}"))
    try:
        url = url_check(url, required=False)
    except InvalidInput as exc:
        errors += exc.errors
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    secret = secret_generate()
    integration = Integration.objects.create(
        name=name,
        slug=slug,
        channel=channel,
        secret=secret,
        secret_prefix=secret_prefix(secret),
        url=url,
        team=team,
        active=active,
        created_at=now,
    )
    return integration, secret


# --- inbound messages ----------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "content_type": self.content_type}


@dataclass(frozen=True)
class MessageIn:
    """An inbound message as the provider sent it, its shape already checked at the edge."""

    channel: str
    sender: str
    recipient: str
    external_id: str
    occurred_at: datetime
    text: str = ""
    media: tuple[Media, ...] = ()
    name: str = ""


@dataclass
class Received:
    interaction_id: int
    case_ref: str | None
    customer_id: int
    duplicate: bool = False


def sender_identity(integration: Integration, sender: str) -> IdentityKey:
    """The identity the sender's address stands for: an E.164 phone on SMS and WhatsApp,
    the integration's own id for the person elsewhere (its slug is the id's issuer)."""
    try:
        if integration.channel in PHONE_CHANNELS:
            return identity_normalize("phone", sender)
        return identity_normalize("external", sender, integration.slug)
    except IdentityError as exc:
        raise InvalidInput(exc.reason, [FieldError("from", exc.reason)]) from None


def message_receive(*, integration: Integration, message: MessageIn, now: datetime) -> Received:
    """Put an inbound message on the timeline, on a case, once.

    1. Check what needs the integration or the clock: channel, sender, timestamp.
    2. The same (integration, external id) already stored: return it, write nothing.
    3. Resolve the sender to a customer; thread onto their open case on this channel, or
       open one for the integration's team.
    4. Record the inbound interaction (the loop engine opens or resumes the reply loop)
       and remember the conversation, so a reply goes back through this integration.

    All in one transaction: a refused message writes nothing. Deliveries of one message
    racing each other wait for one another (``_lock``), so one creates it and the others
    answer "duplicate"; should a unique constraint still fire, the work is retried once and
    finds the winner's rows.
    """
    errors: list[FieldError] = []
    if message.channel != integration.channel:
        errors.append(
            FieldError("channel", f"this integration carries {integration.channel!r} messages")
        )
    if message.occurred_at > now + timedelta(seconds=TOLERANCE_SECONDS):
        errors.append(FieldError("timestamp", "more than 5 minutes in the future"))
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    identity = sender_identity(integration, message.sender)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _receive(integration, message, identity, now=now)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def message_source_id(integration: Integration, external_id: str) -> str:
    return f"{integration.slug}:{external_id}"


def _receive(
    integration: Integration, message: MessageIn, identity: IdentityKey, *, now: datetime
) -> Received:
    source_id = message_source_id(integration, message.external_id)
    _lock(source_id)
    seen = (
        Interaction.objects.filter(channel=integration.channel, source_id=source_id)
        .select_related("case")
        .first()
    )
    if seen is not None:
        ref = seen.case.ref if seen.case is not None else None
        return Received(seen.pk, ref, seen.customer_id, duplicate=True)
    # Two new messages from one sender at once: one finds or opens the case, the other
    # threads onto it (not two cases).
    _lock(f"sender:{integration.channel}:{identity.kind}:{identity.network}:{identity.value}")
    customer = customer_resolve(identities=[identity], now=now, display_name=message.name).customer
    case = (
        customer_cases(customer=customer)
        .filter(channel=integration.channel, status__in=[CaseStatus.OPEN, CaseStatus.PENDING])
        .first()
    )
    if case is None:
        case = case_create(
            customer=customer,
            subject=_subject(integration, message),
            now=now,
            team=integration.team,
            channel=integration.channel,
        )
    occurred_at = min(message.occurred_at, now)
    interaction = interaction_record(
        customer=customer,
        case=case,
        channel=integration.channel,
        direction=Direction.INBOUND,
        occurred_at=occurred_at,
        now=now,
        body=message.text or _attachments(len(message.media)),
        data={
            "integration": integration.slug,
            "external_id": message.external_id,
            "from": message.sender,
            "to": message.recipient,
            "media": [m.as_dict() for m in message.media],
        },
        source_id=source_id,
    )
    conversation, created = Conversation.objects.get_or_create(
        integration=integration,
        case=case,
        address=identity.value,
        defaults={"our_address": message.recipient, "last_inbound_at": occurred_at},
    )
    if not created and occurred_at >= conversation.last_inbound_at:
        conversation.our_address = message.recipient
        conversation.last_inbound_at = occurred_at
        conversation.save(update_fields=["our_address", "last_inbound_at"])
    return Received(interaction.pk, case.ref, interaction.customer_id)


def _lock(name: str) -> None:
    """Serialise the transactions that take the same ``name``: deliveries of one message,
    so exactly one creates it and the others answer "duplicate" (a provider retrying on a
    timeout races its own first try); messages of one sender, so they share one case.

    PostgreSQL: a transaction-scoped advisory lock on the name's hash, always taken in the
    same order (message, then sender), so two requests cannot deadlock. SQLite: the
    IMMEDIATE transaction already holds the database's only write lock.
    """
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_MESSAGE_LOCK, key - 2**31])


def _attachments(count: int) -> str:
    return f"[{count} attachment{'s' if count != 1 else ''}]"


def _subject(integration: Integration, message: MessageIn) -> str:
    label = MessagingChannel(integration.channel).label
    first = " ".join(message.text.split())
    if len(first) > 80:
        first = first[:79].rstrip() + "…"
    return f"{label}: {first}" if first else f"{label} from {message.sender}"


# --- outbound messages ---------------------------------------------------------------------


def conversation_of(*, case: Case, channel: str | None = None) -> Conversation | None:
    """The conversation a reply on ``case`` goes back on: the one last written on."""
    qs = Conversation.objects.filter(case=case).select_related("integration")
    if channel:
        qs = qs.filter(integration__channel=channel)
    return qs.order_by("-last_inbound_at", "-id").first()


def reply_conversations(*, case: Case) -> dict[str, Conversation]:
    """The conversation a reply on each messaging channel of ``case`` goes back on: the one
    the customer last wrote on through an integration that is on and can send (has a URL).

    The reply route's options and its send both come from here, so a reply goes through the
    integration it was offered on (a newer conversation through a switched-off integration
    is passed over on both)."""
    out: dict[str, Conversation] = {}
    conversations = (
        Conversation.objects.filter(case=case)
        .select_related("integration")
        .order_by("-last_inbound_at", "-id")
    )
    for conversation in conversations[:50]:
        integration = conversation.integration
        channel = integration.channel
        if channel not in MessagingChannel.values or channel in out:
            continue
        if integration.active and integration.url:
            out[channel] = conversation
    return out


def message_reply_options(*, case: Case) -> list[tuple[str, str]]:
    """The reply route's options (``channels.replies``): each messaging channel the customer
    wrote on in this case, through an integration that is on and can send (has a URL)."""
    return [
        (
            channel,
            f"{MessagingChannel(channel).label} to {conversation.address} "
            f"via {conversation.integration.name}",
        )
        for channel, conversation in reply_conversations(case=case).items()
    ]


def message_reply_send(
    *,
    case: Case,
    channel: str,
    body: str,
    files: Sequence[Any],
    actor: Actor,
    now: datetime,
) -> ReplySent:
    """The reply route's send: back through the integration it offered (a signed POST, via
    the outbox)."""
    conversation = reply_conversations(case=case).get(channel)
    interaction = message_send(
        case=case, text=body, actor=actor, now=now, channel=channel, conversation=conversation
    )
    data = interaction.data if isinstance(interaction.data, dict) else {}
    outbox = OutboxMessage.objects.filter(key=f"webhooks:message:{interaction.pk}")
    label = MessagingChannel(channel).label
    # Named as the composer's "via" list names it (the slug is for URLs and the outbox).
    via = (
        Integration.objects.filter(slug=data.get("integration"))
        .values_list("name", flat=True)
        .first()
    )
    return ReplySent(
        interaction,
        Delivery.QUEUED,
        outbox.values_list("pk", flat=True).first(),
        f"Queued on {label} to {data.get('to', 'the customer')} via {via or 'the integration'}.",
    )


MESSAGE_REPLY_ROUTE = ReplyRoute(
    name="messaging", options=message_reply_options, send=message_reply_send
)


def message_send(
    *,
    case: Case,
    text: str,
    now: datetime,
    actor: Actor = None,
    media: Sequence[Media] = (),
    channel: str | None = None,
    conversation: Conversation | None = None,
) -> Interaction:
    """Reply on a messaging conversation (``conversation``, by default the one last written
    on, on ``channel`` if given): the outbound interaction (which closes the case's
    reply loops) and its outbox message are written in one transaction; the outbox worker
    sends it through the integration (``message_transport``) and retries on failure.
    """
    text = (text or "").strip()
    if not text and not media:
        raise InvalidInput("write something to send", [FieldError("text", "must not be empty")])
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            "the message is too long", [FieldError("text", f"at most {MAX_TEXT} characters")]
        )
    if conversation is None:
        conversation = conversation_of(case=case, channel=channel)
    if conversation is None:
        where = f"on {channel} " if channel else ""
        raise Conflict(
            f"case {case.ref} has no messaging conversation {where}to reply on: the customer "
            "has not written through a messaging integration",
            code=ErrorCode.NO_CONVERSATION,
            errors=[FieldError("case", "no inbound message from a messaging integration")],
        )
    integration = conversation.integration
    if not integration.active or not integration.url:
        why = "is inactive" if not integration.active else "has no outbound URL"
        raise Conflict(
            f"integration {integration.name} {why}: replies cannot be sent through it",
            code=ErrorCode.INTEGRATION_UNUSABLE,
            errors=[FieldError("integration", why)],
        )
    with transaction.atomic():
        interaction = interaction_record(
            customer=case.customer,
            case=case,
            channel=integration.channel,
            direction=Direction.OUTBOUND,
            occurred_at=now,
            now=now,
            body=text or _attachments(len(media)),
            actor=actor,
            data={
                "integration": integration.slug,
                "from": conversation.our_address,
                "to": conversation.address,
                "media": [m.as_dict() for m in media],
            },
        )
        outbox_enqueue(
            [
                outbox_message(
                    key=f"webhooks:message:{interaction.pk}",
                    purpose="reply",
                    channel=f"{integration.channel}:{integration.slug}",
                    recipient=conversation.address,
                    customer=case.customer_id,
                    case=case,
                    body=text,
                    data={
                        "integration": integration.slug,
                        "from": conversation.our_address,
                        "case": case.ref,
                        "interaction": interaction.pk,
                        "media": [m.as_dict() for m in media],
                    },
                    now=now,
                )
            ]
        )
    return interaction


def message_transport(message: OutboxMessage) -> str | None:
    """Outbox transport for ``sms:<slug>``, ``whatsapp:<slug>`` and ``chat:<slug>``: POST the
    message, signed, to the integration's URL; returns the id the receiver gave it, if any.

    The JSON mirrors the inbound shape (``channel``, ``from``, ``to``, ``text``, ``media``,
    ``external_id``, ``timestamp``) plus ``case``. ``external_id`` is the outbox key, also
    sent as ``X-Lastmile-Delivery``: the same on every retry, so the receiver can drop
    repeats. A 5xx, 408, 429 or no answer raises (the outbox retries with backoff); another
    4xx, or an integration that is gone, off, has no URL or a URL on an internal address
    (checked again before every request), fails the message at once.
    """
    channel, _, slug = message.channel.partition(":")
    slug = slug or (message.data or {}).get("integration", "")
    integration = Integration.objects.filter(slug=slug, channel=channel).first()
    if integration is None:
        raise PermanentFailure(f"no {channel} integration {slug!r} to send through")
    if not integration.active or not integration.url:
        why = "is inactive" if not integration.active else "has no outbound URL"
        raise PermanentFailure(f"integration {integration.slug} {why}")
    now = utcnow()  # the signature must carry the time it is really sent
    data = message.data or {}
    payload = {
        "channel": integration.channel,
        "from": data.get("from", ""),
        "to": message.recipient,
        "text": message.body,
        "media": data.get("media", []),
        "external_id": message.key,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "case": data.get("case"),
    }
    outcome = post_signed(
        url=integration.url,
        secret=integration.secret,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        now=now,
        headers={DELIVERY_HEADER: message.key},
    )
    if outcome.ok:
        return _their_id(outcome.excerpt)
    if outcome.refused:
        raise PermanentFailure(f"{integration.slug}: {outcome.error}")
    if (
        outcome.status is not None
        and 400 <= outcome.status < 500
        and outcome.status not in RETRYABLE
    ):
        raise PermanentFailure(f"{integration.slug} refused it: {outcome.describe()}")
    raise TransportError(f"{integration.slug}: {outcome.describe()}")


class TransportError(Exception):
    """The integration did not take a reply this time; the outbox retries it later."""


def _their_id(excerpt: str) -> str | None:
    """``{"id": …}`` or ``{"external_id": …}`` in the receiver's answer, if it sent one."""
    try:
        answer = json_load(excerpt)
    except ValueError:  # JsonBodyError too
        return None
    if isinstance(answer, dict):
        value = answer.get("id") or answer.get("external_id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)[:200]
    return None
