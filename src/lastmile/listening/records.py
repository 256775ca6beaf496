"""One mention as it arrives, checked: the shape every source (files, API) is turned into.

:func:`mention_in` validates and normalises raw values and raises :class:`RowError` naming the
field, so the file importer reports "line 12: posted_at: …" and the API answers 422 with the
item index and field — one set of rules for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_TEXT = 10_000
MAX_ID = 100
MAX_HANDLE = 100
MAX_URL = 500
MAX_COUNT = 2**31 - 1
NETWORK_RE = re.compile(r"^[a-z0-9_.-]{1,30}$")
HANDLE_RE = re.compile(r"^[\w.-]{1,100}$", re.UNICODE)
SPACE_RE = re.compile(r"\s")


class RowError(ValueError):
    """A bad value: which field and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class MentionIn:
    """A mention ready for :func:`lastmile.listening.services.mentions.mentions_ingest`.

    ``from_brand`` / ``to_brand`` are what the source says (the TWCS ``inbound`` column);
    ``None`` lets the watch terms decide. ``reply_ids`` are ids of known replies to it (TWCS
    lists them), used to thread a conversation whatever order its posts arrive in.
    """

    network: str
    external_id: str
    author_handle: str
    text: str
    posted_at: datetime
    author_id: str = ""
    author_name: str = ""
    author_followers: int | None = None
    author_verified: bool | None = None
    url: str = ""
    conversation_id: str = ""
    in_reply_to_id: str = ""
    in_reply_to_handle: str = ""
    reply_ids: tuple[str, ...] = field(default_factory=tuple)
    lang: str = ""
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    impressions: int | None = None
    from_brand: bool | None = None
    to_brand: bool | None = None


def handle_normalize(value: Any, field_name: str = "author.handle") -> str:
    """A handle as stored: no leading @, lower case; RowError if it cannot be one."""
    if not isinstance(value, str):
        raise RowError(field_name, "must be text")
    handle = value.strip().lstrip("@").casefold()
    if not handle:
        raise RowError(field_name, "must not be empty")
    if not HANDLE_RE.match(handle):
        raise RowError(field_name, f"{value!r} is not a handle (letters, digits, _ . -)")
    return handle


def _id(value: Any, field_name: str, *, required: bool = False) -> str:
    if type(value) is str and value.isdigit() and value.isascii() and len(value) <= MAX_ID:
        return value  # the common case (a network's numeric id), as the rules below keep it
    if value is None or value == "":
        if required:
            raise RowError(field_name, "must not be empty")
        return ""
    if isinstance(value, bool):
        raise RowError(field_name, "must be an id, not true/false")
    if isinstance(value, float):
        # A pandas re-save turns integer ids into floats ("3.0").
        if not value.is_integer():
            raise RowError(field_name, f"{value!r} is not an id")
        value = int(value)
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if not text:
        if required:
            raise RowError(field_name, "must not be empty")
        return ""
    if len(text) > MAX_ID:
        raise RowError(field_name, f"longer than {MAX_ID} characters")
    if SPACE_RE.search(text):
        raise RowError(field_name, "must not contain spaces")
    return text


def _count(value: Any, field_name: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise RowError(field_name, f"{value!r} is not a whole number") from None
    if value < 0:
        raise RowError(field_name, "must not be negative")
    return min(value, MAX_COUNT)


def _text(value: Any, field_name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(field_name, "must be text")
    if "\x00" in value:
        raise RowError(field_name, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(field_name, "contains a lone surrogate") from None
    if len(value) > limit:
        raise RowError(field_name, f"longer than {limit} characters")
    return value


def mention_in(
    *,
    network: Any,
    external_id: Any,
    author_handle: Any,
    text: Any,
    posted_at: Any,
    author_id: Any = "",
    author_name: Any = "",
    author_followers: Any = None,
    author_verified: Any = None,
    url: Any = "",
    conversation_id: Any = "",
    in_reply_to_id: Any = "",
    in_reply_to_handle: Any = "",
    reply_ids: Any = (),
    lang: Any = "",
    likes: Any = 0,
    reposts: Any = 0,
    replies: Any = 0,
    impressions: Any = None,
    from_brand: bool | None = None,
    to_brand: bool | None = None,
) -> MentionIn:
    """A checked :class:`MentionIn`; RowError(field, reason) on the first bad value."""
    if not isinstance(network, str) or not NETWORK_RE.match(network.strip().lower()):
        raise RowError("network", "a network name such as twitter (a-z, 0-9, _ . -)")
    if not isinstance(posted_at, datetime):
        raise RowError("posted_at", "must be a date and time")
    if posted_at.tzinfo is None or posted_at.utcoffset() is None:
        raise RowError("posted_at", "needs a time zone (e.g. Z or +00:00)")
    body = _text(text, "text", MAX_TEXT)
    if not body.strip():
        raise RowError("text", "must not be empty")
    followers = (
        None if author_followers in (None, "") else _count(author_followers, "author.followers")
    )
    impressions_n = None if impressions in (None, "") else _count(impressions, "impressions")
    link = _text(url, "url", MAX_URL).strip()
    if link and not link.startswith(("https://", "http://")):
        raise RowError("url", "must start with https:// or http://")
    reply_to = ""
    if in_reply_to_handle:
        reply_to = handle_normalize(in_reply_to_handle, "in_reply_to_handle")
    return MentionIn(
        network=network.strip().lower(),
        external_id=_id(external_id, "external_id", required=True),
        author_handle=handle_normalize(author_handle),
        author_id=_id(author_id, "author.id"),
        author_name=_text(author_name, "author.name", 200).strip(),
        author_followers=followers,
        author_verified=None if author_verified is None else bool(author_verified),
        text=body,
        posted_at=posted_at.astimezone(UTC),
        url=link,
        conversation_id=_id(conversation_id, "conversation_id"),
        in_reply_to_id=_id(in_reply_to_id, "in_reply_to_id"),
        in_reply_to_handle=reply_to,
        reply_ids=tuple(i for i in (_id(r, "reply_ids") for r in (reply_ids or ())) if i),
        lang=_text(lang, "lang", 16).strip(),
        likes=_count(likes, "likes"),
        reposts=_count(reposts, "reposts"),
        replies=_count(replies, "replies"),
        impressions=impressions_n,
        from_brand=from_brand,
        to_brand=to_brand,
    )


def mention_in_thread(
    *,
    network: Any,
    external_id: Any,
    author_handle: Any,
    text: Any,
    posted_at: datetime,
    in_reply_to_id: Any = "",
    reply_ids: Any = (),
    from_brand: bool | None = None,
    to_brand: bool | None = None,
) -> MentionIn:
    """:func:`mention_in` for a source that gives only these fields (the TWCS dataset: the
    author's handle is also their id): the same rules, checked in the same order, without
    the work of the fields it leaves empty (a file import reads tens of thousands a second).
    """
    if not isinstance(network, str) or not NETWORK_RE.match(network.strip().lower()):
        raise RowError("network", "a network name such as twitter (a-z, 0-9, _ . -)")
    if not isinstance(posted_at, datetime):
        raise RowError("posted_at", "must be a date and time")
    if posted_at.tzinfo is None or posted_at.utcoffset() is None:
        raise RowError("posted_at", "needs a time zone (e.g. Z or +00:00)")
    body = _text(text, "text", MAX_TEXT)
    if not body.strip():
        raise RowError("text", "must not be empty")
    return MentionIn(
        network=network.strip().lower(),
        external_id=_id(external_id, "external_id", required=True),
        author_handle=handle_normalize(author_handle),
        author_id=_id(author_handle, "author.id"),
        text=body,
        posted_at=posted_at if posted_at.tzinfo is UTC else posted_at.astimezone(UTC),
        in_reply_to_id=_id(in_reply_to_id, "in_reply_to_id"),
        reply_ids=tuple(i for i in (_id(r, "reply_ids") for r in (reply_ids or ())) if i),
        from_brand=from_brand,
        to_brand=to_brand,
    )
