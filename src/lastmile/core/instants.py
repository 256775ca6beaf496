"""Instants at the edge: the range every accepted date lies in, and the one parser and
pydantic type for it. In core, so that any app's edge (the Segment endpoint, signed
webhooks, timeline cursors) reads dates the way the API does without importing the API."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

# Every instant the API takes lies in this range: far enough for any real deadline or
# history, and far enough from datetime's own limits that no time zone conversion or
# clock-skew arithmetic on it can overflow (an OverflowError was a 500).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def instant_parse(value: Any, *, naive_is_utc: bool = False) -> datetime:
    """An ISO 8601 date-time string as an aware UTC datetime within EARLIEST..LATEST.

    ValueError (with a sentence for people) for anything else: a number (a Unix time is not
    accepted: its unit is a guess), a string without a time zone (unless ``naive_is_utc``,
    as Segment reads one), or an instant outside the range.
    """
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-25T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value[:40]!r} is not an ISO 8601 date-time, e.g. 2026-11-25T10:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise ValueError("needs a timezone, e.g. 2026-11-25T10:00:00Z")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        parsed = None  # type: ignore[assignment]
    if parsed is None or not EARLIEST <= parsed <= LATEST:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z")
    return parsed


# An aware instant given as an ISO 8601 string with a time zone, 1970..2200, normalised to
# UTC at the edge. The one date-time type of every API input, body or query string.
UtcDatetime = Annotated[
    datetime,
    BeforeValidator(instant_parse),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with a time zone, between 1970-01-01 and 2200-01-01",
        }
    ),
]
