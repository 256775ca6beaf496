"""The DuckDB engine answers every funnel as the brute-force reference does: counts,
conversions, median and p90 time from the previous step, and the drop-offs at each step,
in all three modes, with and without the extensions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.funnels.engines.duckdb import DuckDBEngine
from tests.funnels import reference
from tests.funnels.strategies import as_rows, events, funnels

EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(d, evs, drop_step: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = DuckDBEngine(Path(tmp), threads=1)
        if evs:
            ids = [e.event_id for e in evs]
            engine.append(as_rows(evs), first=min(ids), last=max(ids))
        got = engine.funnel(d)
        want = reference.funnel(d, evs)
        reference.assert_same(got, want)
        # One step's drop-offs an example (each is a query): the examples cover them all.
        k = 1 + drop_step % (len(d.steps) - 1)
        page = engine.dropoffs(d, step=k, limit=1000)
        assert page.people == reference.dropoffs(d, evs, k)


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("extensions", [False, True], ids=["plain", "extensions"])
def test_the_engine_agrees_with_the_reference(mode, extensions):
    @EXAMPLES
    @given(d=funnels(mode, extensions), evs=events(), drop_step=st.integers(0, 28))
    def run(d, evs, drop_step):
        check(d, evs, drop_step)

    run()
