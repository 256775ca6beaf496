"""The funnels API's bodies and answers.

A funnel body (ad hoc or saved) carries the fields of ``FunnelDefinition`` under the
same names, steps and exclusions as that module's ``Step`` and ``Exclusion``: one place
says what a step is, and the errors name the same fields everywhere (``steps[1].where[0]
.value``). Ranges are ``from`` and ``to``; a saved funnel has none of its own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.funnels.definitions import (
    MAX_FILTERS,
    MAX_STEPS,
    MAX_WINDOW_SECONDS,
    MIN_STEPS,
    Breakdown,
    Exclusion,
    Mode,
    PropertyFilter,
    Step,
)
from lastmile.funnels.results import CURSOR

RANGE_HELP = "ISO 8601 with a time zone; default: `to` now, `from` 30 days before `to`"

# The definition's models, strict as every request body is (``"5"`` is not a number of
# seconds, ``1`` not a boolean): the same fields and validators, so the same errors.
_STRICT_IN = ConfigDict(extra="forbid", frozen=True, strict=True)


class FilterIn(PropertyFilter):
    model_config = _STRICT_IN


class StepIn(Step):
    model_config = _STRICT_IN

    where: list[FilterIn] = Field(default_factory=list, max_length=MAX_FILTERS)  # type: ignore[assignment]


class ExclusionIn(Exclusion):
    model_config = _STRICT_IN

    where: list[FilterIn] = Field(default_factory=list, max_length=MAX_FILTERS)  # type: ignore[assignment]


class BreakdownIn(Breakdown):
    model_config = _STRICT_IN


class DefinitionFields(StrictSchema):
    """The definition of a funnel without its range: what a saved funnel keeps."""

    mode: Mode = "ordered"
    window_seconds: int = Field(
        gt=0, le=MAX_WINDOW_SECONDS, description="from step 1 to the last step, 1 s to a year"
    )
    steps: list[StepIn] = Field(min_length=MIN_STEPS, max_length=MAX_STEPS)
    exclusions: list[ExclusionIn] = Field(default_factory=list, max_length=MAX_STEPS)

    def definition(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "window_seconds": self.window_seconds,
            "steps": self.steps,
            "exclusions": self.exclusions,
        }


class RangeFields(StrictSchema):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)

    from_: UtcDatetime | None = Field(default=None, alias="from", description=RANGE_HELP)
    to: UtcDatetime | None = Field(default=None, description=RANGE_HELP)
    breakdown: BreakdownIn | None = Field(
        default=None,
        description='{"property": "<name>"}: by that property of the entry event; '
        '{"first_touch": "source"} or {"first_touch": "channel"}: by the source or the'
        " channel (web, app) of the person's first event; "
        '{"first_touch": "team"}: by the first team that touched the person (the slug of'
        " the team owning their earliest loop or case; null: no team)",
    )


class QueryIn(RangeFields, DefinitionFields):
    """``POST /funnels/query``: a funnel asked once, not saved."""


class SavedQueryIn(RangeFields):
    """``POST /funnels/{id}/query``: the saved funnel over this range."""


class FunnelIn(DefinitionFields):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    team: str | None = Field(default=None, max_length=50, description="the owning team's slug")


class FunnelPatch(StrictSchema):
    """Only the fields given change; a definition given whole (steps without mode keep
    the stored mode, and so on) is checked whole."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    team: str | None = Field(default=None, max_length=50)
    archived: bool | None = None
    mode: Mode | None = None
    window_seconds: int | None = Field(default=None, gt=0, le=MAX_WINDOW_SECONDS)
    steps: list[StepIn] | None = Field(default=None, min_length=MIN_STEPS, max_length=MAX_STEPS)
    exclusions: list[ExclusionIn] | None = Field(default=None, max_length=MAX_STEPS)


class FunnelsQuery(Schema):
    archived: bool = False
    search: str | None = Field(default=None, max_length=200)


class DropoffsQuery(Schema):
    model_config = ConfigDict(populate_by_name=True)

    step: int = Field(ge=2, le=MAX_STEPS, description="1-based: who stopped before this step")
    after: str | None = Field(
        default=None,
        max_length=50,
        pattern=CURSOR.pattern,
        description="a page's `next_after`: the page after it",
    )
    limit: int = Field(default=50, ge=1, le=200)
    from_: UtcDatetime | None = Field(default=None, alias="from", description=RANGE_HELP)
    to: UtcDatetime | None = Field(default=None, description=RANGE_HELP)


class TrendQuery(Schema):
    model_config = ConfigDict(populate_by_name=True)

    interval: Literal["day", "week"] = "day"
    from_: UtcDatetime | None = Field(default=None, alias="from", description=RANGE_HELP)
    to: UtcDatetime | None = Field(default=None, description=RANGE_HELP)


# --- answers ----------------------------------------------------------------------------


class FunnelOut(Schema):
    id: int
    name: str
    description: str
    team: str | None
    mode: Mode
    window_seconds: int
    steps: list[Step]
    exclusions: list[Exclusion]
    archived: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class StepOut(Schema):
    step: int = Field(description="1-based")
    kind: Literal["track", "page", "screen"]
    event: str = Field(description="the step's event, page or screen name")
    count: int
    conversion_from_first: float | None
    conversion_from_previous: float | None
    median_seconds_from_previous: float | None
    p90_seconds_from_previous: float | None


class BreakdownOut(Schema):
    value: str | None = Field(description="the bucket's value as text; null: not set")
    other: bool = Field(description="the people of every bucket past the 20 largest")
    people: int
    steps: list[StepOut]


class FreshnessOut(Schema):
    mark: int = Field(description="every event-store id up to this one is in the copy")
    copied_at: datetime | None = Field(
        description="when the copy last ran; null: never, or an engine that does not say"
    )


class QueryOut(Schema):
    model_config = ConfigDict(populate_by_name=True)

    funnel: int | None = Field(description="the saved funnel's id; null: asked ad hoc")
    from_: datetime = Field(alias="from")
    to: datetime
    mode: Mode
    window_seconds: int
    people: int = Field(description="the people who entered (counted at step 1)")
    steps: list[StepOut]
    breakdown: list[BreakdownOut] | None
    freshness: FreshnessOut


class DropoffOut(Schema):
    id: int = Field(description="the customer's id")
    display_name: str | None = Field(description="null: a customer this token may not see")
    last_event: str | None = Field(description="the name of their latest event by now")
    last_event_at: datetime | None
    window_open: bool | None = Field(
        description="the person may still reach the step: their window has not ended"
    )


class DropoffsOut(Schema):
    funnel: int
    step: int
    items: list[DropoffOut]
    next_after: str | None = Field(
        description="pass as `after` for the next page; null: this is the last page"
    )
    freshness: FreshnessOut


class TrendPointOut(Schema):
    start: date = Field(description="the UTC day, or the ISO week's Monday")
    entered: int
    converted: int = Field(description="of those who entered then, counted at the last step")
    conversion: float | None


class TrendOut(Schema):
    funnel: int
    interval: Literal["day", "week"]
    points: list[TrendPointOut]
    freshness: FreshnessOut
