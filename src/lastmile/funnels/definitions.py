"""A funnel's definition, validated at the edge; the semantics every engine answers.

Semantics (the README quotes this; ``tests/funnels/reference.py`` is its brute-force
transcription and every engine is property-tested against it):

- **Events** are the Segment ``track``, ``page`` and ``screen`` calls lastmile received
  (``identify``, ``group`` and ``alias`` are not user actions and are not funnel events).
  **People** are lastmile customers after identity resolution: an anonymous visitor who
  later identifies was merged into one customer, and counts once.
- A person's events are ordered by time, ties by event id: "before" and "after" below
  mean this order, so two events in the same microsecond still have one order.
- A **step** matches an event by name (``event`` for a track call, ``page`` or
  ``screen`` for those calls' ``name``) and every one of its property filters:
  ``equals`` compares with the property's JSON type: a string filter matches a JSON
  string equal to it, a number a JSON number equal to it, a boolean a JSON boolean;
  ``not_equals`` is its negation (a missing property matches it); ``contains`` matches a
  JSON string holding the text, case-insensitively; ``gt`` / ``lt`` compare JSON numbers
  only; ``is_set`` means present and not JSON ``null``.
- ``ordered`` and ``strict``: a person **reaches step k** when there are events
  e1 before e2 before ... before ek matching steps 1..k, at times t1 <= ... <= tk, with
  tk - t1 <= ``window_seconds`` and ``from`` <= t1 <= ``to`` (both inclusive; later steps
  may fall after ``to``). ``strict`` adds: no other event of that person between two
  consecutive steps.
- Extensions (ordered and strict): an **optional** step may be left out of the chain
  (the first step cannot be optional); the chain for step k holds every required step
  before k, any of the optional ones, and step k. A step's ``within_seconds`` bounds and
  ``min_gap_seconds`` floors the time from the previous step *in the chain*. An
  **exclusion** (an event with property filters, between ``from_step`` and ``to_step``)
  rules a chain out when a matching event lies strictly between two consecutive steps
  i < j of the chain with ``from_step`` <= i and j <= ``to_step``.
- ``unordered``: an attempt starts at any event matching any step of the funnel, at t1
  with ``from`` <= t1 <= ``to``; a person reaches step k when, in one attempt, events at
  or after its first and at most ``window_seconds`` after t1 match every required step
  before k and step k itself, in any order (one event may match several steps). Per-step
  windows, gaps and exclusions need an order and are refused in this mode.
- A person is **counted at step k** when they reach step k and are counted at the last
  required step before k (in ordered and strict modes reaching implies it; in unordered
  mode it keeps the counts from growing). Conversion from the first and from the
  previous step divide by the counts of step 1 and of step k-1.
- **Time from the previous step** (ordered and strict): for each person counted at step k,
  the shortest tk - t(previous step in the chain) over every chain reaching step k; the
  median and p90 (linear interpolation) are over those people. None in unordered mode.
- **Drop-offs at step k** (k >= 2): the people counted at the last required step before k
  and not at step k, listed newest first: by the time of their last event, latest first
  (people with no event by ``now`` last), ties by customer id (the engines also page them
  by customer id alone, for a reader that wants every one). With each: their **last
  event** (the latest event of that person in the copy at or before ``now``, any name,
  ties by event id) and whether their **window is still open**: ``t1 + window_seconds >
  now``, t1 being their latest *entry candidate* (below), the latest time a chain of theirs
  can have begun.
- A person's **entry** is their first entry candidate: an event with ``from`` <= t <=
  ``to`` that can begin a chain (one matching step 1; in ``unordered`` mode one matching
  any step). Everyone counted at step 1 has one.
- **Breakdown** puts each counted person in one bucket, so the buckets' counts add up to
  the funnel's. ``{"property": name}``: the value of that property on the person's entry
  event, a JSON string as itself, any other JSON value as its JSON text (``3``, ``2.5``,
  ``true``), missing or JSON ``null`` as the null bucket. ``{"first_touch": "source"}``:
  the source of the person's first event in the whole copy (whatever the date range; ties
  by event id): its Segment ``context.campaign.source``, else its ``utm_source`` property
  (as above), else the null bucket. ``{"first_touch": "channel"}``: likewise the channel
  of that first event in the event store (``web`` or ``app``: Segment's ``screen`` calls
  come from an app, the others from the web), the null bucket when unknown (events
  copied before the channel was). ``{"first_touch": "team"}``: the first team that
  touched the person in lastmile: the team (its slug) now owning the earliest loop or case
  opened for the person (whatever the date range; a case before a loop opened at the same
  time, then the smaller id; for a person made of merged customers, the earliest over all
  of them, ties by the smaller customer id); loops and cases of no team (a deleted one) do
  not count; people no team touched are the null bucket. Each bucket is answered as a funnel of its own people
  (counts, conversions, times); the 20 buckets with the most people at step 1 are
  returned (ties by value, the null bucket last), the rest together as "other".
- **Trend** puts each person counted at step 1 in the UTC day (or ISO week, from Monday)
  of their entry; per period: entered (counted at step 1), converted (counted at the last
  step), and their ratio.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_STEPS = 30
MIN_STEPS = 2
MAX_WINDOW_SECONDS = 365 * 24 * 3600
MAX_FILTERS = 20
Mode = Literal["ordered", "strict", "unordered"]
Op = Literal["equals", "not_equals", "contains", "gt", "lt", "is_set"]
# A property name is used in a JSON path (``$."name"``): no quote or backslash in it.
PROPERTY_NAME = re.compile(r'^[^"\\\x00-\x1f]{1,200}$')

_STRICT = ConfigDict(extra="forbid", frozen=True)
BREAKDOWN_BUCKETS = 20  # buckets returned by name; the rest are "other"


class PropertyFilter(BaseModel):
    """One test on an event's ``properties``."""

    model_config = _STRICT

    property: str
    op: Op
    value: str | bool | int | float | None = None

    @field_validator("property")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PROPERTY_NAME.match(v):
            raise ValueError("1 to 200 characters, without a double quote or backslash")
        return v

    @model_validator(mode="after")
    def _value_fits_op(self) -> Self:
        v = self.value
        if self.op == "is_set":
            if v is not None:
                raise ValueError("value: is_set takes no value")
        elif self.op in ("gt", "lt"):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"value: {self.op} needs a number")
        elif self.op == "contains":
            if not isinstance(v, str) or not v:
                raise ValueError("value: contains needs a non-empty string")
        elif v is None:
            raise ValueError(f"value: {self.op} needs a value")
        return self


class Matcher(BaseModel):
    """What an event must be: one of ``event``, ``page`` or ``screen``, and its filters."""

    model_config = _STRICT

    event: str | None = Field(default=None, min_length=1, max_length=500)
    page: str | None = Field(default=None, min_length=1, max_length=500)
    screen: str | None = Field(default=None, min_length=1, max_length=500)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=MAX_FILTERS)

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        given = [n for n in ("event", "page", "screen") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("event: give exactly one of event, page or screen")
        return self

    @property
    def kind(self) -> str:
        return "track" if self.event is not None else "page" if self.page is not None else "screen"

    @property
    def name(self) -> str:
        return self.event or self.page or self.screen or ""


class Step(Matcher):
    """A funnel step; the time limits count from the previous step of the chain."""

    optional: bool = False
    within_seconds: int | None = Field(default=None, gt=0, le=MAX_WINDOW_SECONDS)
    min_gap_seconds: int | None = Field(default=None, ge=0, le=MAX_WINDOW_SECONDS)

    @model_validator(mode="after")
    def _gap_fits(self) -> Self:
        if (
            self.within_seconds is not None
            and self.min_gap_seconds is not None
            and self.min_gap_seconds > self.within_seconds
        ):
            raise ValueError("min_gap_seconds: must not exceed within_seconds")
        return self


class Exclusion(Matcher):
    """An event that must not happen between two steps (1-based, inclusive bounds)."""

    from_step: int = Field(default=1, ge=1, le=MAX_STEPS)
    to_step: int | None = Field(default=None, ge=2, le=MAX_STEPS)


class Breakdown(BaseModel):
    """Split the result by one property of the entry event, or by first-touch source,
    channel or team; exactly one of the two (semantics above)."""

    model_config = _STRICT

    property: str | None = None
    first_touch: Literal["source", "channel", "team"] | None = None

    @field_validator("property")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not PROPERTY_NAME.match(v):
            raise ValueError("1 to 200 characters, without a double quote or backslash")
        return v

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.property is None) == (self.first_touch is None):
            raise ValueError("property: give exactly one of property or first_touch")
        return self


class FunnelDefinition(BaseModel):
    """A funnel asked of an engine. Field order matters: later validators read earlier
    fields, so each error names the field it is about (``to``, ``steps``, ``exclusions``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mode: Mode = "ordered"
    window_seconds: int = Field(gt=0, le=MAX_WINDOW_SECONDS)
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    steps: list[Step] = Field(min_length=MIN_STEPS, max_length=MAX_STEPS)
    exclusions: list[Exclusion] = Field(default_factory=list, max_length=MAX_STEPS)
    breakdown: Breakdown | None = None

    @field_validator("to")
    @classmethod
    def _to_after_from(cls, v: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("from_")
        if start is not None and v < start:
            raise ValueError("must not be before from")
        return v

    @field_validator("steps")
    @classmethod
    def _steps_fit(cls, v: list[Step], info: ValidationInfo) -> list[Step]:
        if v and v[0].optional:
            raise ValueError("the first step cannot be optional")
        if v and (v[0].within_seconds is not None or v[0].min_gap_seconds is not None):
            raise ValueError("the first step has no previous step to time from")
        if info.data.get("mode") == "unordered" and any(
            s.within_seconds is not None or s.min_gap_seconds is not None for s in v
        ):
            raise ValueError("within_seconds and min_gap_seconds need an ordered mode")
        return v

    @field_validator("exclusions")
    @classmethod
    def _exclusions_fit(cls, v: list[Exclusion], info: ValidationInfo) -> list[Exclusion]:
        if v and info.data.get("mode") == "unordered":
            raise ValueError("exclusions need an ordered mode")
        n = len(info.data.get("steps") or [])
        for x in v:
            last = x.to_step if x.to_step is not None else n
            if n and (last > n or x.from_step >= last):
                raise ValueError(f"from_step < to_step <= {n} (the number of steps)")
        return v

    # --- derived, shared by the engines and the reference ---------------------------

    def required_before(self, k: int) -> int | None:
        """The index of the last required step before step ``k`` (0-based), or None."""
        return next((j for j in range(k - 1, -1, -1) if not self.steps[j].optional), None)

    def predecessors(self, k: int) -> list[int]:
        """The steps that may come right before step ``k`` in a chain: k-1, and further
        back across optional steps up to the first required one."""
        out = []
        for j in range(k - 1, -1, -1):
            out.append(j)
            if not self.steps[j].optional:
                break
        return out

    def exclusion_spans(self, x: Exclusion) -> tuple[int, int]:
        """An exclusion's steps, 0-based inclusive."""
        return x.from_step - 1, (x.to_step if x.to_step is not None else len(self.steps)) - 1
