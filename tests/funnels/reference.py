"""The brute-force reference: the semantics of ``lastmile.funnels.definitions`` transcribed
as literally as possible, every chain tried. Slow on purpose; engines must agree with it."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lastmile.funnels.definitions import BREAKDOWN_BUCKETS, FunnelDefinition, Matcher
from lastmile.funnels.results import (
    BreakdownBucket,
    FunnelResult,
    StepResult,
    TrendPoint,
    quantile,
    rate,
)

US = 1_000_000
# The first-touch team map as the engines take it: (customer id, µs, team slug).
Touches = Sequence[tuple[int, int, str]]


@dataclass(frozen=True)
class Event:
    """A funnel event: ``kind`` is track, page or screen; ``name`` the event or page name."""

    event_id: int
    person: int
    ts_us: int
    kind: str
    name: str
    props: dict[str, Any] = field(default_factory=dict, hash=False)
    source: str | None = None  # the Segment context.campaign.source
    channel: str | None = None  # the event store's channel: web, app, or unknown (None)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _equals(raw: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return isinstance(raw, bool) and raw == value
    if _is_number(value):
        return _is_number(raw) and float(raw) == float(value)
    return isinstance(raw, str) and raw == value


def matches(m: Matcher, e: Event) -> bool:
    if e.kind != m.kind or e.name != m.name:
        return False
    for f in m.where:
        raw = e.props.get(f.property)
        if f.op == "is_set":
            ok = raw is not None
        elif f.op == "equals":
            ok = _equals(raw, f.value)
        elif f.op == "not_equals":
            ok = not _equals(raw, f.value)
        elif f.op == "contains":
            assert isinstance(f.value, str)
            ok = isinstance(raw, str) and f.value.lower() in raw.lower()
        else:
            assert _is_number(f.value)
            ok = _is_number(raw) and (raw > f.value if f.op == "gt" else raw < f.value)
        if not ok:
            return False
    return True


def _chain_ok(
    d: FunnelDefinition, evs: list[Event], chain: list[int], pos: tuple[int, ...]
) -> bool:
    lo, hi = int(d.from_.timestamp() * US), int(d.to.timestamp() * US)
    if not all(matches(d.steps[s], evs[p]) for s, p in zip(chain, pos, strict=True)):
        return False
    t = [evs[p].ts_us for p in pos]
    if not lo <= t[0] <= hi or t[-1] - t[0] > d.window_seconds * US:
        return False
    for i in range(1, len(chain)):
        a, b = chain[i - 1], chain[i]
        step = d.steps[b]
        gap = t[i] - t[i - 1]
        if d.mode == "strict" and pos[i] != pos[i - 1] + 1:
            return False
        if step.within_seconds is not None and gap > step.within_seconds * US:
            return False
        if step.min_gap_seconds is not None and gap < step.min_gap_seconds * US:
            return False
        for x in d.exclusions:
            first, last = d.exclusion_spans(x)
            between = range(pos[i - 1] + 1, pos[i])
            if first <= a and b <= last and any(matches(x, evs[q]) for q in between):
                return False
    return True


def _reach_ordered(d: FunnelDefinition, evs: list[Event], k: int) -> tuple[bool, int | None]:
    """(reaches step k, shortest time from the previous step of a chain, in µs)."""
    required = [j for j in range(k) if not d.steps[j].optional]
    optional = [j for j in range(k) if d.steps[j].optional]
    best: int | None = None
    reached = False
    for r in range(len(optional) + 1):
        for extra in itertools.combinations(optional, r):
            chain = sorted([*required, *extra, k])
            for pos in itertools.combinations(range(len(evs)), len(chain)):
                if _chain_ok(d, evs, chain, pos):
                    reached = True
                    if len(pos) > 1:
                        gap = evs[pos[-1]].ts_us - evs[pos[-2]].ts_us
                        best = gap if best is None else min(best, gap)
    return reached, best


def _reach_unordered(d: FunnelDefinition, evs: list[Event], k: int) -> bool:
    lo, hi = int(d.from_.timestamp() * US), int(d.to.timestamp() * US)
    wanted = [j for j in range(k) if not d.steps[j].optional] + [k]
    for a, first in enumerate(evs):
        if not lo <= first.ts_us <= hi or not any(matches(s, first) for s in d.steps):
            continue
        attempt = [e for e in evs[a:] if e.ts_us - first.ts_us <= d.window_seconds * US]
        if all(any(matches(d.steps[j], e) for e in attempt) for j in wanted):
            return True
    return False


def counted(d: FunnelDefinition, events: list[Event]) -> dict[int, dict[int, int | None]]:
    """{step: {person: shortest µs from the previous step or None}} for the people
    counted at each step."""
    by_person: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        by_person[e.person].append(e)
    out: dict[int, dict[int, int | None]] = {k: {} for k in range(len(d.steps))}
    for person, evs in by_person.items():
        evs.sort(key=lambda e: (e.ts_us, e.event_id))
        for k in range(len(d.steps)):
            prev = d.required_before(k)
            if prev is not None and person not in out[prev]:
                continue
            if d.mode == "unordered":
                if _reach_unordered(d, evs, k):
                    out[k][person] = None
            else:
                ok, gap = _reach_ordered(d, evs, k)
                if ok:
                    out[k][person] = gap
    return out


def _steps(d: FunnelDefinition, people: dict[int, dict[int, int | None]]) -> list[StepResult]:
    steps = []
    for k, step in enumerate(d.steps):
        count = len(people[k])
        gaps = sorted(g / US for g in people[k].values() if g is not None)
        steps.append(
            StepResult(
                index=k,
                label=step.name,
                count=count,
                conversion_from_first=rate(count, len(people[0])),
                conversion_from_previous=rate(count, len(people[k - 1]) if k else count),
                median_seconds_from_previous=quantile(gaps, 0.5) if k else None,
                p90_seconds_from_previous=quantile(gaps, 0.9) if k else None,
            )
        )
    return steps


def _order(e: Event) -> tuple[int, int]:
    return (e.ts_us, e.event_id)


def entry_candidates(d: FunnelDefinition, events: list[Event]) -> dict[int, list[Event]]:
    """{person: their events in the date range that can begin a chain, in order}."""
    lo, hi = int(d.from_.timestamp() * US), int(d.to.timestamp() * US)
    starters = d.steps if d.mode == "unordered" else d.steps[:1]
    out: dict[int, list[Event]] = defaultdict(list)
    for e in sorted(events, key=_order):
        if lo <= e.ts_us <= hi and any(matches(s, e) for s in starters):
            out[e.person].append(e)
    return out


def as_text(raw: Any) -> str | None:
    """A property's value as the breakdown's bucket text."""
    if raw is None:
        return None
    return raw if isinstance(raw, str) else json.dumps(raw)


MERGED = 100  # customer MERGED + n was merged into customer n (the tests' touch maps)


def person_of(customer: int) -> int:
    return customer - MERGED if customer > MERGED else customer


def first_teams(touches: Touches) -> dict[int, str]:
    """{person: their first-touch team} from (customer, µs, team) rows, one a customer:
    the earliest over the person's customers, ties by the smaller customer id."""
    best: dict[int, tuple[int, int, str]] = {}
    for customer, at, team in touches:
        person = person_of(customer)
        if person not in best or (at, customer) < best[person][:2]:
            best[person] = (at, customer, team)
    return {person: team for person, (_, _, team) in best.items()}


def buckets(
    d: FunnelDefinition, events: list[Event], touches: Touches = ()
) -> dict[int, str | None]:
    """{person: bucket} for everyone with events (semantics in definitions)."""
    assert d.breakdown is not None
    out: dict[int, str | None] = {}
    if d.breakdown.first_touch == "team":
        teams = first_teams(touches)
        return {e.person: teams.get(e.person) for e in events}
    if d.breakdown.property is not None:
        for person, evs in entry_candidates(d, events).items():
            out[person] = as_text(evs[0].props.get(d.breakdown.property))
        return out
    for e in sorted(events, key=_order):
        if e.person in out:
            continue
        if d.breakdown.first_touch == "channel":
            out[e.person] = e.channel
        else:
            out[e.person] = e.source or as_text(e.props.get("utm_source"))
    return out


def funnel(d: FunnelDefinition, events: list[Event], touches: Touches = ()) -> FunnelResult:
    people = counted(d, events)
    if d.breakdown is None:
        return FunnelResult(steps=_steps(d, people))
    of = buckets(d, events, touches)
    sizes: dict[str | None, int] = defaultdict(int)
    for person in people[0]:
        sizes[of.get(person)] += 1
    ranked = sorted(sizes, key=lambda b: (-sizes[b], b is None, b or ""))
    named, rest = ranked[:BREAKDOWN_BUCKETS], set(ranked[BREAKDOWN_BUCKETS:])
    groups: list[tuple[str | None, bool, set[str | None]]] = [(b, False, {b}) for b in named]
    if rest:
        groups.append((None, True, rest))
    out = []
    for value, other, members in groups:
        mine = {
            k: {p: g for p, g in at.items() if of.get(p) in members} for k, at in people.items()
        }
        out.append(BreakdownBucket(value=value, other=other, steps=_steps(d, mine)))
    return FunnelResult(steps=_steps(d, people), breakdown=out)


def trend(d: FunnelDefinition, events: list[Event], interval: str) -> list[TrendPoint]:
    people = counted(d, events)
    entry = entry_candidates(d, events)
    last = len(d.steps) - 1
    periods: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for person in people[0]:
        day = datetime.fromtimestamp(entry[person][0].ts_us / US, tz=UTC).date()
        if interval == "week":
            day -= timedelta(days=day.weekday())
        periods[day][0] += 1
        periods[day][1] += person in people[last]
    return [TrendPoint(start=k, entered=v[0], converted=v[1]) for k, v in sorted(periods.items())]


def dropoff_details(
    d: FunnelDefinition, events: list[Event], k: int, now_us: int
) -> list[tuple[int, str | None, int | None, bool]]:
    """(person, last event's name, its time, window open) of each drop-off at step k."""
    entry = entry_candidates(d, events)
    out = []
    for person in dropoffs(d, events, k):
        before = [e for e in events if e.person == person and e.ts_us <= now_us]
        last = max(before, key=_order) if before else None
        open_ = entry[person][-1].ts_us + d.window_seconds * US > now_us
        out.append((person, last.name if last else None, last.ts_us if last else None, open_))
    return out


def dropoffs(d: FunnelDefinition, events: list[Event], k: int) -> list[int]:
    """The drop-offs at step k, in id order."""
    people = counted(d, events)
    prev = d.required_before(k)
    assert prev is not None
    return sorted(set(people[prev]) - set(people[k]))


def dropoffs_newest(d: FunnelDefinition, events: list[Event], k: int, now_us: int) -> list[int]:
    """The drop-offs at step k newest first: by the time of their last event at or before
    now, latest first, people without one last; ties by id."""

    def key(person: int) -> tuple[bool, int, int]:
        times = [e.ts_us for e in events if e.person == person and e.ts_us <= now_us]
        return (not times, -max(times, default=0), person)

    return sorted(dropoffs(d, events, k), key=key)


def assert_same(got: FunnelResult, want: FunnelResult) -> None:
    """An engine's result equals the reference's (floats to rounding)."""
    import pytest

    assert [s.count for s in got.steps] == [s.count for s in want.steps]
    for g, w in zip(got.steps, want.steps, strict=True):
        assert (g.index, g.label) == (w.index, w.label)
        assert g.conversion_from_first == pytest.approx(w.conversion_from_first)
        assert g.conversion_from_previous == pytest.approx(w.conversion_from_previous)
        assert g.median_seconds_from_previous == pytest.approx(w.median_seconds_from_previous)
        assert g.p90_seconds_from_previous == pytest.approx(w.p90_seconds_from_previous)
    assert (got.breakdown is None) == (want.breakdown is None)
    for gb, wb in zip(got.breakdown or [], want.breakdown or [], strict=True):
        assert (gb.value, gb.other) == (wb.value, wb.other)
        assert_same(FunnelResult(steps=gb.steps), FunnelResult(steps=wb.steps))
