"""Transports: how the outbox hands a message to the outside world, per channel.

A transport is ``fn(message: OutboxMessage) -> str | None``: it sends the message or raises.
It may return what the other side calls the message (kept as ``external_id``). Raise
``PermanentFailure`` when retrying cannot help (a malformed address); any other exception
is retried with backoff.

Email is built in. Other apps register theirs from their ``AppConfig.ready()``::

    transport_register("sms", sms_send)       # channel "sms", and "sms:<provider>"

The most specific prefix wins: ``"social:twitter"`` before ``"social"``. A channel with no
transport fails at once with a message saying so; it is never marked sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage

from lastmile.core.errors import FieldError

if TYPE_CHECKING:
    from lastmile.channels.models import OutboxMessage

log = logging.getLogger(__name__)

Transport = Callable[["OutboxMessage"], "str | None"]
_TRANSPORTS: dict[str, Transport] = {}


class PermanentFailure(Exception):
    """Sending cannot succeed however often it is tried: the message fails now."""


class NoTransport(PermanentFailure):
    pass


def transport_register(channel_prefix: str, fn: Transport) -> None:
    """Deliver messages whose channel is ``channel_prefix`` or starts with ``channel_prefix:``.

    Registering a prefix again replaces its transport (apps' ``ready()`` may run twice).
    """
    if not isinstance(channel_prefix, str) or not channel_prefix.strip() or " " in channel_prefix:
        raise ValueError(f"a channel prefix is a word like 'sms', not {channel_prefix!r}")
    if not callable(fn):
        raise TypeError(f"the transport for {channel_prefix!r} must be callable")
    previous = _TRANSPORTS.get(channel_prefix)
    if previous is not None and previous is not fn:
        log.info("transport for %r replaced by %r", channel_prefix, fn)
    _TRANSPORTS[channel_prefix] = fn


def transport_for(channel: str) -> Transport | None:
    """The transport of the longest registered prefix of ``channel`` (split at ``:``)."""
    parts = channel.split(":")
    for n in range(len(parts), 0, -1):
        fn = _TRANSPORTS.get(":".join(parts[:n]))
        if fn is not None:
            return fn
    return None


def transports_registered() -> list[str]:
    return sorted(_TRANSPORTS)


def transport_send(message: OutboxMessage) -> str | None:
    """Send ``message`` with its channel's transport; ``NoTransport`` if there is none."""
    fn = transport_for(message.channel)
    if fn is None:
        raise NoTransport(
            f"no transport for channel {message.channel!r} "
            f"(registered: {', '.join(transports_registered()) or 'none'})"
        )
    return fn(message)


# -- email ------------------------------------------------------------------------------------


def email_data_errors(data: Any) -> list[FieldError]:
    """What is wrong with an email message's ``data``: ``headers``, ``reply_to``, ``from_email``.

    ``headers`` is a mapping of header name to text (Message-ID, In-Reply-To, References…);
    ``reply_to`` an address or a list of them; ``from_email`` an address.
    """
    errors: list[FieldError] = []
    if not isinstance(data, dict):
        return [FieldError("data", "must be an object")]
    headers = data.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            errors.append(FieldError("data.headers", "must be an object of header: text"))
        else:
            for name, value in headers.items():
                if not isinstance(name, str) or not name or any(c in name for c in ":\r\n "):
                    errors.append(FieldError("data.headers", f"bad header name {name!r}"))
                elif not isinstance(value, str) or "\r" in value or "\n" in value:
                    errors.append(FieldError(f"data.headers.{name}", "must be text on one line"))
    reply_to = data.get("reply_to")
    if reply_to is not None:
        values = [reply_to] if isinstance(reply_to, str) else reply_to
        if not isinstance(values, list) or not all(
            isinstance(v, str) and "@" in v and "\n" not in v and "\r" not in v for v in values
        ):
            errors.append(FieldError("data.reply_to", "must be an email address or a list of them"))
    sender = data.get("from_email")
    if sender is not None and (
        not isinstance(sender, str) or "@" not in sender or "\n" in sender or "\r" in sender
    ):
        errors.append(FieldError("data.from_email", "must be an email address"))
    return errors


def email_message_id(key: str) -> str:
    """A Message-ID made from the outbox key: a resend after a crash carries the same one."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "lastmile.localhost"
    return f"<outbox.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def email_send(message: OutboxMessage) -> str:
    """Send by Django's mail backend (SMTP in production); returns the Message-ID.

    Honours ``data["headers"]`` (threading headers; a Message-ID given there is used as is),
    ``data["reply_to"]`` and ``data["from_email"]``. Every message carries ``X-Lastmile-Key``.
    """
    data = message.data or {}
    errors = email_data_errors(data)
    if errors:
        raise PermanentFailure("; ".join(f"{e.field}: {e.reason}" for e in errors))
    headers: dict[str, str] = {**(data.get("headers") or {}), "X-Lastmile-Key": message.key}
    if not any(name.lower() == "message-id" for name in headers):
        headers["Message-ID"] = email_message_id(message.key)
    reply_to = data.get("reply_to")
    EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=data.get("from_email") or settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        reply_to=[reply_to] if isinstance(reply_to, str) else reply_to,
        headers=headers,
    ).send()
    return next(v for k, v in headers.items() if k.lower() == "message-id")


transport_register("email", email_send)
