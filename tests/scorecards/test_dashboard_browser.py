"""The dashboard in headless Chromium, on a laptop and on a phone: every chart is drawn
(a Chart.js chart on each canvas, with a size), under the site's Content-Security-Policy
and without a console error; a chart's table opens; a tile leads to its loops; the page
fits a phone's width."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.loops.services import loop_open
from lastmile.people.services import agent_create
from lastmile.scorecards.rollups import rollups_rebuild, week_of
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch
from tests.customers.factories import CustomerFactory
from tests.scorecards.test_dashboard import closed_loops

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1366, 375])
def test_the_dashboards_charts_render_on_a_laptop_and_a_phone(
    live_server,
    page,  # noqa: F811
    team,
    other_team,
    width,  # noqa: F811
):
    # given an admin, eight weeks of closed loops for two teams and one open loop, rolled up
    agent_create(username="ceo", password=PASSWORD, role="admin")
    now = utcnow()
    for i in range(1, 9):
        closed_loops(team, week_of(now) - timedelta(weeks=i), on_time=4, late=i % 3)
        closed_loops(other_team, week_of(now) - timedelta(weeks=i), on_time=6, late=0)
    loop = loop_open(
        customer=CustomerFactory(),
        kind="task",
        title="Still open",
        team=team,
        due_at=now - timedelta(hours=1),
        now=now - timedelta(hours=2),
    )
    rollups_rebuild(now=now)
    problems = watch(page)
    page.set_viewport_size({"width": width, "height": 900})

    # when the admin opens the dashboard
    log_in(page, live_server, "ceo")
    page.goto(f"{live_server.url}/scorecards/dashboard/")

    # then every canvas holds a drawn chart with a size
    page.wait_for_function("typeof Chart !== 'undefined'")
    canvases = page.locator(".dashboard-chart canvas")
    assert canvases.count() == 8  # four charts for each of the two teams
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll('.dashboard-chart canvas')).map(c => {
            const chart = Chart.getChart(c);
            return chart ? [chart.data.datasets.length, c.width, c.height] : null;
        })"""
    )
    assert all(d is not None and d[0] >= 2 and d[1] > 0 and d[2] > 0 for d in drawn), drawn
    assert page.locator("#dashboard-freshness").inner_text().startswith("Figures as of")

    # and a chart's table opens with its thirteen weeks
    chart = page.locator("#chart-front-rates-table").locator("xpath=ancestor::details")
    chart.locator("summary").click()
    assert page.locator("#chart-front-rates-table tbody tr").count() == 13

    # and the page fits the screen's width
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # and the open-loops tile leads to the loop
    page.locator("#team-front [data-figure=open_loops] a").click()
    page.wait_for_url(f"{live_server.url}/scorecards/loops/**")
    assert page.locator(f"#drill-loop-{loop.pk}").is_visible()
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
