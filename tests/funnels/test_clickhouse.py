"""The ClickHouse engine, run on ClickHouse embedded by chdb (no ClickHouse server recent
enough installs from the package registries here): the same answers as the DuckDB engine
on the same data, each event once through a copy killed at any point, parameters that
never become SQL, and the engine ``LASTMILE_ANALYTICS_URL`` names.

One chdb session serves every test of the process (chdb embeds one server per process);
each test works in a database of its own."""

from __future__ import annotations

import atexit
import json
import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.engines.chdb_session import ChdbSession
from lastmile.funnels.engines.clickhouse import (
    EVENT_COLUMNS,
    MARK_COLUMNS,
    ClickHouseEngine,
    engine_from_url,
)
from lastmile.funnels.engines.duckdb import DuckDBEngine, EventRow
from tests.funnels import reference
from tests.funnels.reference import US, Event
from tests.funnels.strategies import BASE, as_rows

CHDB_PATH = Path(tempfile.gettempdir()) / f"lastmile-chdb-tests-{os.getpid()}"
atexit.register(shutil.rmtree, CHDB_PATH, ignore_errors=True)


def shared_session() -> ChdbSession:
    """The process's chdb session (opening it takes about a second)."""
    return ChdbSession.open(CHDB_PATH)


@contextmanager
def engine_in(session: ChdbSession) -> Iterator[ClickHouseEngine]:
    """An engine over a new database, dropped afterwards."""
    engine = ClickHouseEngine(session, database=f"t_{secrets.token_hex(6)}")
    try:
        yield engine
    finally:
        engine.drop()


@pytest.fixture(scope="module")
def session():
    return shared_session()


@pytest.fixture
def engine(session):
    with engine_in(session) as engine:
        yield engine


def ev(event_id: int, second: float, name: str, person: int = 1, **props) -> Event:
    return Event(
        event_id, person, int(BASE.timestamp()) * US + int(second * US), "track", name, props
    )


def define(*steps, window=60, end=30, **kw) -> FunnelDefinition:
    return FunnelDefinition.model_validate(
        {
            "window_seconds": window,
            "from": BASE,
            "to": BASE + timedelta(seconds=end),
            "steps": [s if isinstance(s, dict) else {"event": s} for s in steps],
            **kw,
        }
    )


def counts(result) -> list[int]:
    return [s.count for s in result.steps]


# --- the same answers as DuckDB ---------------------------------------------------------


def many_events(n: int = 1500, people: int = 120) -> list[Event]:
    """A seeded mess: people with dozens of events each, ties in time, every property type."""
    rnd = random.Random(14)
    names = [("track", "A"), ("track", "B"), ("track", "C"), ("page", "Pricing")]
    ids = list(range(1, n + 1))
    rnd.shuffle(ids)
    out = []
    for i in ids:
        kind, name = rnd.choice(names)
        props = {}
        if rnd.random() < 0.6:
            props["plan"] = rnd.choice(["pro", "free", "Pro plan", None, 3])
        if rnd.random() < 0.5:
            props["n"] = rnd.choice([-1, 0, 2, 2.5, 4, True, "4"])
        if rnd.random() < 0.3:
            props["flag"] = rnd.random() < 0.5
        if rnd.random() < 0.3:
            props["utm_source"] = rnd.choice(["ads", "news", None])
        out.append(
            Event(
                event_id=i,
                person=rnd.randint(1, people),
                ts_us=(int(BASE.timestamp()) + rnd.randint(0, 120)) * US,
                kind=kind,
                name=name,
                props=props,
                source=rnd.choice([None, "mail", f"c{rnd.randint(1, 60)}"]),
                channel=rnd.choice(["web", "web", "app", None]),
            )
        )
    return out


SAME_DATA_FUNNELS = [
    {
        "mode": "ordered",
        "steps": [{"event": "A"}, {"event": "B"}, {"page": "Pricing"}],
        "breakdown": {"property": "plan"},
    },
    {
        "mode": "unordered",
        "steps": [{"event": "A"}, {"event": "B", "optional": True}, {"event": "C"}],
        "breakdown": {"property": "n"},
    },
    {
        "mode": "ordered",
        "steps": [
            {"event": "A", "where": [{"property": "plan", "op": "contains", "value": "PRO"}]},
            {"event": "B", "optional": True, "within_seconds": 20},
            {
                "event": "C",
                "min_gap_seconds": 2,
                "where": [{"property": "n", "op": "gt", "value": 1}],
            },
            {"page": "Pricing", "where": [{"property": "flag", "op": "is_set"}]},
        ],
        "exclusions": [{"event": "C", "from_step": 1, "to_step": 2}],
        "breakdown": {"first_touch": "channel"},
    },
    {
        "mode": "strict",
        "steps": [
            {"event": "A", "where": [{"property": "plan", "op": "not_equals", "value": "free"}]},
            {"event": "A", "where": [{"property": "n", "op": "equals", "value": 2.5}]},
            {"event": "B", "where": [{"property": "flag", "op": "equals", "value": False}]},
        ],
        "breakdown": {"first_touch": "source"},  # more than 20 sources: "other" too
    },
    {
        "mode": "ordered",
        "steps": [{"event": "A"}, {"event": "C"}],
        "breakdown": {"first_touch": "team"},  # more than 20 teams: "other" too
    },
]


def many_touches(people: int = 120) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]]]:
    """A first-touch team map for most of ``many_events``' people, some touched as a
    customer merged into them (1000 + their id) too, with ties in time; and the merges."""
    rnd = random.Random(15)
    touches = []
    for person in range(1, people + 1):
        for customer in (person, 1000 + person):
            if rnd.random() < 0.6:
                at = (int(BASE.timestamp()) + rnd.randint(0, 5)) * US
                touches.append((customer, at, f"team-{rnd.randint(1, 26)}"))
    return touches, [(1000 + p, p) for p in range(1, people + 1)]


@pytest.mark.parametrize("spec", SAME_DATA_FUNNELS, ids=lambda s: s["mode"])
def test_the_same_results_as_duckdb_on_the_same_data(engine, tmp_path, spec):
    # given the same 1,500 events in both engines, copied in three batches
    evs = many_events()
    rows = as_rows(evs)
    duck = DuckDBEngine(tmp_path, threads=1)
    for first, last in ((1, 500), (501, 1000), (1001, 1500)):
        batch = [r for r in rows if first <= r.event_id <= last]
        duck.append(batch, first=first, last=last)
        engine.append(batch, first=first, last=last)
    touches, merged = many_touches()
    for e in (duck, engine):
        e.people_write(merged=merged)
        e.teams_write(touches=touches)
    d = FunnelDefinition.model_validate(
        {"window_seconds": 40, "from": BASE, "to": BASE + timedelta(seconds=60), **spec}
    )

    # when both answer the funnel, its trend, and its drop-offs (by id, and newest first;
    # in two pages for the two-step funnel, the cheapest: each page is a query)
    got, want = engine.funnel(d), duck.funnel(d)

    # then the answers are the same, and they are not trivial
    reference.assert_same(got, want)
    assert got.people > 10
    now = BASE + timedelta(seconds=50)
    k = len(d.steps) - 1  # the last step's (each is a query; the reference test has all)
    page = engine.dropoffs(d, step=k, limit=10_000, now=now)
    assert page == duck.dropoffs(d, step=k, limit=10_000, now=now)
    newest = engine.dropoffs(d, step=k, limit=10_000, now=now, newest_first=True)
    assert newest == duck.dropoffs(d, step=k, limit=10_000, now=now, newest_first=True)
    assert sorted(newest.people) == page.people and newest.people != page.people
    if len(d.steps) == 2:
        half = len(newest.people) // 2 + 1
        first = engine.dropoffs(d, step=k, limit=half, now=now, newest_first=True)
        assert first.next_cursor is not None
        second = engine.dropoffs(
            d, step=k, limit=half, now=now, newest_first=True, cursor=first.next_cursor
        )
        assert second.next_cursor is None and first.details + second.details == newest.details
        assert second == duck.dropoffs(
            d, step=k, limit=half, now=now, newest_first=True, cursor=first.next_cursor
        )
    assert engine.trend(d, interval="week") == duck.trend(d, interval="week")


# --- exactly once -------------------------------------------------------------------------


class Killed(Exception):
    """Stands for the copy dying at that point."""


def test_a_copy_killed_between_its_rows_and_its_mark_leaves_nothing_visible(engine, monkeypatch):
    # given a first batch copied, and a second whose copy dies after its rows were
    # inserted and before its mark
    evs = [ev(1, 0, "A"), ev(2, 1, "B"), ev(3, 2, "A", person=2), ev(4, 3, "B", person=2)]
    rows = as_rows(evs)
    engine.append(rows[:2], first=1, last=2)
    real_insert = engine.session.insert

    def insert(table, columns, values):
        if table.endswith("`marks`"):
            raise Killed
        real_insert(table, columns, values)

    monkeypatch.setattr(engine.session, "insert", insert)
    with pytest.raises(Killed):
        engine.append(rows[2:], first=3, last=4)
    monkeypatch.undo()

    # then the mark did not move, and the funnel reads only the first batch
    d = define("A", "B")
    assert engine.mark() == 2
    assert counts(engine.funnel(d)) == [1, 1]

    # when the copy runs again from the mark: a young orphan is kept for a live copy's
    # sake, an old one discarded
    assert engine.discard_unfinished() == 0
    assert engine.discard_unfinished(grace_seconds=0) == 2
    engine.append(rows[2:], first=3, last=4)

    # then each event is there once
    assert engine.mark() == 4
    assert counts(engine.funnel(d)) == [2, 2]
    [(n,)] = engine.session.rows(f"SELECT count() FROM {engine._t('events')}")
    assert n == 4


def test_a_copy_killed_inside_its_rows_insert_leaves_nothing_visible(engine, monkeypatch):
    # given a batch whose insert dies after part of its rows went in (a client killed
    # while streaming blocks)
    evs = [ev(i, i, "A" if i % 2 else "B", person=(i + 1) // 2) for i in range(1, 9)]
    rows = as_rows(evs)
    real_insert = engine.session.insert

    def insert(table, columns, values):
        if table.endswith("`events`"):
            real_insert(table, columns, values[:3])
            raise Killed
        real_insert(table, columns, values)

    monkeypatch.setattr(engine.session, "insert", insert)
    with pytest.raises(Killed):
        engine.append(rows, first=1, last=8)
    monkeypatch.undo()
    d = define("A", "B")
    assert engine.mark() == 0 and counts(engine.funnel(d)) == [0, 0]

    # when copied again
    engine.append(rows, first=1, last=8)

    # then the answer counts each event once
    assert counts(engine.funnel(d)) == [4, 4]
    assert engine.dropoffs(d, step=1).people == []


def test_an_empty_batch_moves_the_mark(engine):
    engine.append([], first=1, last=10)
    assert engine.mark() == 10
    assert counts(engine.funnel(define("A", "B"))) == [0, 0]


def test_two_copies_racing_from_one_mark_are_read_once(engine):
    # given two copies that both started from mark 0, one batch of 2 ids, one of 4
    rows = as_rows([ev(1, 0, "A"), ev(2, 1, "B"), ev(3, 2, "A", person=2), ev(4, 3, "B", person=2)])
    engine.append(rows[:2], first=1, last=2)
    engine.append(rows, first=1, last=4)
    engine.append(rows[2:], first=3, last=4)  # the slower copy's next batch

    # then the wider batch wins and nothing is read twice
    assert engine.mark() == 4
    assert [(f, last) for f, last, _ in engine.batches()] == [(1, 4)]
    result = engine.funnel(define("A", "B"))
    assert counts(result) == [2, 2]


def test_rows_outside_the_batch_are_refused(engine):
    with pytest.raises(ValueError):
        engine.append(as_rows([ev(5, 0, "A")]), first=1, last=4)


# --- identity ---------------------------------------------------------------------------


def test_merged_and_moved_back_customers_count_as_their_person(engine):
    # given customer 2 merged into 1, and event 3 of customer 1 moved back to customer 3
    evs = [ev(1, 0, "A", person=2), ev(2, 1, "B", person=1), ev(3, 2, "A", person=1)]
    engine.append(as_rows(evs), first=1, last=3)
    d = define("A", "B")
    assert counts(engine.funnel(d)) == [2, 0]

    # when the maps are written, then rewritten without the merge
    engine.people_write(merged=[(2, 1)], moved=[(3, 3)])
    merged, dropped = engine.funnel(d), engine.dropoffs(d, step=1)
    engine.people_write(merged=[], moved=[])

    # then the merge joins the two people, and its undoing splits them again
    assert counts(merged) == [2, 1] and dropped.people == [3]
    assert counts(engine.funnel(d)) == [2, 0]
    tables = engine.session.rows(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
        {"db": engine.database},
    )
    assert [t for (t,) in tables] == ["events", "marks", "moved", "people", "teams"]


# --- parameters -------------------------------------------------------------------------

NASTY = [
    "it's",
    'say "hi"',
    "back\\slash",
    "\\'; DROP DATABASE default; --",
    "tab\tnew\nline",
    "{p0:String}",
    "ünï 🙂",
    "\\",
]


def test_event_names_and_values_never_become_sql(engine):
    # given events whose names and property values are full of quotes, backslashes,
    # newlines and placeholder look-alikes, and a plain one
    evs = []
    for i, text in enumerate(NASTY):
        evs.append(Event(2 * i + 1, i + 1, int(BASE.timestamp()) * US, "track", text, {"v": text}))
        evs.append(
            Event(2 * i + 2, i + 1, int(BASE.timestamp()) * US + US, "page", "P", {"v": text})
        )
    engine.append(as_rows(evs), first=1, last=len(evs))

    # then each is matched by exactly its own name and value
    for text in NASTY:
        d = define(
            {"event": text, "where": [{"property": "v", "op": "equals", "value": text}]},
            {"page": "P", "where": [{"property": "v", "op": "contains", "value": text}]},
        )
        result = engine.funnel(d)
        assert counts(result) == [1, 1], text
        assert result.steps[0].label == text
    # and the database is still all there
    assert engine.mark() == len(evs)


def test_a_property_name_with_dots_and_quotes_is_a_key_not_a_path(engine):
    props = {"a.b": "x", "it's": 1, "a": {"b": "y"}}
    engine.append(as_rows([ev(1, 0, "A", **props), ev(2, 1, "B")]), first=1, last=2)
    d = define(
        {"event": "A", "where": [{"property": "a.b", "op": "equals", "value": "x"}]},
        {"event": "B"},
    )
    assert counts(engine.funnel(d)) == [1, 1]
    d = define({"event": "A", "where": [{"property": "it's", "op": "gt", "value": 0}]}, "B")
    assert counts(engine.funnel(d)) == [1, 1]


def test_a_database_name_is_an_identifier(session):
    with pytest.raises(ValueError):
        ClickHouseEngine(session, database="x`; DROP DATABASE default")


def test_props_are_copied_as_json_text(engine):
    row = EventRow(1, 1, int(BASE.timestamp()) * US, "track", "A", json.dumps({"k": "v"}))
    engine.append([row], first=1, last=1)
    [(props,)] = engine.session.rows(f"SELECT props FROM {engine._t('events')}")
    assert json.loads(props) == {"k": "v"}


def test_an_events_table_from_before_the_channel_gets_it_null(session):
    # given a database whose events table was made before the channel column
    database = f"t_{secrets.token_hex(6)}"
    old = {k: v for k, v in EVENT_COLUMNS.items() if k != "channel"}
    session.command(f"CREATE DATABASE `{database}`")
    session.command(
        f"CREATE TABLE `{database}`.`events` ({', '.join(f'{k} {v}' for k, v in old.items())},"
        " copied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (customer_id, ts_us, event_id)"
    )
    session.insert(
        f"`{database}`.`events`",
        old,
        [(7, 1, 1, int(BASE.timestamp()) * US, "track", "A", "{}", None)],
    )
    session.command(
        f"CREATE TABLE `{database}`.`marks` (batch UInt64, first Int64, last Int64,"
        " events UInt64) ENGINE = ReplacingMergeTree ORDER BY batch"
    )
    session.insert(f"`{database}`.`marks`", MARK_COLUMNS, [(7, 1, 1, 1)])
    try:
        # when the engine opens it, and a later copy adds an event from the app
        engine = ClickHouseEngine(session, database=database)
        app = EventRow(2, 2, int(BASE.timestamp()) * US, "track", "A", "{}", None, "app")
        engine.append([app], first=2, last=2)

        # then the old event's person is in the null bucket, the new one's in "app"
        result = engine.funnel(define("A", "B", breakdown={"first_touch": "channel"}))
        assert result.breakdown is not None
        assert [(b.value, b.people) for b in result.breakdown] == [("app", 1), (None, 1)]
    finally:
        session.command(f"DROP DATABASE IF EXISTS `{database}`")


# --- configuration ----------------------------------------------------------------------


def test_the_url_chooses_the_engine(tmp_path, session):
    # empty: DuckDB under the var dir
    duck = engine_from_url("", tmp_path)
    assert isinstance(duck, DuckDBEngine) and duck.directory == tmp_path / "analytics"
    # chdb://: ClickHouse embedded, the process's one session on that path
    embedded = engine_from_url(f"chdb://{CHDB_PATH}?database=t_url", tmp_path)
    try:
        assert isinstance(embedded, ClickHouseEngine)
        assert embedded.session is session and embedded.database == "t_url"
    finally:
        embedded.drop()
    with pytest.raises(ValueError):
        engine_from_url("mysql://x/y", tmp_path)


# --- fed by the analytics copy ------------------------------------------------------------


@pytest.mark.django_db
def test_the_analytics_copy_feeds_it_each_event_once_when_killed_inside_a_batch(
    engine, now, monkeypatch
):
    # given seven Segment events in the event store
    from lastmile.channels import segment
    from lastmile.funnels import services

    source = segment.source_create(name="shop", now=now)[0]
    messages = [
        {"type": "track", "event": "A" if i % 2 else "B", "messageId": f"m{i}", "userId": "u1"}
        for i in range(1, 8)
    ]
    items = segment.request_parse({"batch": messages}, kind=None, received_at=now, source=source)
    ids = segment.events_record(items=items, now=now)

    # when a copy in batches of three dies in its second batch, between rows and mark
    real_insert = engine.session.insert
    calls = []

    def insert(table, columns, values):
        calls.append(table)
        if table.endswith("`marks`") and calls.count(table) == 2:
            raise Killed
        real_insert(table, columns, values)

    monkeypatch.setattr(engine.session, "insert", insert)
    with pytest.raises(Killed):
        services.analytics_copy(engine=engine, now=now, batch_size=3)
    monkeypatch.undo()
    assert engine.mark() == sorted(ids)[2]

    # and the next copy runs
    report = services.analytics_copy(engine=engine, now=now, batch_size=3)

    # then it copied the rest, and the funnel counts each event once
    assert report.events == 4 and engine.mark() == max(ids)
    [(n,)] = engine.session.rows(
        f"SELECT count() FROM {engine._t('events')} WHERE batch IN {{b:Array(UInt64)}}",
        {"b": [b for _, _, b in engine.batches()]},
    )
    assert n == 7
    d = define("A", "B", window=3600, end=0)
    d = d.model_copy(update={"from_": now - timedelta(days=1), "to": now + timedelta(days=1)})
    assert counts(engine.funnel(d)) == [1, 1]


@pytest.mark.django_db
def test_the_analytics_copy_brings_each_event_s_channel(engine, now):
    # given a Segment screen call (from an app) and a track call (from the web)
    from lastmile.channels import segment
    from lastmile.funnels import services

    source = segment.source_create(name="shop", now=now)[0]
    messages = [
        {"type": "screen", "name": "Home", "messageId": "s1", "userId": "u1"},
        {"type": "track", "event": "A", "messageId": "t1", "userId": "u1"},
    ]
    items = segment.request_parse({"batch": messages}, kind=None, received_at=now, source=source)
    screen, track = segment.events_record(items=items, now=now)

    # when the copy runs
    services.analytics_copy(engine=engine, now=now)

    # then each event has the channel the event store gave it
    found = engine.session.rows(f"SELECT event_id, channel FROM {engine._t('events')} ORDER BY 1")
    assert found == [(screen, "app"), (track, "web")]
