"""The mail channel's settings: read from Django settings, defaulting to LASTMILE_* variables.

Each value is looked up on ``django.conf.settings`` first (so tests and deployments can set
it there), then in the environment through the same fail-loudly helpers as ``settings.py``.

| variable                              | default   | meaning                                  |
|---------------------------------------|-----------|------------------------------------------|
| LASTMILE_SMTP_HOST / LASTMILE_SMTP_PORT | 127.0.0.1 / 2525 | where ``lastmile smtpd`` listens     |
| LASTMILE_MAIL_ADDRESSES               | empty     | ``support@x.com=front,billing@x.com=back``: addresses accepted besides the Mailbox rows |
| LASTMILE_MAIL_MAX_BYTES               | 26214400  | a bigger message is refused (SMTP 552)    |
| LASTMILE_MAIL_ATTACHMENT_MAX_BYTES    | 10485760  | a bigger attachment is recorded, not kept |
| LASTMILE_MAIL_ATTACHMENT_MAX_COUNT    | 20        | attachments kept per message              |
| LASTMILE_MAIL_ATTACHMENT_TYPES        | see below | comma-separated content types kept        |
| LASTMILE_MAIL_STORAGE_DIR             | VAR_DIR/mail/store | raw messages and attachments     |
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_ATTACHMENT_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heic",
    "text/plain",
    "text/csv",
    "text/calendar",
    "message/rfc822",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
)


def _env_int(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is not None:
        return int(value)
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from None
    if number < 0:
        raise ImproperlyConfigured(f"{name}={raw!r}: must not be negative")
    return number


def _env_str(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is not None:
        return str(value)
    return os.environ.get(name) or default


def smtp_host() -> str:
    return _env_str("LASTMILE_SMTP_HOST", "127.0.0.1")


def smtp_port() -> int:
    return _env_int("LASTMILE_SMTP_PORT", 2525)


def max_message_bytes() -> int:
    return _env_int("LASTMILE_MAIL_MAX_BYTES", 25 * 1024 * 1024)


def attachment_max_bytes() -> int:
    return _env_int("LASTMILE_MAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def attachment_max_count() -> int:
    return _env_int("LASTMILE_MAIL_ATTACHMENT_MAX_COUNT", 20)


def attachment_types() -> frozenset[str]:
    value: Any = getattr(settings, "LASTMILE_MAIL_ATTACHMENT_TYPES", None)
    if value is None:
        value = os.environ.get("LASTMILE_MAIL_ATTACHMENT_TYPES") or ",".join(
            DEFAULT_ATTACHMENT_TYPES
        )
    items = value.split(",") if isinstance(value, str) else list(value)
    types = frozenset(t.strip().lower() for t in items if t.strip())
    bad = [t for t in types if "/" not in t]
    if bad:
        raise ImproperlyConfigured(
            f"LASTMILE_MAIL_ATTACHMENT_TYPES: {bad[0]!r} is not a content type (type/subtype)"
        )
    return types


def storage_dir() -> Path:
    return Path(_env_str("LASTMILE_MAIL_STORAGE_DIR", str(settings.VAR_DIR / "mail" / "store")))


def configured_addresses() -> dict[str, str]:
    """``LASTMILE_MAIL_ADDRESSES`` as {address: team slug}; nonsense stops with a message."""
    raw = _env_str("LASTMILE_MAIL_ADDRESSES", "")
    out: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        address, sep, slug = item.partition("=")
        address, slug = address.strip().lower(), slug.strip()
        if not sep or "@" not in address or not slug:
            raise ImproperlyConfigured(
                f"LASTMILE_MAIL_ADDRESSES: {item!r} should look like support@example.com=teamslug"
            )
        out[address] = slug
    return out
