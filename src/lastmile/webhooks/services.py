"""Every write of the webhooks app: messaging integrations in and out, event webhooks.

Messaging: a provider posts a signed message to ``/hooks/in/<slug>``; ``message_receive``
puts it on the sender's timeline, on their open case for that channel (or a new one for the
integration's team), which opens a reply loop. ``message_send`` records a reply and queues
it in the outbox; the outbox worker hands it to ``message_transport``, which POSTs it,
signed, to the integration's URL (a non-2xx raises, so the outbox retries with backoff).

Event webhooks: ``deliveries_queue`` is subscribed to the domain events (and
``deliveries_queue_many`` to runs of them); it writes one pending ``Delivery`` per
interested subscription in the caller's transaction (no I/O).
``deliveries_send`` (the worker) POSTs them, signed, retrying with exponential backoff.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.text import slugify

from lastmile.core.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    FieldError,
    InvalidInput,
    NotFound,
)
from lastmile.core.jsonbody import json_load
from lastmile.core.netguard import TargetRefused, host_ascii, target_check, url_split
from lastmile.core.retry import retry_delay
from lastmile.webhooks.models import (
    PHONE_CHANNELS,
    Conversation,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Integration,
    MessagingChannel,
    Subscription,
)
from lastmile.webhooks.sender import Outcome, post_signed
from lastmile.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SECRET_PREFIX,
    TOLERANCE_SECONDS,
    secret_generate,
)

log = logging.getLogger(__name__)

# Event deliveries: attempt n failing waits ``retry_delay(n)`` before attempt n + 1
# (1, 2, 4 … 256 minutes); after MAX_ATTEMPTS it is failed (about 8.5 hours after the
# event). A redelivery starts the schedule again.
MAX_ATTEMPTS = 10
KEEP_DELIVERIES = timedelta(days=30)  # the delivery log keeps finished deliveries this long
MAX_TEXT = 10_000
MAX_MEDIA = 10
EVENT_NAME = re.compile(r"^(\*|[a-z][a-z_]*\.(\*|[a-z][a-z_]*))$")
RETRYABLE = (408, 425, 429)  # 4xx answers that mean "not now" rather than "never"
SLUG_MAX = 30
_MESSAGE_LOCK = 0x4C4D5748  # "LMWH": advisory lock class of inbound message ids  # the outbox channel of a reply is "<channel>:<slug>", at most 40 characters


def _secret_prefix(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4]


def url_check(url: str, *, field_name: str = "url", required: bool = True) -> str:
    """An http(s) URL with a host that is not an internal address, or InvalidInput naming
    ``field_name``.

    The host is resolved and every address checked (``lastmile.core.netguard``). A name
    that does not resolve yet is accepted: there is nothing to reach now, and every request
    checks again before it connects (which is what stops DNS rebinding; this check only
    tells whoever sets the URL at once).
    """
    url = (url or "").strip()
    if not url:
        if required:
            raise InvalidInput(
                f"{field_name} is needed", [FieldError(field_name, "must not be empty")]
            )
        return ""
    try:
        parts = url_split(url)
    except TargetRefused as exc:
        raise InvalidInput(
            f"{url!r} is not a valid URL", [FieldError(field_name, exc.reason)]
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{url!r} is not an http(s) URL",
            [FieldError(field_name, "must be an http:// or https:// URL with a host")],
        )
    if len(url) > 500:
        raise InvalidInput(
            "the URL is too long", [FieldError(field_name, "at most 500 characters")]
        )
    try:
        host_ascii(parts.hostname)
    except TargetRefused as exc:
        raise InvalidInput(
            f"{field_name} names a host that cannot be looked up",
            [FieldError(field_name, exc.reason)],
        ) from None
    try:
        target_check(url)
    except TargetRefused as exc:
        if exc.final:
            raise InvalidInput(
                f"{field_name} may not point at an internal address",
                [FieldError(field_name, exc.reason)],
            ) from None
    return url


# --- integrations --------------------------------------------------------------------------


def integration_create(
    *,
    name: str,
    channel: str,
    now: datetime,
    url: str = "",
    team: Any = None,
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
        secret_prefix=_secret_prefix(secret),
        url=url,
        team=team,
        active=active,
        created_at=now,
    )
    return integration, secret


def integration_rotate_secret(*, integration: Integration) -> str:
    """A new secret for the integration (returned this once); the old one stops working."""
    secret = secret_generate()
    integration.secret = secret
    integration.secret_prefix = _secret_prefix(secret)
    integration.save(update_fields=["secret", "secret_prefix"])
    return secret


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


def sender_identity(integration: Integration, sender: str) -> Any:
    """The identity the sender's address stands for: an E.164 phone on SMS and WhatsApp,
    the integration's own id for the person elsewhere (its slug is the id's issuer)."""
    from lastmile.customers.identities import IdentityError, identity_normalize

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
    integration: Integration, message: MessageIn, identity: Any, *, now: datetime
) -> Received:
    from lastmile.cases.models import CaseStatus
    from lastmile.cases.selectors import customer_cases
    from lastmile.cases.services import case_create
    from lastmile.customers.models import Direction, Interaction
    from lastmile.customers.services import customer_resolve, interaction_record

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


def conversation_of(*, case: Any, channel: str | None = None) -> Conversation | None:
    """The conversation a reply on ``case`` goes back on: the one last written on."""
    qs = Conversation.objects.filter(case=case).select_related("integration")
    if channel:
        qs = qs.filter(integration__channel=channel)
    return qs.order_by("-last_inbound_at", "-id").first()


def message_reply_route(
    *, case: Any, channel: str, body: str, actor: Any, now: datetime
) -> str | None:
    """The reply route for messaging (``channels.replies``): back through the integration
    the customer wrote on (a signed POST, via the outbox), when there is such a conversation."""
    if (
        channel not in MessagingChannel.values
        or conversation_of(case=case, channel=channel) is None
    ):
        return None
    message_send(case=case, text=body, actor=actor, now=now, channel=channel)
    return f"Reply queued on {channel}."


def message_send(
    *,
    case: Any,
    text: str,
    now: datetime,
    actor: Any = None,
    media: Sequence[Media] = (),
    channel: str | None = None,
) -> Any:
    """Reply on a messaging conversation: the outbound interaction (which closes the case's
    reply loops) and its outbox message are written in one transaction; the outbox worker
    sends it through the integration (``message_transport``) and retries on failure.
    """
    from lastmile.channels.services import outbox_enqueue, outbox_message
    from lastmile.customers.models import Direction
    from lastmile.customers.services import interaction_record

    text = (text or "").strip()
    if not text and not media:
        raise InvalidInput("write something to send", [FieldError("text", "must not be empty")])
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            "the message is too long", [FieldError("text", f"at most {MAX_TEXT} characters")]
        )
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


def message_transport(message: Any) -> str | None:
    """Outbox transport for ``sms:<slug>``, ``whatsapp:<slug>`` and ``chat:<slug>``: POST the
    message, signed, to the integration's URL; returns the id the receiver gave it, if any.

    The JSON mirrors the inbound shape (``channel``, ``from``, ``to``, ``text``, ``media``,
    ``external_id``, ``timestamp``) plus ``case``. ``external_id`` is the outbox key, also
    sent as ``X-Lastmile-Delivery``: the same on every retry, so the receiver can drop
    repeats. A 5xx, 408, 429 or no answer raises (the outbox retries with backoff); another
    4xx, or an integration that is gone, off, has no URL or a URL on an internal address
    (checked again before every request), fails the message at once.
    """
    from lastmile.channels.delivery import PermanentFailure
    from lastmile.core.clock import utcnow

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


# --- subscriptions -------------------------------------------------------------------------


def events_check(events: Any, *, field_name: str = "events") -> list[str]:
    """A subscription's event list: names like ``loop.breached``, ``loop.*`` or ``*``."""
    if isinstance(events, str):
        events = [e for e in re.split(r"[\s,]+", events) if e]
    if not isinstance(events, list) or not events:
        raise InvalidInput(
            "say which events to send",
            [FieldError(field_name, "a list of event names, e.g. ['loop.breached'] or ['*']")],
        )
    errors = [
        FieldError(f"{field_name}[{i}]", f"{e!r} is not an event name like loop.breached")
        for i, e in enumerate(events)
        if not isinstance(e, str) or not EVENT_NAME.match(e)
    ]
    if errors:
        raise InvalidInput(errors[0].reason, errors)
    return list(dict.fromkeys(events))


def subscription_create(
    *,
    name: str,
    url: str,
    events: Any,
    now: datetime,
    team: Any = None,
    active: bool = True,
) -> tuple[Subscription, str]:
    """A new event subscription and its signing secret (returned this once)."""
    name = (name or "").strip()
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > 100:
        errors.append(FieldError("name", "at most 100 characters"))
    elif Subscription.objects.filter(name=name).exists():
        errors.append(FieldError("name", f"a subscription called {name!r} exists"))
    for check in (lambda: url_check(url), lambda: events_check(events)):
        try:
            check()
        except InvalidInput as exc:
            errors += exc.errors
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    secret = secret_generate()
    subscription = Subscription.objects.create(
        name=name,
        url=url.strip(),
        events=events_check(events),
        secret=secret,
        secret_prefix=_secret_prefix(secret),
        team=team,
        active=active,
        created_at=now,
    )
    return subscription, secret


def subscription_rotate_secret(*, subscription: Subscription) -> str:
    secret = secret_generate()
    subscription.secret = secret
    subscription.secret_prefix = _secret_prefix(secret)
    subscription.save(update_fields=["secret", "secret_prefix"])
    return secret


# --- deliveries ----------------------------------------------------------------------------


_ACTIVE_SUBSCRIPTIONS = (
    f"SELECT id, events, team_id FROM {Subscription._meta.db_table} WHERE active"  # noqa: S608
)


def deliveries_queue(name: str, data: dict[str, Any], at: datetime) -> None:
    """Domain-event subscriber: one pending delivery per active subscription that wants it.

    Runs in the transaction of the change that caused the event, so the delivery exists
    exactly when the change commits. No I/O here: the worker sends it.
    """
    deliveries_queue_many(name, [(data, at)])


def deliveries_queue_many(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """``deliveries_queue`` for a run of events of one name (``event_emit_many``: a sweep's
    breaches): the subscriptions are read once and the deliveries written in one insert."""
    if not events:
        return
    # Plain SQL: this runs on the sweeper's hot path too, and the ORM's overhead for this
    # one query is some 40 times the query's own cost.
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_SUBSCRIPTIONS)
        rows = cursor.fetchall()
    if not rows:
        return
    noun = name.split(".", 1)[0]
    interested = [
        (pk, team_id)
        for pk, wants, team_id in rows
        if any(
            e in ("*", name, f"{noun}.*")
            for e in (json.loads(wants) if isinstance(wants, str | bytes) else wants) or ()
        )
    ]
    deliveries = [
        delivery
        for data, at in events
        for delivery in _deliveries_for(name, data, at, interested=interested)
    ]
    if not deliveries:
        return
    Delivery.objects.bulk_create(deliveries)
    transaction.on_commit(_kick)


def _deliveries_for(
    name: str, data: dict[str, Any], at: datetime, *, interested: list[tuple[int, int | None]]
) -> list[Delivery]:
    """One event's deliveries: one per interested subscription of its team (or of any)."""
    team = data.get("team")
    wanted = [pk for pk, team_id in interested if team_id is None or team_id == team]
    if not wanted:
        return []
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "event": name,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return [
        Delivery(
            subscription_id=pk,
            event=name[:60],
            event_id=event_id,
            payload=payload,
            created_at=at,
            next_attempt_at=at,
        )
        for pk in wanted
    ]


def _kick() -> None:
    """Ask the worker to send now; if the queue is unreachable, the periodic run will."""
    from lastmile.webhooks.tasks import deliveries_send_task

    try:
        deliveries_send_task()
    except Exception:
        log.warning("could not queue webhook delivery; the periodic run will send", exc_info=True)


@dataclass
class SendResult:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def deliveries_send(*, now: datetime, batch_size: int = 50, max_batches: int = 100) -> SendResult:
    """Send due deliveries, batch after batch until none is due, none of it inside a
    database transaction (a slow receiver must not hold the database).

    1. Claim: a conditional UPDATE that counts the attempt and pushes the next one out by
       the backoff; only the worker whose UPDATE changed the row goes on. A worker that dies
       mid-request leaves the delivery to be retried on schedule.
    2. POST it, signed at the moment it is sent (``now`` plus the time this run has taken).
    3. Record the outcome: 2xx delivered; else retried later, or failed after MAX_ATTEMPTS.
       A redelivery asked for meanwhile wins: the late outcome only goes in the log.
    """
    result = SendResult()
    started = time.monotonic()
    for _ in range(max_batches):
        due = list(
            Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("pk", "attempts")[:batch_size]
        )
        for pk, attempts in due:
            _send_one(pk, attempts, now=now, started=started, result=result)
        if len(due) < batch_size:
            break
    return result


def _send_one(pk: int, attempts: int, *, now: datetime, started: float, result: SendResult) -> None:
    base = Delivery.objects.filter(
        pk=pk, status=DeliveryStatus.PENDING, attempts=attempts, next_attempt_at__lte=now
    )
    if attempts >= MAX_ATTEMPTS:  # the worker died during the last attempt
        if base.update(status=DeliveryStatus.FAILED, next_attempt_at=None):
            result.failed += 1
        return
    number = attempts + 1
    if not base.update(
        attempts=number, last_attempt_at=now, next_attempt_at=now + retry_delay(number)
    ):
        return  # another worker claimed it, or it was redelivered meanwhile
    delivery = Delivery.objects.select_related("subscription").get(pk=pk)
    subscription = delivery.subscription
    if not subscription.active:
        outcome = Outcome(status=None, error="the subscription is inactive")
    else:
        try:
            outcome = post_signed(
                url=subscription.url,
                secret=subscription.secret,
                body=json.dumps(delivery.payload, separators=(",", ":")).encode(),
                now=now + timedelta(seconds=time.monotonic() - started),
                headers={DELIVERY_HEADER: str(delivery.uuid), EVENT_HEADER: delivery.event},
            )
        except Exception as exc:  # noqa: BLE001 - one delivery's bug must not stop the batch
            log.exception("delivery %s could not be sent", pk)
            outcome = Outcome(status=None, error=f"{type(exc).__name__}: {exc}")
    result.outcomes.append(outcome)
    # An internal target stays internal: retrying for hours would only knock again.
    state = _record(
        delivery,
        number=number,
        outcome=outcome,
        at=now,
        give_up=not subscription.active or outcome.refused,
    )
    if state == DeliveryStatus.DELIVERED:
        result.delivered += 1
    elif state == DeliveryStatus.FAILED:
        result.failed += 1
    elif state == DeliveryStatus.PENDING:
        result.retried += 1


def _record(
    delivery: Delivery, *, number: int, outcome: Outcome, at: datetime, give_up: bool
) -> str | None:
    """Write one attempt's outcome; the delivery's new status, or None if a redelivery
    reset it meanwhile (then only the log gets the attempt)."""
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=DeliveryAttempt.objects.filter(delivery=delivery).count() + 1,
            at=at,
            response_code=outcome.status,
            response_excerpt=outcome.excerpt,
            error="" if outcome.ok else outcome.describe()[:500],
            duration_ms=outcome.duration_ms,
        )
        mine = Delivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=number
        )
        fields: dict[str, Any] = {
            "response_code": outcome.status,
            "response_excerpt": outcome.excerpt,
        }
        if outcome.ok:
            status = DeliveryStatus.DELIVERED
            fields.update(status=status, delivered_at=at, next_attempt_at=None, last_error="")
        elif give_up or number >= MAX_ATTEMPTS:
            status = DeliveryStatus.FAILED
            fields.update(status=status, next_attempt_at=None, last_error=outcome.describe()[:500])
        else:
            status = DeliveryStatus.PENDING
            fields.update(last_error=outcome.describe()[:500])
        return status if mine.update(**fields) else None


def delivery_redeliver(*, delivery: Delivery, now: datetime, actor: str = "") -> Delivery:
    """Send a delivery again, now, with a fresh retry schedule and the same delivery id
    (a receiver that processed it already drops it)."""
    with transaction.atomic():
        row = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if row is None:
            raise NotFound(f"delivery {delivery.pk}")
        row.status = DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.redelivered_at = now
        row.redelivered_by = (actor or "")[:150]
        row.save(
            update_fields=[
                "status",
                "attempts",
                "next_attempt_at",
                "redelivered_at",
                "redelivered_by",
            ]
        )
        transaction.on_commit(_kick)
    return row


def deliveries_prune(*, now: datetime, keep: timedelta = KEEP_DELIVERIES) -> int:
    """Forget finished deliveries (delivered or failed) created more than ``keep`` ago, with
    their attempts, so the log does not grow for ever; pending ones are kept whatever their
    age. Returns how many went."""
    old = Delivery.objects.filter(
        created_at__lt=now - keep,
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED],
    )
    count = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:1000])
        if not ids:
            return count
        with transaction.atomic():
            DeliveryAttempt.objects.filter(delivery_id__in=ids).delete()
            count += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)


def deliveries_redeliver(*, ids: Sequence[int], now: datetime, actor: str = "") -> int:
    """Redeliver several (the admin action); returns how many."""
    count = 0
    for pk in ids:
        try:
            delivery_redeliver(delivery=Delivery(pk=pk), now=now, actor=actor)
        except DomainError:
            continue
        count += 1
    return count
