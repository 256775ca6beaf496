"""The DuckDB engine answers every funnel as the brute-force reference does: counts,
conversions, median and p90 time from the previous step, the breakdown, the trend, and
the drop-offs at each step with their last event and open window, in all three modes,
with and without the extensions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.funnels.engines.duckdb import DuckDBEngine
from tests.funnels.strategies import assert_engine_agrees, events, funnels, touches

# DuckDB against the reference in Python: no database of the run.
pytestmark = pytest.mark.own_database

EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(d, evs, drop_step: int, now_s: int, interval: str, touched) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        assert_engine_agrees(
            DuckDBEngine(Path(tmp), threads=1), d, evs, drop_step, now_s, interval, touched
        )


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("extensions", [False, True], ids=["plain", "extensions"])
def test_the_engine_agrees_with_the_reference(mode, extensions):
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
        check(d, evs, drop_step, now_s, interval, touched)

    run()
