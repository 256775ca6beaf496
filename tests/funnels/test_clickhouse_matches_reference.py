"""The ClickHouse engine (embedded by chdb) answers every funnel as the brute-force
reference does, in all three modes, with and without the extensions: counts,
conversions, times from the previous step, the breakdown, the trend, and the drop-offs at
each step with their last event and open window."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.funnels.strategies import assert_engine_agrees, events, funnels, touches
from tests.funnels.test_clickhouse import engine_in, shared_session

# ClickHouse against the reference in Python: no database of the run.
pytestmark = pytest.mark.own_database

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
            touched=touches,
        )
        def run(d, evs, drop_step, now_s, interval, touched):
            engine.clear()
            assert_engine_agrees(engine, d, evs, drop_step, now_s, interval, touched)

        run()
