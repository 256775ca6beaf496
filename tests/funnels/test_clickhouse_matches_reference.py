"""The ClickHouse engine (embedded by chdb) answers every funnel as the brute-force
reference does, in all three modes, with and without the extensions: counts,
conversions, times from the previous step and the drop-offs at each step."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.funnels import reference
from tests.funnels.strategies import as_rows, events, funnels
from tests.funnels.test_clickhouse import engine_in, shared_session

# Fewer examples than the DuckDB engine's: each example is two queries of a ClickHouse that
# plans every CTE afresh (~30 ms each); the DuckDB engine, checked against the same
# reference, gets the volume, and test_clickhouse compares the two engines on more data.
EXAMPLES = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def session():
    return shared_session()


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("extensions", [False, True], ids=["plain", "extensions"])
def test_the_clickhouse_engine_agrees_with_the_reference(session, mode, extensions):
    with engine_in(session) as engine:

        @EXAMPLES
        @given(d=funnels(mode, extensions), evs=events(), drop_step=st.integers(0, 28))
        def run(d, evs, drop_step):
            d = d.model_copy(update={"breakdown": None})  # not in this engine yet
            engine.clear()
            if evs:
                ids = [e.event_id for e in evs]
                engine.append(as_rows(evs), first=min(ids), last=max(ids))
            reference.assert_same(engine.funnel(d), reference.funnel(d, evs))
            k = 1 + drop_step % (len(d.steps) - 1)
            assert engine.dropoffs(d, step=k, limit=1000).people == reference.dropoffs(d, evs, k)

        run()
