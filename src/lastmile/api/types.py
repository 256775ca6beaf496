"""Field types shared by the API schemas."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _utc(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("needs a timezone, e.g. 2026-11-25T10:00:00Z")
    v = v.astimezone(UTC)
    if not 1970 <= v.year <= 2200:
        raise ValueError("year must be between 1970 and 2200")
    return v


# An aware instant, normalised to UTC at the edge.
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
