"""How lastmile signs what it sends and checks what it receives over webhooks.

One scheme in both directions (inbound messages, outbound messages, event webhooks):

- ``X-Lastmile-Timestamp: <unix seconds>`` — when the request was signed;
- ``X-Lastmile-Signature: v1=<hex>`` where ``<hex>`` is the lowercase hex HMAC-SHA256,
  keyed with the integration's (or subscription's) secret, of the bytes
  ``f"{timestamp}."`` followed by the raw request body, exactly as sent.

The receiver recomputes the HMAC over the body bytes it received (before any JSON parsing),
compares in constant time, and refuses a timestamp more than five minutes away from its own
clock in either direction, so a captured request cannot be replayed later. Signing the
timestamp with the body stops an attacker from refreshing it. Several ``v1=`` values may be
given, separated by commas (one per secret while a secret is being rotated); one match is
enough.

Python, for a receiver::

    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, signature.removeprefix("v1="))

This module is pure: no ORM, no clock (``now`` is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime

from lastmile.core.errors import ErrorCode

TIMESTAMP_HEADER = "X-Lastmile-Timestamp"
SIGNATURE_HEADER = "X-Lastmile-Signature"
DELIVERY_HEADER = "X-Lastmile-Delivery"
EVENT_HEADER = "X-Lastmile-Event"
SCHEME = "v1"
TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """Why a request's signature is refused; ``code`` is stable, ``reason`` is for people."""

    def __init__(self, code: ErrorCode, header: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.header = header
        self.reason = reason


def secret_generate() -> str:
    """A new signing secret: 256 random bits, URL-safe, recognisable by its prefix."""
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


def secret_prefix(secret: str) -> str:
    """The start of a secret that is stored beside it and shown, so people can tell secrets
    apart without seeing one."""
    return secret[: len(SECRET_PREFIX) + 4]


def signature_compute(secret: str, timestamp: int | str, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body`` keyed by ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
    """The two headers that sign ``body`` at ``now``."""
    timestamp = int(now.timestamp())
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={signature_compute(secret, timestamp, body)}",
    }


def signature_verify(
    *,
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a signed request; return its timestamp, or raise ``SignatureError`` saying why.

    1. Both headers present; the timestamp a whole number of seconds.
    2. The timestamp within ``tolerance`` seconds of ``now`` (the edges are accepted).
    3. One of the ``v1=`` signatures equal, in constant time, to the one we compute.
    """
    if not timestamp:
        raise SignatureError(ErrorCode.SIGNATURE_MISSING, TIMESTAMP_HEADER, "header is missing")
    if not signature:
        raise SignatureError(ErrorCode.SIGNATURE_MISSING, SIGNATURE_HEADER, "header is missing")
    text = timestamp.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise SignatureError(
            ErrorCode.TIMESTAMP_INVALID, TIMESTAMP_HEADER, "must be a Unix time in whole seconds"
        )
    ts = int(text)
    skew = int(now.timestamp()) - ts
    if skew > tolerance:
        raise SignatureError(
            ErrorCode.TIMESTAMP_STALE,
            TIMESTAMP_HEADER,
            f"signed {skew} s ago; requests older than {tolerance // 60} minutes are refused "
            "(replay protection): sign each request when you send it",
        )
    if -skew > tolerance:
        raise SignatureError(
            ErrorCode.TIMESTAMP_FUTURE,
            TIMESTAMP_HEADER,
            f"{-skew} s in the future; more than {tolerance // 60} minutes of clock skew is "
            "refused: check the sender's clock",
        )
    expected = signature_compute(secret, text, body)
    offered = [part.strip() for part in signature.split(",")]
    candidates = [p.removeprefix(f"{SCHEME}=") for p in offered if p.startswith(f"{SCHEME}=")]
    if not candidates:
        raise SignatureError(
            ErrorCode.SIGNATURE_INVALID, SIGNATURE_HEADER, f"expected '{SCHEME}=<hex HMAC-SHA256>'"
        )
    # compare_digest on every candidate (no early exit): the time does not tell which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.strip().lower().encode())
    if not matched:
        raise SignatureError(
            ErrorCode.SIGNATURE_INVALID,
            SIGNATURE_HEADER,
            "does not match the body: sign f'{timestamp}.' + the raw body with the "
            "integration's secret (HMAC-SHA256, hex)",
        )
    return ts


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header from a case-insensitive mapping (requests, http.server) or Django's META."""
    value = headers.get(name)
    if value is None:
        value = headers.get("HTTP_" + name.upper().replace("-", "_"))
    return value
