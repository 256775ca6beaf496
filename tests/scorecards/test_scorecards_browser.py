"""The scorecard page in headless Chromium: an agent opens their scorecard, reads a
definition next to its number, follows a count to the loops it was made of, under the
site's Content-Security-Policy and without a console error; the page fits a phone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.loops.services import loop_close, loop_open
from lastmile.people.services import agent_create
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.browser


def test_an_agent_follows_a_count_on_their_scorecard_to_its_loops(live_server, page, team):  # noqa: F811
    # given Ana closed two loops this month, one of them late
    ana = agent_create(username="ana", password=PASSWORD, teams=[team]).user
    customer = CustomerFactory()
    now = utcnow()
    opened = now - timedelta(hours=3)
    loops = []
    for title, due in (("On time", now + timedelta(hours=1)), ("Late", now - timedelta(hours=1))):
        loop = loop_open(
            customer=customer,
            kind="task",
            title=title,
            team=team,
            assignee=ana,
            due_at=due if due > opened else None,
            now=opened,
        )
        loops.append(loop_close(loop=loop, now=now - timedelta(minutes=1)))
    problems = watch(page)

    # when she opens her scorecard
    log_in(page, live_server, "ana")
    month = f"{loops[0].closed_at:%Y-%m}"  # not the clock's month: the test may straddle two
    page.goto(f"{live_server.url}/scorecards/?period={month}")

    # then her row shows two loops closed, and the definition is on the page
    row = page.locator("#agent-ana")
    assert row.locator("[data-metric=loops_closed]").inner_text() == "2"
    assert "closed in the period" in page.locator("#def-loops_closed").inner_text()

    # and the count leads to exactly those two loops
    row.locator("[data-metric=loops_closed] a").click()
    page.wait_for_url(f"{live_server.url}/scorecards/loops/**")
    assert page.locator("#drill-count").inner_text().startswith("2 loops")
    for lp in loops:
        assert page.locator(f"#drill-loop-{lp.pk}").is_visible()

    # and every other number leads to its own rows: the loops closed on time, one
    page.goto(f"{live_server.url}/scorecards/?period={month}")
    page.locator("#agent-ana [data-metric=loops_closed_on_time] a").click()
    page.wait_for_url(f"{live_server.url}/scorecards/?**rows=loops_closed_on_time**")
    assert page.locator("#rows-count").get_attribute("data-count") == "1"
    assert page.locator(f"#rows-loop-{loops[0].pk}").is_visible()
    # and her page shows her last eight weeks, every metric of each
    assert page.locator("#scorecards-weeks-table tbody tr").count() == 8

    # and on a phone the scorecard fits the screen's width (its table scrolls in its card)
    page.goto(f"{live_server.url}/scorecards/?period={month}")
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
