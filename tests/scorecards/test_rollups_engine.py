"""The analytics engine is another store that can fail on its own: when it cannot answer the
funnel close rate, the worker's rollup run still writes every other figure, logs the error,
and the dashboard shows the funnel figure as unavailable (not 0) with the reason."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from lastmile.funnels import funnel_services
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollup_models import FunnelWeekRollup
from lastmile.scorecards.rollups import (
    FunnelWeeks,
    funnel_figures,
    rollups_refresh,
    week_of,
)
from tests.recovery.conftest import CHECKOUT
from tests.scorecards.test_dashboard import admin, closed_loops, tiles

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def broken_engine(settings, tmp_path):  # type: ignore[no-untyped-def]
    """The embedded DuckDB engine over a directory whose one segment is not Parquet: a real
    engine that fails on every question."""
    settings.VAR_DIR = tmp_path
    settings.ANALYTICS_URL = ""
    (tmp_path / "analytics").mkdir()
    (tmp_path / "analytics" / "events-000000000001-000000000009.parquet").write_bytes(
        b"this is not a parquet file"
    )
    return tmp_path


def test_an_engine_error_costs_the_funnel_figure_only(client, team, now, broken_engine, caplog):
    # given last week's closed loops of the front office and two funnels, one of no team
    last = week_of(now) - timedelta(weeks=1)
    closed_loops(team, last, on_time=3, late=1)
    ours = funnel_services.funnel_create(
        name="Checkout", definition=CHECKOUT, team=team, actor=None, now=now - timedelta(days=30)
    )
    theirs = funnel_services.funnel_create(
        name="Signup", definition=CHECKOUT, team=None, actor=None, now=now - timedelta(days=30)
    )

    # when the worker's run meets the broken engine
    with caplog.at_level(logging.WARNING, logger="lastmile.scorecards.rollups"):
        written = rollups_refresh(now=now)

    # then the team's figures are written as usual
    row = TeamWeekRollup.objects.get(team=team, week=last)
    assert (row.loops_closed, row.breaches) == (4, 1)
    assert written >= 2
    # and each funnel's weeks are rows that say why, with no counts
    rows = FunnelWeekRollup.objects.filter(funnel__in=[ours, theirs])
    assert rows.count() == 4  # two funnels, last week and this one
    assert all(r.error and (r.entered, r.closed) == (0, 0) for r in rows)
    reason = FunnelWeekRollup.objects.get(funnel=ours, week=last).error
    assert reason.split(":")[0].endswith(("Exception", "Error")), reason
    # and the failures are logged, the first with its traceback
    failures = [r for r in caplog.records if "analytics engine failed" in r.getMessage()]
    assert failures and failures[0].exc_info is not None

    # when the admin opens the dashboard
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()

    # then the funnel close rate is unavailable with the reason, in the team's row and the
    # No team row, and the other figures are there
    front = tiles(html, "front")
    for cells in (front["funnel_close_rate"], tiles(html, "none")["funnel_close_rate"]):
        for cell in cells.values():
            assert cell["value"] == "unavailable", cell
            assert cell["note"].startswith("the analytics engine failed: "), cell
            assert reason.split(":")[0] in cell["note"]
    assert front["on_time_rate"]["last"]["value"] == "75.0 %"
    assert front["breach_rate"]["last"]["value"] == "25.0 %"
    # and the rows behind it say so, funnel by funnel
    listed = client.get(front["funnel_close_rate"]["last"]["link"]).content.decode()
    assert re.search(
        r'id="rows-summary" data-figure="funnel_close_rate" data-value="unavailable"', listed
    )
    assert f'id="rows-funnel-{ours.pk}-error">The analytics engine failed: ' in listed


def test_the_engine_answering_again_brings_the_figure_back(client, team, now, broken_engine):
    # given a run that met the broken engine
    funnel = funnel_services.funnel_create(
        name="Checkout", definition=CHECKOUT, team=team, actor=None, now=now - timedelta(days=30)
    )
    rollups_refresh(now=now)
    assert FunnelWeekRollup.objects.filter(funnel=funnel).exclude(error="").count() == 2

    # when the engine's directory is whole again and the worker runs again
    for p in (broken_engine / "analytics").iterdir():
        p.unlink()
    rollups_refresh(now=now)

    # then the rows have counts (nobody entered) and no error, and the tile a number again
    assert list(FunnelWeekRollup.objects.filter(funnel=funnel).values_list("error", flat=True)) == [
        "",
        "",
    ]
    client.force_login(admin(None))
    front = tiles(client.get("/scorecards/dashboard/").content.decode(), "front")
    assert front["funnel_close_rate"]["last"]["value"] == "—"
    assert front["funnel_close_rate"]["last"]["note"] == "0 of 0 entered"


def test_one_failed_funnel_makes_the_pooled_figure_unavailable(team, now):
    # given two funnels of the team in one week, the engine answered one and not the other
    good = funnel_services.funnel_create(
        name="Checkout", definition=CHECKOUT, team=team, actor=None, now=now
    )
    bad = funnel_services.funnel_create(
        name="Loans", definition=CHECKOUT, team=team, actor=None, now=now
    )
    week = week_of(now)
    answered = FunnelWeekRollup(funnel=good, week=week, entered=4, closed=2, computed_at=now)
    failed = FunnelWeekRollup(funnel=bad, week=week, error="IOException: gone", computed_at=now)

    # when the week is pooled
    alone = funnel_figures([FunnelWeeks(funnel=good, rows=[answered])], 0)
    both = funnel_figures(
        [FunnelWeeks(funnel=good, rows=[answered]), FunnelWeeks(funnel=bad, rows=[failed])], 0
    )

    # then the answered funnel alone is its rate, and with the failed one nothing is summed
    assert alone["funnel_close_rate"] == 50.0 and "funnel_error" not in alone
    assert both["funnel_close_rate"] is None and both["funnel_entered"] is None
    assert both["funnel_error"] == "Loans: IOException: gone"
