"""The analytics copy: events from the event store into the engine's Parquet segments,
each exactly once, even when the copy dies between batches or inside one."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest

from lastmile.customers.models import CustomerMerge, Interaction
from lastmile.customers.services.customers import customer_unmerge
from lastmile.funnels import selectors, services
from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.engines import duckdb as engine_module
from lastmile.loops.services import loop_open
from tests.cases.factories import CaseFactory
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db


class Killed(Exception):
    """Stands for the worker dying at that point."""


def track(n, event="Product Added", user="u1", at=None, **extra):
    msg = {"type": "track", "event": event, "messageId": f"m{n}", "userId": user, **extra}
    if at is not None:
        msg["timestamp"] = at.isoformat()
    return msg


def copied_ids(engine) -> list[int]:
    files = [str(p) for _, _, p in engine.segments()]
    if not files:
        return []
    return [
        r[0]
        for r in duckdb.sql(f"SELECT event_id FROM read_parquet({files}) ORDER BY 1").fetchall()
    ]


def funnel(now, *events, **kw) -> FunnelDefinition:
    return FunnelDefinition.model_validate(
        {
            "window_seconds": 3600,
            "from": now - timedelta(days=1),
            "to": now + timedelta(days=1),
            "steps": [{"event": e} for e in events],
            **kw,
        }
    )


def test_each_event_is_copied_once_across_copies(engine, send, now):
    # given five events copied, then three more
    first = send(*(track(i) for i in range(5)))
    report = services.analytics_copy(engine=engine, now=now)
    later = send(*(track(i) for i in range(5, 8)))

    # when the copy runs again, and once more with nothing new
    again = services.analytics_copy(engine=engine, now=now)
    idle = services.analytics_copy(engine=engine, now=now)

    # then every event is in the copy once
    assert (report.events, again.events, idle.events) == (5, 3, 0)
    assert copied_ids(engine) == sorted(first + later)
    assert engine.mark() == max(later)


def test_a_copy_killed_between_batches_resumes_with_no_duplicate_and_no_gap(engine, send, now):
    # given seven events and a copy that dies after its second batch of two
    ids = send(*(track(i) for i in range(7)))

    def die_after_two(mark, calls=[]):  # noqa: B006 - counts the calls of this one copy
        calls.append(mark)
        if len(calls) == 2:
            raise Killed

    with pytest.raises(Killed):
        services.analytics_copy(engine=engine, now=now, batch_size=2, after_batch=die_after_two)
    assert copied_ids(engine) == sorted(ids)[:4]

    # when the next copy runs
    report = services.analytics_copy(engine=engine, now=now, batch_size=2)

    # then it copies the rest, and each event is there once
    assert report.events == 3
    assert copied_ids(engine) == sorted(ids)


def test_a_copy_killed_while_writing_a_segment_leaves_nothing_half_visible(
    engine, send, now, monkeypatch
):
    # given a copy that dies after writing its second segment, before making it visible
    ids = send(*(track(i) for i in range(5)))
    real_replace = engine_module.os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(engine_module.os, "replace", replace)
    with pytest.raises(Killed):
        services.analytics_copy(engine=engine, now=now, batch_size=3)
    monkeypatch.undo()
    assert copied_ids(engine) == sorted(ids)[:3]  # the half-written segment is not read
    assert list(engine.directory.glob(".tmp-*"))

    # when the copy runs again
    services.analytics_copy(engine=engine, now=now, batch_size=3)

    # then the leftovers are gone and every event is there once
    assert not list(engine.directory.glob(".tmp-*"))
    assert copied_ids(engine) == sorted(ids)


def test_only_track_page_and_screen_calls_are_funnel_events(engine, send, now):
    # given one call of each type
    ids = send(
        track(1),
        {"type": "page", "name": "Pricing", "messageId": "p", "userId": "u1"},
        {"type": "screen", "name": "Home", "messageId": "s", "userId": "u1"},
        {"type": "identify", "messageId": "i", "userId": "u1", "traits": {"plan": "pro"}},
        {"type": "group", "groupId": "g", "messageId": "g", "userId": "u1"},
    )

    # when copied
    services.analytics_copy(engine=engine, now=now)

    # then the first three are events, and a funnel over page and screen names sees them
    assert copied_ids(engine) == sorted(ids[:3])
    d = FunnelDefinition.model_validate(
        {
            "window_seconds": 60,
            "from": now - timedelta(minutes=1),
            "to": now,
            "steps": [{"event": "Product Added"}, {"page": "Pricing"}, {"screen": "Home"}],
        }
    )
    assert [s.count for s in engine.funnel(d).steps] == [1, 1, 1]


def test_an_anonymous_visitor_who_identifies_later_counts_once(engine, send, now):
    # given a known customer, and an anonymous visitor who adds a product (copied as is)
    send({"type": "identify", "messageId": "i1", "userId": "u1", "traits": {"email": "a@x.io"}})
    send(
        track(1, user=None, anonymousId="anon-1", at=now - timedelta(minutes=30)),
        at=now - timedelta(minutes=30),
    )
    services.analytics_copy(engine=engine, now=now)

    # when the visitor signs in (merging the two) and checks out, and the copy runs
    send({"type": "identify", "messageId": "i2", "userId": "u1", "anonymousId": "anon-1"})
    send(track(2, event="Checkout Started", at=now))
    services.analytics_copy(engine=engine, now=now)

    # then the funnel sees one person who did both
    result = engine.funnel(funnel(now, "Product Added", "Checkout Started"))
    assert [s.count for s in result.steps] == [1, 1]
    assert result.people == 1


def test_events_recorded_within_the_settle_time_wait_for_the_next_copy(engine, send, now):
    # given an event recorded a minute ago and one just now
    old = send(track(1), at=now - timedelta(minutes=1))
    new = send(track(2), at=now)

    # when copied with a ten-second settle time, then again ten seconds later
    first = services.analytics_copy(engine=engine, now=now, settle_seconds=10)
    ids_first = copied_ids(engine)
    services.analytics_copy(engine=engine, now=now + timedelta(seconds=10), settle_seconds=10)

    # then the recent one waits, and then arrives once
    assert first.events == 1 and ids_first == old
    assert copied_ids(engine) == sorted(old + new)


def test_the_default_engine_lives_under_the_var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert services.analytics_engine().directory == tmp_path / "analytics"


def test_drop_offs_are_paged_in_customer_order(engine, send, now):
    # given five people who add a product, of whom the second checks out
    for n in range(5):
        send(track(n, user=f"u{n}", at=now))
    send(track(9, event="Checkout Started", user="u1", at=now))
    services.analytics_copy(engine=engine, now=now)
    d = funnel(now, "Product Added", "Checkout Started")
    dropped = sorted(
        set(
            Interaction.objects.filter(data__event="Product Added").values_list(
                "customer_id", flat=True
            )
        )
        - set(
            Interaction.objects.filter(data__event="Checkout Started").values_list(
                "customer_id", flat=True
            )
        )
    )

    # when the drop-offs at step 2 are read two at a time
    first = engine.dropoffs(d, step=1, limit=2)
    second = engine.dropoffs(d, step=1, after=first.next_after, limit=2)

    # then they are the four who did not check out, in id order, in two pages
    assert first.people + second.people == dropped
    assert len(dropped) == 4 and second.next_after is None


def test_an_undone_merge_splits_the_person_again(engine, send, now):
    # given a visitor merged into a known customer before their events were copied
    send({"type": "identify", "messageId": "i1", "userId": "u1", "traits": {"email": "a@x.io"}})
    send(
        track(1, user=None, anonymousId="anon-1", at=now - timedelta(minutes=30)),
        at=now - timedelta(minutes=30),
    )
    send({"type": "identify", "messageId": "i2", "userId": "u1", "anonymousId": "anon-1"})
    send(track(2, event="Checkout Started", at=now))
    services.analytics_copy(engine=engine, now=now)
    d = funnel(now, "Product Added", "Checkout Started")
    assert [s.count for s in engine.funnel(d).steps] == [1, 1]

    # when the merge is undone and the copy runs
    customer_unmerge(merge=CustomerMerge.objects.get(), now=now)
    services.analytics_copy(engine=engine, now=now)

    # then the visitor's product and the customer's checkout are two people's again
    assert [s.count for s in engine.funnel(d).steps] == [1, 0]


def test_the_engine_parses_the_stored_messages_as_python_would(engine, send, now):
    # given calls with a campaign source, odd properties, and a non-event call
    send(
        track(1, context={"campaign": {"source": "newsletter"}}, properties={"plan": "pro"}),
        track(2, context={"campaign": "spring"}),
        {"type": "page", "name": "Pricing", "messageId": "p", "userId": "u2"},
        {"type": "screen", "name": "Home", "messageId": "s", "userId": "u2"},
        {"type": "identify", "messageId": "i", "userId": "u1", "traits": {"plan": "pro"}},
    )

    # when DuckDB copies the raw rows
    report = services.analytics_copy(engine=engine, now=now)

    # then it keeps what the Python reading of the same rows keeps, field for field
    files = [str(p) for _, _, p in engine.segments()]
    got = duckdb.sql(
        f"SELECT event_id, customer_id, ts_us, kind, name, props::VARCHAR, source, channel"
        f" FROM read_parquet({files}) ORDER BY event_id"
    ).fetchall()
    raw = selectors.events_after(after_id=0, limit=100).rows
    want = [
        (r.event_id, r.customer_id, r.ts_us, r.kind, r.name, r.props, r.source, r.channel)
        for r in selectors.event_rows(raw)
    ]
    assert report.events == 4
    assert [g[:5] + (json.loads(g[5]), *g[6:]) for g in got] == [
        w[:5] + (json.loads(w[5]), *w[6:]) for w in want
    ]
    assert [g[6] for g in got] == ["newsletter", None, None, None]
    assert [g[7] for g in got] == ["web", "web", "web", "app"]  # a screen call is an app's
    assert json.loads(got[0][5]) == {"plan": "pro"} and json.loads(got[1][5]) == {}


def test_first_touch_comes_from_the_campaign_of_the_first_event(engine, send, now):
    # given two people, one who came from a newsletter
    send(track(1, user="u1", context={"campaign": {"source": "newsletter"}}))
    send(track(2, user="u2"))
    services.analytics_copy(engine=engine, now=now)

    # when the funnel is broken down by first-touch source
    result = engine.funnel(
        funnel(now, "Product Added", "Order", breakdown={"first_touch": "source"})
    )

    # then each is in their bucket
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [("newsletter", 1), (None, 1)]


def test_first_touch_channel_is_the_store_channel_of_the_first_event(engine, send, now):
    # given one person who first opened the app (a screen call), then added a product on
    # the web, and another who only used the web
    send({"type": "screen", "name": "Home", "messageId": "s1", "userId": "u1"})
    send(track(1, user="u1"), track(2, user="u2"))
    services.analytics_copy(engine=engine, now=now)

    # when the funnel is broken down by first-touch channel
    d = funnel(now, "Product Added", "Order", breakdown={"first_touch": "channel"})
    result = engine.funnel(d)

    # then each is in the bucket of their first event's channel
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [("app", 1), ("web", 1)]


def _old_segment(engine, first: int, last: int, rows: list[tuple]) -> None:
    """A segment as copies wrote them before the channel column existed."""
    path = engine.directory / f"events-{first:012d}-{last:012d}.parquet"
    values = ", ".join(
        f"({i}, {c}, {ts}, 'track', '{name}', '{{}}'::JSON, NULL::VARCHAR)"
        for i, c, ts, name in rows
    )
    duckdb.sql(
        f"COPY (SELECT * FROM (VALUES {values}) t(event_id, customer_id, ts_us, kind, name,"
        f" props, source)) TO '{path}' (FORMAT parquet)"
    )


def test_segments_written_before_the_channel_existed_read_with_a_null_channel(engine, now):
    # given a copy made before the channel column, alone
    ts = int(now.timestamp()) * 1_000_000
    _old_segment(engine, 1, 2, [(1, 1, ts, "Product Added"), (2, 2, ts, "Product Added")])
    d = funnel(now, "Product Added", "Order", breakdown={"first_touch": "channel"})

    # then its people are in the null bucket
    result = engine.funnel(d)
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [(None, 2)]

    # when a newer segment (with channels) follows it, its people get theirs
    engine.append(
        [engine_module.EventRow(3, 3, ts, "track", "Product Added", "{}", None, "app")],
        first=3,
        last=3,
    )
    result = engine.funnel(d)
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [(None, 2), ("app", 1)]

    # and a compaction of the old with the new keeps both
    assert engine.compact() == 2
    assert len(engine.segments()) == 1
    result = engine.funnel(d)
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [(None, 2), ("app", 1)]


def test_compaction_keeps_every_event_once_and_the_mark(engine, send, now):
    # given three segments
    ids = send(*(track(i) for i in range(7)))
    services.analytics_copy(engine=engine, now=now, batch_size=3)
    assert len(engine.segments()) == 3
    d = funnel(now, "Product Added", "Order")
    before = engine.funnel(d)

    # when compacted, and a copy runs on after it
    merged = engine.compact()
    later = send(track(8))
    services.analytics_copy(engine=engine, now=now)

    # then one segment holds what three did, the mark did not move back, and nothing is twice
    assert merged == 3
    assert len(engine.segments()) == 2
    assert copied_ids(engine) == sorted(ids + later)
    assert engine.funnel(d).steps[0].count == before.steps[0].count


def test_a_compaction_killed_before_its_rename_changes_nothing(engine, send, now, monkeypatch):
    ids = send(*(track(i) for i in range(5)))
    services.analytics_copy(engine=engine, now=now, batch_size=2)

    def replace(src, dst):
        raise Killed

    monkeypatch.setattr(engine_module.os, "replace", replace)
    with pytest.raises(Killed):
        engine.compact()
    monkeypatch.undo()
    assert copied_ids(engine) == sorted(ids) and len(engine.segments()) == 3
    assert engine.discard_unfinished() >= 1


def test_a_compaction_killed_after_its_rename_reads_each_event_once(engine, send, now):
    # given the merged segment in place while the pieces it replaces are still there
    ids = send(*(track(i) for i in range(5)))
    services.analytics_copy(engine=engine, now=now, batch_size=2)
    pieces = [p for _, _, p in engine.segments()]
    kept = [p.read_bytes() for p in pieces]
    engine.compact()
    for p, data in zip(pieces, kept, strict=True):
        p.write_bytes(data)  # as if the process died before removing them

    # then readers take the wide segment alone, and the next compaction clears the pieces
    assert copied_ids(engine) == sorted(ids)
    assert engine.mark() == max(ids)
    engine.compact(grace_seconds=0)
    assert sorted(p.name for p in engine.directory.iterdir() if p.name.startswith("events-")) == [
        p.name for _, _, p in engine.segments()
    ]


def test_the_copy_compacts_once_enough_small_segments_follow_each_other(engine, send, now):
    # given five events copied one per segment, the copy merging from three segments on
    ids = send(*(track(i) for i in range(5)))

    # when copied
    services.analytics_copy(engine=engine, now=now, batch_size=1, compact_pieces=3)

    # then one segment holds them all, each once, and the mark is the last id
    assert len(engine.segments()) == 1
    assert copied_ids(engine) == sorted(ids)
    assert engine.mark() == max(ids)


def _customer_of(message_id: str):
    return Interaction.objects.get(data__messageId=message_id).customer


def test_first_touch_team_is_the_team_of_the_earliest_loop_or_case(engine, send, now):
    # given three people who add a product: u1 got a care loop, then a sales case; u2 a
    # sales case and a care loop opened at the same moment; u3 only a loop whose team was
    # deleted since
    send(track(1, user="u1"), track(2, user="u2"), track(3, user="u3"))
    u1, u2, u3 = (_customer_of(f"m{n}") for n in (1, 2, 3))
    care, sales, gone = (TeamFactory(slug=s) for s in ("care", "sales", "gone"))
    hour = timedelta(hours=1)
    loop_open(customer=u1, kind="task", title="Call back", team=care, now=now - 2 * hour)
    CaseFactory(customer=u1, team=sales, created_at=now - hour, updated_at=now - hour)
    CaseFactory(customer=u2, team=sales, created_at=now - 3 * hour, updated_at=now - 3 * hour)
    loop_open(customer=u2, kind="task", title="Call back", team=care, now=now - 3 * hour)
    loop_open(customer=u3, kind="task", title="Call back", team=gone, now=now - 4 * hour)
    gone.delete()

    # when the copy runs and the funnel is broken down by first-touch team
    services.analytics_copy(engine=engine, now=now)
    result = engine.funnel(funnel(now, "Product Added", "Order", breakdown={"first_touch": "team"}))

    # then u1 is care's (the earlier), u2 sales' (a case before a loop), u3 nobody's
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [
        ("care", 1),
        ("sales", 1),
        (None, 1),
    ]


def test_a_team_that_touched_a_visitor_before_they_signed_in_is_their_first_touch(
    engine, send, now
):
    # given a known customer whom sales opened a case for, and an anonymous visitor whom
    # care opened a loop for earlier
    send({"type": "identify", "messageId": "i1", "userId": "u1", "traits": {"email": "a@x.io"}})
    send(track(1, user=None, anonymousId="anon-1"))
    hour = timedelta(hours=1)
    CaseFactory(
        customer=_customer_of("i1"),
        team=TeamFactory(slug="sales"),
        created_at=now - hour,
        updated_at=now - hour,
    )
    loop_open(
        customer=_customer_of("m1"),
        kind="task",
        title="Call back",
        team=TeamFactory(slug="care"),
        now=now - 2 * hour,
    )

    # when the visitor signs in as the customer (one person) and the copy runs
    send({"type": "identify", "messageId": "i2", "userId": "u1", "anonymousId": "anon-1"})
    services.analytics_copy(engine=engine, now=now)
    result = engine.funnel(funnel(now, "Product Added", "Order", breakdown={"first_touch": "team"}))

    # then the person's first team is care, who touched them first
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [("care", 1)]
