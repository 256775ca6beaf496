"""Reading mention files: Twitter/X API v2 JSON and the "Customer Support on Twitter" CSV.

Readers yield one :class:`Row` per record, in file order, each with its position (the line
it starts on; for a single JSON document, the tweet's 1-based index in ``data``), the bytes
read so far (for a progress bar), and either a checked :class:`MentionIn` or the reason it
is malformed. A malformed record never stops the file.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from lastmile.listening.query import Text
from lastmile.listening.records import (
    MentionIn,
    RowError,
    handle_normalize,
    mention_in,
    mention_in_thread,
)

FORMATS = ("twitter-json", "twcs-csv")
TWCS_COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)
TWCS_TIME = "%a %b %d %H:%M:%S %z %Y"  # Tue Oct 31 22:10:47 +0000 2017


@dataclass
class Row:
    position: int
    consumed: int
    item: MentionIn | None = None
    error: str = ""
    filtered: bool = False


class FileError(ValueError):
    """The file as a whole cannot be read in this format."""


def detect_format(head: bytes) -> str:
    """``twitter-json`` or ``twcs-csv`` from the first bytes of a file; FileError if neither."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] in (b"{", b"["):
        return "twitter-json"
    first = text.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lower()
    if first.startswith("tweet_id,") or "in_response_to_tweet_id" in first:
        return "twcs-csv"
    raise FileError(
        "cannot tell the format: expected Twitter API v2 JSON ({...}) or the TWCS CSV header "
        "(tweet_id,author_id,inbound,...); give --format"
    )


class BrandFilter:
    """Keeps the posts of one brand's conversations: by or to the brand, or linked by reply
    ids to a post kept before."""

    def __init__(self, handle: str) -> None:
        self.handle = handle_normalize(handle, "--brand")
        self.linked: set[str] = set()

    def keep(self, item: MentionIn) -> bool:
        ids = {item.external_id, item.in_reply_to_id, *item.reply_ids} - {""}
        hit = (
            item.author_handle == self.handle
            or item.in_reply_to_handle == self.handle
            or "@" + self.handle in Text(item.text).words
            or item.external_id in self.linked
            or (item.in_reply_to_id != "" and item.in_reply_to_id in self.linked)
        )
        if hit:
            self.linked |= ids
        return hit


def _lines(stream: IO[bytes], bad: set[int]) -> Iterator[tuple[str, int]]:
    """Decoded lines with the bytes read so far; lines that are not UTF-8 are noted in ``bad``."""
    consumed = 0
    for number, raw in enumerate(stream, start=1):
        consumed += len(raw)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(number)
            line = raw.decode("utf-8", errors="replace")
        yield line, consumed


def _bool(value: str, field: str) -> bool:
    v = (value or "").strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise RowError(field, f"expected True or False, got {value!r}")


_MONTHS = {
    m: f"{i:02d}"
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_WEEKDAYS = frozenset(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])


def _twcs_time(value: str) -> datetime:
    # The dataset writes every time in UTC as "Tue Oct 31 22:10:47 +0000 2017": those are
    # rearranged into ISO 8601 for one C call (strptime was a tenth of reading a file, six
    # int() calls a third of what was left); anything else as strptime reads it.
    parts = (value or "").strip().split(" ")
    if len(parts) == 6 and parts[4] == "+0000" and parts[0] in _WEEKDAYS:
        month, day, clock, year = _MONTHS.get(parts[1]), parts[2], parts[3], parts[5]
        if month and len(day) == 2 and len(clock) == 8 and len(year) == 4:
            iso = f"{year}-{month}-{day}T{clock}+00:00"
            if iso.isascii():
                with contextlib.suppress(ValueError):  # e.g. Feb 30: strptime says why below
                    return datetime.fromisoformat(iso)
    try:
        at = datetime.strptime((value or "").strip(), TWCS_TIME)  # noqa: DTZ007 - %z in it
    except ValueError:
        raise RowError(
            "created_at", f"{value!r} is not a time like 'Tue Oct 31 22:10:47 +0000 2017'"
        ) from None
    return at


def twcs_item(rec: dict[str, str], *, network: str = "twitter") -> MentionIn:
    """One TWCS record as a mention; RowError(field, reason) if it is malformed."""
    inbound = _bool(rec.get("inbound", ""), "inbound")
    replies = [r.strip() for r in (rec.get("response_tweet_id") or "").split(",") if r.strip()]
    return mention_in_thread(
        network=network,
        external_id=rec.get("tweet_id"),
        author_handle=rec.get("author_id") or "",
        text=rec.get("text"),
        posted_at=_twcs_time(rec.get("created_at", "")),
        in_reply_to_id=rec.get("in_response_to_tweet_id"),
        reply_ids=replies,
        # The dataset's own fact: inbound = customer to brand, else the brand's reply.
        from_brand=not inbound,
        to_brand=inbound,
    )


def read_twcs(
    stream: IO[bytes], *, network: str = "twitter", brand: BrandFilter | None = None
) -> Iterator[Row]:
    bad: set[int] = set()
    lines = _lines(stream, bad)
    state = {"line": 0, "consumed": 0}

    def feed() -> Iterator[str]:
        for line, consumed in lines:
            state["line"] += 1
            state["consumed"] = consumed
            yield line

    reader = csv.reader(feed())
    try:
        header = next(reader)
    except StopIteration:
        raise FileError("the file is empty") from None
    except csv.Error as exc:
        raise FileError(f"line 1: {exc}") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in TWCS_COLUMNS if c not in names]
    if missing:
        raise FileError(f"line 1: not a TWCS header, missing column(s) {', '.join(missing)}")
    while True:
        start = state["line"] + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(start, state["consumed"], error=f"unreadable CSV: {exc}")
            continue
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # a blank line
        if any(n in bad for n in range(start, state["line"] + 1)):
            yield Row(start, state["consumed"], error="not UTF-8 text")
            continue
        if len(values) != len(names):
            yield Row(
                start,
                state["consumed"],
                error=f"expected {len(names)} columns, got {len(values)}",
            )
            continue
        try:
            item = twcs_item(dict(zip(names, values, strict=True)), network=network)
        except RowError as exc:
            yield Row(start, state["consumed"], error=str(exc))
            continue
        if brand is not None and not brand.keep(item):
            yield Row(start, state["consumed"], filtered=True)
            continue
        yield Row(start, state["consumed"], item=item)


# --- Twitter API v2 ----------------------------------------------------------------------------


def _iso(value: Any) -> datetime:
    if not isinstance(value, str):
        raise RowError("created_at", "missing (request tweet.fields=created_at)")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RowError("created_at", f"{value!r} is not an ISO 8601 time") from None


def _users(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    includes = doc.get("includes") if isinstance(doc.get("includes"), dict) else {}
    users = includes.get("users") if isinstance(includes, dict) else None
    return {
        str(u.get("id")): u
        for u in (users if isinstance(users, list) else [])
        if isinstance(u, dict)
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def twitter_item(
    tweet: Any, users: dict[str, dict[str, Any]], *, network: str = "twitter"
) -> MentionIn:
    """One API v2 tweet (with the response's ``includes.users``) as a mention."""
    if not isinstance(tweet, dict):
        raise RowError("tweet", "must be an object")
    author_id = tweet.get("author_id")
    if author_id in (None, ""):
        raise RowError("author_id", "missing (request expansions=author_id)")
    user = users.get(str(author_id))
    if user is None:
        raise RowError("author_id", f"user {author_id} is not in includes.users")
    metrics: dict[str, Any] = _dict(tweet.get("public_metrics"))
    umetrics: dict[str, Any] = _dict(user.get("public_metrics"))
    replied_to = ""
    for ref in tweet.get("referenced_tweets") or []:
        if isinstance(ref, dict) and ref.get("type") == "replied_to":
            replied_to = ref.get("id") or ""
    reply_user = tweet.get("in_reply_to_user_id")
    reply_handle = ""
    if reply_user not in (None, "") and str(reply_user) in users:
        reply_handle = users[str(reply_user)].get("username") or ""
    note = tweet.get("note_tweet")
    text = note.get("text") if isinstance(note, dict) and note.get("text") else tweet.get("text")
    username = user.get("username")
    tweet_id = tweet.get("id")
    try:
        reposts = int(metrics.get("retweet_count") or 0) + int(metrics.get("quote_count") or 0)
    except (TypeError, ValueError):
        raise RowError("public_metrics.retweet_count", "must be a whole number") from None
    return mention_in(
        network=network,
        external_id=tweet_id,
        author_handle=username or "",
        author_id=author_id,
        author_name=user.get("name") or "",
        author_followers=umetrics.get("followers_count"),
        author_verified=bool(user.get("verified")) if "verified" in user else None,
        text=text,
        posted_at=_iso(tweet.get("created_at")),
        url=f"https://twitter.com/{username}/status/{tweet_id}" if username and tweet_id else "",
        conversation_id=tweet.get("conversation_id") or "",
        in_reply_to_id=replied_to,
        in_reply_to_handle=reply_handle,
        lang=tweet.get("lang") or "",
        likes=metrics.get("like_count"),
        reposts=reposts,
        replies=metrics.get("reply_count"),
        impressions=metrics.get("impression_count"),
    )


def _tweets_of(doc: Any) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The tweets of one API response (``data`` list or one tweet) and its users."""
    if isinstance(doc, list):
        return doc, {}
    if not isinstance(doc, dict):
        raise RowError("document", "must be a JSON object")
    if "data" in doc:
        data = doc["data"]
        return (data if isinstance(data, list) else [data]), _users(doc)
    if "id" in doc and "text" in doc:
        return [doc], _users(doc)
    raise RowError("data", "no tweets: expected an API v2 response with 'data'")


def read_twitter_json(
    stream: IO[bytes], *, network: str = "twitter", brand: BrandFilter | None = None
) -> Iterator[Row]:
    """A response document (``{"data": [...], "includes": {"users": [...]}}``), or JSON Lines
    of them (one page per line, as a paging script writes them)."""
    raw = stream.read()
    size = len(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if "Extra data" not in exc.msg:
            # One document that does not parse: say where, unless it is JSON Lines.
            first = text.lstrip().split("\n", 1)[0]
            try:
                json.loads(first)
            except json.JSONDecodeError:
                raise FileError(f"line {exc.lineno}: {exc.msg}") from None
        yield from _json_lines(text, size, network=network, brand=brand)
        return
    try:
        tweets, users = _tweets_of(doc)
    except RowError as exc:
        raise FileError(str(exc)) from None
    for index, tweet in enumerate(tweets, start=1):
        yield _one(tweet, users, index, size, network=network, brand=brand, where="")


def _json_lines(text: str, size: int, *, network: str, brand: BrandFilter | None) -> Iterator[Row]:
    consumed = 0
    for number, line in enumerate(text.split("\n"), start=1):
        consumed += len(line.encode("utf-8")) + 1
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            tweets, users = _tweets_of(doc)
        except json.JSONDecodeError as exc:
            yield Row(number, min(consumed, size), error=f"not JSON: {exc.msg}")
            continue
        except RowError as exc:
            yield Row(number, min(consumed, size), error=str(exc))
            continue
        for index, tweet in enumerate(tweets):
            where = f"data[{index}]" if len(tweets) > 1 else ""
            yield _one(
                tweet, users, number, min(consumed, size), network=network, brand=brand, where=where
            )


def _one(
    tweet: Any,
    users: dict[str, dict[str, Any]],
    position: int,
    consumed: int,
    *,
    network: str,
    brand: BrandFilter | None,
    where: str,
) -> Row:
    try:
        item = twitter_item(tweet, users, network=network)
    except RowError as exc:
        prefix = f"{where}." if where else ""
        return Row(position, consumed, error=f"{prefix}{exc}")
    if brand is not None and not brand.keep(item):
        return Row(position, consumed, filtered=True)
    return Row(position, consumed, item=item)


def read(
    stream: IO[bytes], fmt: str, *, network: str = "twitter", brand: BrandFilter | None = None
) -> Iterable[Row]:
    if fmt == "twcs-csv":
        return read_twcs(stream, network=network, brand=brand)
    if fmt == "twitter-json":
        return read_twitter_json(stream, network=network, brand=brand)
    raise FileError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
