"""Hypothesis strategies: small event sets full of ties and near-misses, and funnels over
them, so the brute-force reference stays fast and the edge cases are common."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.engines.duckdb import EventRow
from tests.funnels.reference import MERGED, US, Event

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NAMES = [("track", "A"), ("track", "B"), ("track", "C"), ("page", "Pricing")]
# Events lean to the first two names, so people often hold several candidates per step.
EVENT_NAMES = [*NAMES, *NAMES[:2]]

props = st.fixed_dictionaries(
    {},
    optional={
        "plan": st.sampled_from(["pro", "free", "Pro plan", None, 3]),
        "n": st.one_of(st.integers(-2, 5), st.sampled_from([2.5, True, "4"])),
        "flag": st.booleans(),
        "utm_source": st.sampled_from(["ads", "news", None]),
    },
)
breakdowns = st.one_of(
    st.none(),
    st.builds(dict, property=st.sampled_from(["plan", "n", "flag", "missing"])),
    st.sampled_from(
        [{"first_touch": "source"}, {"first_touch": "channel"}, {"first_touch": "team"}]
    ),
)
# First-touch team maps: customers 1 to 3 (the people) and 101 to 103 (merged into them),
# at nearby times full of ties, one row a customer.
touches = st.dictionaries(
    st.sampled_from([1, 2, 3, MERGED + 1, MERGED + 2, MERGED + 3]),
    st.tuples(st.integers(0, 3), st.sampled_from(["care", "sales", "field"])),
    max_size=5,
).map(lambda m: [(c, (int(BASE.timestamp()) + t) * US, team) for c, (t, team) in m.items()])


@st.composite
def events(draw, max_size: int = 14) -> list[Event]:
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(1, 3),
                st.integers(0, 12),
                st.sampled_from(EVENT_NAMES),
                props,
                st.sampled_from([None, None, "mail"]),
                st.sampled_from(["web", "web", "app", None]),
            ),
            max_size=max_size,
        )
    )
    # Ids not in time order, so that ties in time are broken by id, not by insertion.
    ids = draw(st.permutations(list(range(1, len(rows) + 1))))
    return [
        Event(
            event_id=i,
            person=person,
            ts_us=(int(BASE.timestamp()) + t) * US,
            kind=k,
            name=n,
            props=pr,
            source=source,
            channel=channel,
        )
        for i, (person, t, (k, n), pr, source, channel) in zip(ids, rows, strict=True)
    ]


filters = st.lists(
    st.one_of(
        st.builds(
            dict,
            property=st.just("plan"),
            op=st.sampled_from(["equals", "not_equals"]),
            value=st.sampled_from(["pro", "free", 3]),
        ),
        st.builds(dict, property=st.just("plan"), op=st.just("contains"), value=st.just("PRO")),
        st.builds(
            dict,
            property=st.just("n"),
            op=st.sampled_from(["gt", "lt", "equals"]),
            value=st.sampled_from([1, 2.5, 4]),
        ),
        st.builds(dict, property=st.just("flag"), op=st.just("equals"), value=st.booleans()),
        st.builds(dict, property=st.sampled_from(["plan", "flag"]), op=st.just("is_set")),
    ),
    max_size=2,
)


@st.composite
def matcher(draw) -> dict:
    kind, name = draw(st.sampled_from(NAMES))
    key = "event" if kind == "track" else kind
    out: dict = {key: name}
    where = draw(filters)
    if where:
        out["where"] = where
    return out


@st.composite
def funnels(draw, mode: str, extensions: bool) -> FunnelDefinition:
    n = draw(st.integers(2, 4))
    steps = []
    for k in range(n):
        step = draw(matcher())
        if extensions and k > 0:
            if draw(st.booleans()) and draw(st.booleans()):
                step["optional"] = True
            if mode != "unordered":
                within = draw(st.none() | st.integers(1, 10))
                gap = draw(st.none() | st.integers(0, 4))
                if within is not None:
                    step["within_seconds"] = within
                if gap is not None and (within is None or gap <= within):
                    step["min_gap_seconds"] = gap
        steps.append(step)
    exclusions = []
    if extensions and mode != "unordered" and draw(st.integers(0, 2)):
        x = draw(matcher())
        first = draw(st.integers(1, n - 1))
        x["from_step"] = first
        x["to_step"] = draw(st.integers(first + 1, n))
        exclusions.append(x)
    start = draw(st.integers(0, 12))
    end = draw(st.integers(start, 12))
    return FunnelDefinition.model_validate(
        {
            "mode": mode,
            "window_seconds": draw(st.integers(1, 10)),
            "from": BASE + timedelta(seconds=start),
            "to": BASE + timedelta(seconds=end),
            "steps": steps,
            "exclusions": exclusions,
            "breakdown": draw(breakdowns),
        }
    )


def as_rows(evs: list[Event]) -> list[EventRow]:
    return [
        EventRow(
            e.event_id, e.person, e.ts_us, e.kind, e.name, json.dumps(e.props), e.source, e.channel
        )
        for e in sorted(evs, key=lambda e: e.event_id)
    ]


def assert_engine_agrees(
    engine, d, evs, drop_step: int, now_s: int, interval: str, touches=()
) -> None:  # type: ignore[no-untyped-def]
    """Load ``evs`` and the first-touch team map ``touches`` (customers past ``MERGED``
    merged into their person) into an empty ``engine`` and check every answer against the
    reference: the funnel (and its breakdown), one step's drop-offs with their details in
    id order and, two a page, newest first (each is a query: the examples cover the steps
    between them), and the trend."""
    from tests.funnels import reference

    if evs:
        ids = [e.event_id for e in evs]
        engine.append(as_rows(evs), first=min(ids), last=max(ids))
    if touches:
        merged = sorted({(c, c - MERGED) for c, _, _ in touches if c > MERGED})
        engine.people_write(merged=merged)
        engine.teams_write(touches=touches)
    reference.assert_same(engine.funnel(d), reference.funnel(d, evs, touches))
    k = 1 + drop_step % (len(d.steps) - 1)
    at = BASE + timedelta(seconds=now_s)
    page = engine.dropoffs(d, step=k, limit=1000, now=at)
    assert page.people == reference.dropoffs(d, evs, k)
    newest, cursor = [], None
    while True:
        part = engine.dropoffs(d, step=k, limit=2, now=at, newest_first=True, cursor=cursor)
        newest += part.people
        assert part.next_after is None and len(part.people) <= 2
        if part.next_cursor is None:
            break
        cursor = part.next_cursor
    assert newest == reference.dropoffs_newest(d, evs, k, int(at.timestamp()) * US)
    base_us = int(BASE.timestamp()) * US
    assert [
        (x.customer_id, x.last_event, x.last_event_at, x.window_open) for x in page.details
    ] == [
        (person, name, None if ts is None else BASE + timedelta(microseconds=ts - base_us), o)
        for person, name, ts, o in reference.dropoff_details(d, evs, k, now_s * US + base_us)
    ]
    assert engine.trend(d, interval=interval) == reference.trend(d, evs, interval)
