"""The DuckDB engine answers every funnel as the brute-force reference does: counts,
conversions, median and p90 time from the previous step, the breakdown, the trend, and
the drop-offs at each step with their last event and open window, in all three modes,
with and without the extensions."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.funnels.engines.duckdb import DuckDBEngine
from tests.funnels import reference
from tests.funnels.reference import US
from tests.funnels.strategies import BASE, as_rows, events, funnels

BASE_US = int(BASE.timestamp()) * US

EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(d, evs, drop_step: int, now_s: int, interval: str) -> None:
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
        now = BASE + timedelta(seconds=now_s)
        page = engine.dropoffs(d, step=k, limit=1000, now=now)
        assert page.people == reference.dropoffs(d, evs, k)
        assert [
            (x.customer_id, x.last_event, x.last_event_at, x.window_open) for x in page.details
        ] == [
            (person, name, None if ts is None else BASE + timedelta(microseconds=ts - BASE_US), o)
            for person, name, ts, o in reference.dropoff_details(d, evs, k, now_s * US + BASE_US)
        ]
        assert engine.trend(d, interval=interval) == reference.trend(d, evs, interval)


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
    )
    def run(d, evs, drop_step, now_s, interval):
        check(d, evs, drop_step, now_s, interval)

    run()
