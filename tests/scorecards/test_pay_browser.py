"""The pay statement in headless Chromium, on a laptop and on a phone: the agent opens her
statement and disputes a line; the lead opens it from his table and answers with an
adjustment; the agent reads the answer and the new total. Under the site's
Content-Security-Policy, without a console error, and no wider than the screen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lastmile.core.clock import utcnow
from lastmile.people.services import agent_create, team_set_lead
from lastmile.scorecards.models import PayDispute, PayPlan, PayPlanMetric
from lastmile.scorecards.pay_views import last_complete_month
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch

pytestmark = pytest.mark.browser
PHONE, LAPTOP = 375, 1366


def fits(tab, width=PHONE):  # type: ignore[no-untyped-def]
    """Nothing wider than the screen, on a phone and (the viewport resized, the flow not run
    twice) on a laptop."""
    for w in (width, LAPTOP):
        tab.set_viewport_size({"width": w, "height": 900})
        assert tab.evaluate("document.documentElement.scrollWidth") <= w, w
    tab.set_viewport_size({"width": width, "height": 900})


def test_an_agent_disputes_a_line_and_reads_the_leads_answer(
    live_server,
    page,  # noqa: F811
    team,
):
    width = PHONE
    # given a team with a pay plan, its agent Ana and its lead Leo
    plan = PayPlan.objects.create(team=team, name="Front 2026", overall_cap=Decimal("30"))
    for pos, (metric, target) in enumerate([("on_time_rate", 0.9), ("loops_closed", 10)]):
        PayPlanMetric.objects.create(
            plan=plan, metric=metric, target=target, weight=10, cap=12, position=pos
        )
    agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana")
    leo = agent_create(username="leo", password=PASSWORD, teams=[team], role="lead").user
    team_set_lead(team=team, lead=leo)
    month = last_complete_month(utcnow())
    problems = watch(page)
    page.set_viewport_size({"width": width, "height": 900})

    # when Ana opens her statement and disputes the loops closed
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/scorecards/pay/")
    assert "Your pay statement" in page.locator("h1").inner_text()
    assert page.locator("#line-loops_closed").is_visible()
    fits(page, width)
    page.select_option("#id_line", "loops_closed")
    page.fill("#id_dispute_reason", "I closed the Harper loops on the 30th")
    page.click("#pay-dispute-form button[type=submit]")

    # then it is listed, waiting for Leo
    page.wait_for_selector("#pay-notice")
    dispute = PayDispute.objects.get()
    card = page.locator(f"#dispute-{dispute.pk}")
    assert "I closed the Harper loops" in card.inner_text()
    assert "Waiting for the lead" in card.inner_text()
    fits(page, width)

    # when Leo opens Ana's statement from his table and answers with 1.5 points
    page.context.clear_cookies()
    log_in(page, live_server, "leo")
    page.goto(f"{live_server.url}/scorecards/pay/?month={month}")
    fits(page, width)
    page.click("#pay-row-ana a")
    page.wait_for_selector(f"#dispute-{dispute.pk}-form")
    fits(page, width)
    page.fill(f"#answer-{dispute.pk}", "Right: two of them were yours after the hand-over")
    page.fill(f"#points-{dispute.pk}", "1.5")
    page.click(f"#dispute-{dispute.pk}-form button[type=submit]")
    page.wait_for_selector(f"#dispute-{dispute.pk}-answer")

    # then Ana reads the answer and the adjustment on her statement
    page.context.clear_cookies()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/scorecards/pay/?month={month}")
    answer = page.locator(f"#dispute-{dispute.pk}-answer").inner_text()
    assert "two of them were yours" in answer and "+1.50 points" in answer
    assert "Right: two of them were yours" in page.locator("#pay-adjustments").inner_text()
    assert "Total: 1.50 points" in page.locator("#pay-total").inner_text()
    fits(page, width)
    assert problems == []
