"""The Segment-compatible event API: sources, parsing, and recording events on the timeline.

Follows the Segment HTTP Tracking API: write key as the HTTP Basic username, ``messageId``
deduplication, ``timestamp``/``sentAt``/``receivedAt`` clock-skew correction, 32 KB per
message and 500 KB per batch. Each accepted message becomes one interaction (channel
``app`` for screen events, ``web`` for the rest) on the customer its ``userId`` /
``anonymousId`` / traits resolve to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction

from lastmile.channels.models import Source, SourceKind
from lastmile.core.audit import audited_revoke
from lastmile.core.errors import DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.core.ids import token_generate, token_hash
from lastmile.core.instants import EARLIEST, LATEST, instant_parse
from lastmile.customers.identities import IdentityError, IdentityKey, identity_normalize
from lastmile.customers.models import IdentityKind
from lastmile.customers.services.ingest import (
    InteractionIn,
    interactions_ingest,
    interactions_prepare,
)
from lastmile.people.viewers import Actor

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("track", "identify", "page", "screen", "group", "alias")
SOURCE_ID_PREFIX = "segment:"
USER_NETWORK = "segment"  # userId is an external id issued by the business's own system
# How long a request waits for the database's write lock before answering 429 (the client
# retries after Retry-After) instead of holding a worker thread for the default 20 s.
LOCK_WAIT_MS = 5000
RETRY_AFTER_SECONDS = 1


class Saturated(DomainError):
    """The database is busy: answer 429 with Retry-After; the client retries."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail, code=ErrorCode.BUSY, status=429)


def bad_request(
    detail: str, field_name: str, index: int | None = None, status: int = 400
) -> DomainError:
    return DomainError(
        detail=detail,
        errors=[FieldError(field_name, detail, index)],
        code=ErrorCode.INVALID,
        status=status,
    )


# --- sources ------------------------------------------------------------------------------


def source_create(
    *, name: str, kind: str = SourceKind.SEGMENT, now: datetime
) -> tuple[Source, str]:
    """A new source; its write key is returned once and stored only hashed."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a source needs a name", [FieldError("name", "must not be empty")])
    if kind not in SourceKind.values:
        raise InvalidInput(
            f"unknown source kind {kind!r}",
            [FieldError("kind", f"one of {', '.join(SourceKind.values)}")],
        )
    if Source.objects.filter(name=name).exists():
        raise InvalidInput(
            f"a source called {name!r} exists", [FieldError("name", "already taken")]
        )
    key = token_generate("wk")
    source = Source.objects.create(
        name=name, kind=kind, key_hash=token_hash(key), prefix=key[:10], created_at=now
    )
    return source, key


def source_revoke(*, source: Source, actor: Actor, now: datetime, actor_label: str = "") -> Source:
    """Revoke the source's write key from ``now`` on, once, with its audit row
    (``audited_revoke``); ``actor`` is None when no person acted (``actor_label``: ``cli``)."""
    audited_revoke(source, actor=actor, now=now, actor_label=actor_label)
    return source


def source_for_key(write_key: str) -> Source | None:
    """The live source holding this write key, or None (unknown or revoked)."""
    if not write_key:
        return None
    return Source.objects.filter(key_hash=token_hash(write_key), revoked_at__isnull=True).first()


# --- parsing ------------------------------------------------------------------------------


def body_decode(raw: bytes, *, encoding: str, limit: int) -> bytes:
    """The request body, gunzipped if the client compressed it (the client's ``gzip`` option).

    The limit applies to the decompressed size, so a small gzip bomb cannot get past it.
    """
    if encoding.strip().lower() != "gzip":
        return raw
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error:
        raise bad_request("the body is not valid gzip", "body") from None
    if len(out) > limit or d.unconsumed_tail:
        raise bad_request(
            f"the decompressed body is larger than {limit // 1024} KB", "body", status=413
        )
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def body_parse(raw: bytes) -> Any:
    """The decoded body; 400 for anything the database could not store as it came.

    NaN/Infinity (Python's json accepts them) and NUL characters (PostgreSQL's text and
    jsonb refuse them) are refused here rather than failing later as a 500.
    """
    if b"\\u0000" in raw or b"\x00" in raw:
        raise bad_request("the body contains a NUL character (\\u0000)", "body")
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}", "body") from None


def _time(value: Any, name: str, index: int | None) -> datetime | None:
    """An ISO 8601 time, read as UTC without an offset (as Segment does), 1970..2200 like
    every date the API takes: year 1 or 9999 overflowed in the conversion (a 500, which
    Segment's clients retry forever)."""
    if value is None:
        return None
    try:
        return instant_parse(value, naive_is_utc=True)
    except ValueError as exc:
        shown = repr(value)[:60]
        raise bad_request(f"{name} {shown}: {exc}", name, index) from None


def _id(msg: dict[str, Any], name: str, index: int | None) -> str | None:
    value = msg.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_request(f"{name} must be a string", name, index)
    text = str(value).strip()
    if len(text) > 300:
        raise bad_request(f"{name} is longer than 300 characters", name, index)
    return text or None


def _summary(kind: str, msg: dict[str, Any]) -> str:
    props: dict[str, Any] = msg.get("properties") or {}
    if kind == "track":
        return str(msg["event"])[:500]
    if kind == "page":
        where = msg.get("name") or props.get("path") or props.get("url") or "a page"
        return f"Viewed page {where}"[:500]
    if kind == "screen":
        return f"Viewed screen {msg.get('name') or 'a screen'}"[:500]
    if kind == "identify":
        return "Identified"
    if kind == "group":
        return f"Joined group {msg.get('groupId')}"[:500]
    return f"Alias {msg.get('previousId')} → {msg.get('userId')}"[:500]


def _source_id(message_id: str | None) -> str | None:
    """``segment:<messageId>``; a messageId too long for the column is kept as its digest,
    so it still deduplicates."""
    if message_id is None:
        return None
    if len(SOURCE_ID_PREFIX) + len(message_id) > 200:
        return f"{SOURCE_ID_PREFIX}sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"
    return SOURCE_ID_PREFIX + message_id


# The fields the stored copy of a message sets itself, and the write key, which it drops.
_OWN_KEYS = ("type", "receivedAt", "sentAt", "lastmile", "writeKey")
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _measure(msg: dict[str, Any], where: str, index: int | None) -> tuple[dict[str, Any], str, int]:
    """(the message less the fields lastmile sets, that part as compact JSON, the size in
    bytes of the whole message as compact UTF-8 JSON).

    The message is encoded once: the same text is the start of what is stored. 400 for
    what cannot be stored: a number out of range (``1e400`` reads as Infinity) or an
    unpaired surrogate (``"\\ud800"``), which UTF-8 cannot encode.
    """
    own = [k for k in _OWN_KEYS if k in msg]
    rest = {k: v for k, v in msg.items() if k not in own} if own else msg
    try:
        rest_json = _COMPACT.encode(rest)
        size = len(rest_json.encode())
        # Each set-aside field adds `"key":value` and a comma but for the first item.
        for k in own:
            size += len(k) + 3 + len(_COMPACT.encode(msg[k]).encode())
        size += len(own) - (0 if rest else 1) if own else 0
    except ValueError:
        raise bad_request("a number is out of range (NaN or Infinity)", where, index) from None
    except UnicodeEncodeError:
        raise bad_request(
            "a string holds an unpaired surrogate (\\ud800-\\udfff)", where, index
        ) from None
    return rest, rest_json, size


def message_parse(
    msg: Any,
    *,
    index: int | None,
    kind: str | None,
    received_at: datetime,
    batch_sent_at: Any = None,
    batch_context: Any = None,
    source: Source,
) -> InteractionIn:
    """One Segment message as the interaction to record; DomainError 400 naming the field.

    ``kind`` is the endpoint's type (``/v1/track``); ``None`` for ``/v1/batch``, where each
    message names its own ``type``.
    """
    where = "batch" if index is not None else "body"
    if not isinstance(msg, dict):
        raise bad_request("a message must be a JSON object", where, index)
    rest, rest_json, size = _measure(msg, where, index)
    if size > MAX_MESSAGE_BYTES:
        raise bad_request(f"message is {size} bytes; the limit is 32 KB per message", where, index)
    msg_type = msg.get("type", kind)
    if kind is not None and msg_type != kind:
        msg_type = kind  # the endpoint decides, as Segment's does
    if msg_type not in TYPES:
        raise bad_request(
            f"type must be one of {', '.join(TYPES)}, not {msg_type!r}", "type", index
        )

    user_id = _id(msg, "userId", index)
    anonymous_id = _id(msg, "anonymousId", index)
    message_id = _id(msg, "messageId", index)
    identities: list[IdentityKey] = []
    skipped: list[dict[str, str]] = []
    if msg_type == "alias":
        previous_id = _id(msg, "previousId", index)
        if previous_id is None or user_id is None:
            missing = "previousId" if previous_id is None else "userId"
            raise bad_request(f"an alias needs {missing}", missing, index)
        # The previous id is usually the anonymous id the user had before signing up.
        identities.append(IdentityKey(IdentityKind.ANONYMOUS, "", previous_id))
    elif user_id is None and anonymous_id is None:
        raise bad_request("a message needs userId or anonymousId", "userId", index)
    if user_id is not None:
        identities.insert(0, IdentityKey(IdentityKind.EXTERNAL, USER_NETWORK, user_id))
    if anonymous_id is not None and msg_type != "alias":
        identities.append(IdentityKey(IdentityKind.ANONYMOUS, "", anonymous_id))
    if msg_type == "track" and not (isinstance(msg.get("event"), str) and msg["event"].strip()):
        raise bad_request("a track call needs an event name", "event", index)
    if msg_type == "group" and _id(msg, "groupId", index) is None:
        raise bad_request("a group call needs groupId", "groupId", index)
    for name in ("properties", "traits", "context"):
        if msg.get(name) is not None and not isinstance(msg[name], dict):
            raise bad_request(f"{name} must be an object", name, index)
    display_name = ""
    if msg_type == "identify":
        traits = msg.get("traits") or {}
        display_name = _trait_name(traits)
        for trait in (IdentityKind.EMAIL, IdentityKind.PHONE):
            value = traits.get(trait)
            if value in (None, ""):
                continue
            try:
                key = identity_normalize(trait, str(value))
            except IdentityError as exc:
                # A bad trait is the customer's data, not a broken message: keep the event.
                skipped.append({"field": f"traits.{trait}", "reason": exc.reason})
                continue
            if key not in identities:
                identities.append(key)

    timestamp = _time(msg.get("timestamp"), "timestamp", index)
    sent_raw = msg.get("sentAt", batch_sent_at)
    sent_at = _time(sent_raw, "sentAt", index)
    if timestamp is None:
        occurred_at = received_at
    elif sent_at is not None:
        # Clock-skew correction (Segment "Timestamps"): the client's clock may be wrong, but
        # the gap between when the event happened and when it was sent is right.
        occurred_at = received_at + (timestamp - sent_at)
        if not EARLIEST <= occurred_at <= LATEST:
            # Both in range, but 200 years apart: no clock is that wrong.
            raise bad_request(
                "timestamp and sentAt are too far apart to correct the clock skew",
                "timestamp",
                index,
            )
    else:
        occurred_at = timestamp

    # What is stored: the message, less its write key, with what lastmile knows of it.
    own: dict[str, Any] = {"type": msg_type, "receivedAt": received_at.isoformat()}
    if sent_raw is not None:
        own["sentAt"] = sent_raw
    if batch_context and isinstance(batch_context, dict) and "context" not in msg:
        own["context"] = batch_context
    own["lastmile"] = {"source": source.name}
    if skipped:
        own["lastmile"]["skipped_traits"] = skipped
    try:
        own_json = _COMPACT.encode(own)
        own_json.encode()  # the batch's context has not been through ``_measure``
    except (ValueError, UnicodeEncodeError):
        raise bad_request("the batch's context cannot be stored as JSON text", "context") from None
    data = {**rest, **own}
    data_json = rest_json[:-1] + ("," if rest else "") + own_json[1:]
    return InteractionIn(
        channel="app" if msg_type == "screen" else "web",
        direction="inbound",
        occurred_at=occurred_at,
        body=_summary(msg_type, msg),
        source_id=_source_id(message_id),
        identities=identities,
        data=data,
        data_json=data_json,
        customer_words=False,  # the body is a summary of the event, not the customer's words
        display_name=display_name,
    )


def _trait_name(traits: dict[str, Any]) -> str:
    """The person's name from an identify call's traits (Segment's reserved ``name``, else
    ``firstName`` and ``lastName``), for a customer that has none yet."""
    name = traits.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [traits.get(k) for k in ("firstName", "lastName")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return " ".join(name.split())[:200]


def request_parse(
    payload: Any, *, kind: str | None, received_at: datetime, source: Source
) -> list[InteractionIn]:
    """The interactions for a decoded request body (a single call, or ``/v1/batch``)."""
    if kind is not None:
        return [
            message_parse(payload, index=None, kind=kind, received_at=received_at, source=source)
        ]
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
        raise bad_request("a batch body is an object with a 'batch' list", "batch")
    if not payload["batch"]:
        raise bad_request("the batch is empty", "batch")
    return [
        message_parse(
            msg,
            index=i,
            kind=None,
            received_at=received_at,
            batch_sent_at=payload.get("sentAt"),
            batch_context=payload.get("context"),
            source=source,
        )
        for i, msg in enumerate(payload["batch"])
    ]


# --- recording ----------------------------------------------------------------------------


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("database is locked", "database is busy", "lock timeout"))


_thread_gate = threading.Lock()


@contextlib.contextmanager
def _sqlite_writer_turn(deadline: float) -> Iterator[None]:
    """Take turns writing among this process's threads.

    SQLite's busy handler sleeps in growing steps (up to 100 ms) while another writer holds
    the lock, so under load much of the wait is sleep after the lock was already free;
    threads of one process queue here instead. Across processes SQLite's own lock decides
    (no file locks as coordination). Bounded: past the deadline the request gets 429.
    """
    if not _thread_gate.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise Saturated("ingestion is saturated; retry after a second")
    try:
        yield
    finally:
        _thread_gate.release()


@contextlib.contextmanager
def _bounded_lock_wait() -> Iterator[None]:
    """Wait at most LOCK_WAIT_MS for write locks inside the block."""
    if connection.vendor == "sqlite":
        deadline = time.monotonic() + LOCK_WAIT_MS / 1000
        with _sqlite_writer_turn(deadline):
            connection.ensure_connection()
            remaining = max(1, int((deadline - time.monotonic()) * 1000))
            with connection.cursor() as cur:
                cur.execute(f"PRAGMA busy_timeout = {remaining}")
            try:
                yield
            finally:
                with connection.cursor() as cur:
                    cur.execute("PRAGMA busy_timeout = 20000")
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{int(LOCK_WAIT_MS)}ms'")
        yield


def events_record(*, items: list[InteractionIn], now: datetime) -> list[int]:
    """Record a request's events atomically; each messageId once (a repeat returns its id).

    Raises ``Saturated`` (429) when the database's write lock cannot be had in time, so
    the client retries later rather than dropping valid data.
    """
    batch = interactions_prepare(items=items)  # before taking a turn at the write lock
    try:
        with _bounded_lock_wait():
            return interactions_ingest(items=batch, now=now)
    except OperationalError as exc:
        if _is_busy(exc):
            raise Saturated("ingestion is saturated; retry after a second") from exc
        raise
