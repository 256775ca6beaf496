"""The dashboard in headless Chromium, on a phone's width: every chart is drawn
(a Chart.js chart on each canvas, with a size), under the site's Content-Security-Policy
and without a console error; a chart's table opens (the revenue's too); the new tiles
(first-contact resolution, recovery, revenue, the loudest alerts) and the worsening agents
are shown and lead to their rows; the page fits a phone's width."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.listening.models import WatchTerm
from lastmile.loops.models import Loop
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
from tests.scorecards.rows_helpers import recovery, recovery_rule
from tests.scorecards.test_dashboard import closed_loops
from tests.scorecards.test_rollups_more import alert

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [375])  # a phone's: the charts draw, and the page must fit
def test_the_dashboards_charts_render_on_a_laptop_and_a_phone(
    live_server,
    page,  # noqa: F811
    team,
    other_team,
    alice,
    width,  # noqa: F811
):
    # given an admin, eight weeks of closed loops for two teams (alice's slipping) and one
    # open loop, a recovered cart and an alert this week, rolled up
    agent_create(username="ceo", password=PASSWORD, role="admin")
    now = utcnow()
    for i in range(1, 9):
        week = week_of(now) - timedelta(weeks=i)
        closed_loops(team, week, on_time=4, late=i % 3)
        closed_loops(
            team, week, on_time=2 if i <= 4 else 4, late=2 if i <= 4 else 0, assignee=alice
        )
        closed_loops(other_team, week, on_time=6, late=0)
    rule = recovery_rule(team, now)
    cart = Loop.objects.create(
        customer=CustomerFactory(),
        kind="recovery",
        title="Cart",
        team=team,
        state="closed",
        opened_at=now - timedelta(minutes=30),
        clock_started_at=now - timedelta(minutes=30),
        closed_at=now - timedelta(minutes=1),
    )
    won = recovery(
        rule,
        cart,
        outcome="recovered",
        closed_at=now - timedelta(minutes=1),
        revenue="129.50",
        currency="EUR",
    )
    term = WatchTerm.objects.create(name="Acme", query="acme", kind="brand", created_at=now)
    loud = alert(term, team, now - timedelta(minutes=2), 42, state="open")
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
    assert canvases.count() == 14  # seven charts for each of the two teams
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll('.dashboard-chart canvas')).map(c => {
            const chart = Chart.getChart(c);
            return chart ? [chart.data.datasets.length, c.width, c.height] : null;
        })"""
    )
    assert all(d is not None and d[0] >= 1 and d[1] > 0 and d[2] > 0 for d in drawn), drawn
    assert page.locator("#dashboard-freshness").inner_text().startswith("Figures as of")

    # and a chart's table opens with its thirteen weeks
    chart = page.locator("#chart-front-rates-table").locator("xpath=ancestor::details")
    chart.locator("summary").click()
    assert page.locator("#chart-front-rates-table tbody tr").count() == 13

    # and the revenue's table says its currency
    revenue = page.locator("#chart-front-revenue-table").locator("xpath=ancestor::details")
    revenue.locator("summary").click()
    assert page.locator("#chart-front-revenue-table thead").inner_text().count("EUR") == 1

    # and the new tiles and the worsening agents are there
    revenue_now = "#team-front [data-figure=revenue_recovered] [data-when=current]"
    assert "129.50 EUR" in page.locator(revenue_now).inner_text()
    assert page.locator(f"#alert-{loud.pk} a").is_visible()
    assert page.locator("#worsening-agent-alice").is_visible()

    # and the page fits the screen's width
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # and the revenue tile lists the recovery behind it
    page.locator(f"{revenue_now} a").click()
    page.wait_for_url(f"{live_server.url}/scorecards/dashboard/rows/**")
    assert page.locator(f"#rows-recovery-{won.pk}").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.go_back()

    # and the open-loops tile leads to the loop
    page.locator("#team-front [data-figure=open_loops] [data-when=now] a").click()
    page.wait_for_url(f"{live_server.url}/scorecards/loops/**")
    assert page.locator(f"#drill-loop-{loop.pk}").is_visible()
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
