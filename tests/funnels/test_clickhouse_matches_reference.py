"""The ClickHouse engine (embedded by chdb) answers every funnel as the brute-force
reference does, in all three modes, with and without the extensions: counts,
conversions, times from the previous step, the breakdown, the trend, and the drop-offs at
each step with their last event and open window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.funnels import reference
from tests.funnels.reference import US
from tests.funnels.strategies import BASE, as_rows, events, funnels
from tests.funnels.test_clickhouse import engine_in, shared_session

BASE_US = int(BASE.timestamp()) * US
# Fewer examples than the DuckDB engine's: each is three queries that ClickHouse plans
# afresh (tens of ms each, its CTEs inlined); the DuckDB engine, held to the same
# reference, takes the volume, and test_clickhouse compares the two on more data.
EXAMPLES = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def session():
    return shared_session()


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("extensions", [False, True], ids=["plain", "extensions"])
def test_the_clickhouse_engine_agrees_with_the_reference(session, mode, extensions):
    with engine_in(session) as engine:

        @EXAMPLES
        @given(
            d=funnels(mode, extensions),
            evs=events(),
            drop_step=st.integers(0, 28),
            now_s=st.integers(0, 25),
            interval=st.sampled_from(["day", "week"]),
        )
        def run(d, evs, drop_step, now_s, interval):
            engine.clear()
            if evs:
                ids = [e.event_id for e in evs]
                engine.append(as_rows(evs), first=min(ids), last=max(ids))
            reference.assert_same(engine.funnel(d), reference.funnel(d, evs))
            k = 1 + drop_step % (len(d.steps) - 1)
            now = BASE + timedelta(seconds=now_s)
            page = engine.dropoffs(d, step=k, limit=1000, now=now)
            assert page.people == reference.dropoffs(d, evs, k)
            assert [
                (x.customer_id, x.last_event, x.last_event_at, x.window_open) for x in page.details
            ] == [
                (p, name, None if ts is None else BASE + timedelta(microseconds=ts - BASE_US), o)
                for p, name, ts, o in reference.dropoff_details(d, evs, k, now_s * US + BASE_US)
            ]
            assert engine.trend(d, interval=interval) == reference.trend(d, evs, interval)

        run()
