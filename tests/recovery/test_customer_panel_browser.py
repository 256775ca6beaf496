"""The customer page's recoveries panel in headless Chromium: an agent sees the open
recovery with its cart, follows the link to its loop and back to the loop's card, under the
site's Content-Security-Policy, without a console error, and the panel fits a phone."""

from __future__ import annotations

import pytest

from lastmile.people.services import agent_create
from lastmile.recovery.models import Recovery
from lastmile.recovery.services import recoveries_detect
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _analytics_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def test_an_agent_follows_a_recovery_from_the_customer_page_to_its_loop(
    live_server,
    page,  # noqa: F811
    team,
    rule,
    abandoned,
    copy,
    engine,
    now,
):
    # given Maya abandoned a cart and her recovery is open for the front office
    agent_create(username="ana", password=PASSWORD, teams=[team])
    abandoned()
    copy(now)
    assert recoveries_detect(now=now, engine=engine).opened == 1
    rec = Recovery.objects.get()
    problems = watch(page)

    # when Ana opens Maya's page
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/customers/{rec.customer_id}/")

    # then the panel shows the open recovery with its rule, cart and value
    item = page.locator(f"#customer-recovery-{rec.pk}")
    assert item.is_visible()
    assert item.locator(".recovery-outcome").inner_text() == "Open"
    text = item.inner_text()
    assert "Abandoned carts" in text and "Trail shoes, 2 × Socks" in text
    assert "129.50 EUR" in text and "Due " in text and "outreach: an email" in text

    # and its link opens the recovery's loop, whose link leads back to the loop's card
    item.locator("a.recovery-loop-link").click()
    page.wait_for_url(f"{live_server.url}/recovery/{rec.pk}/")
    assert page.locator("#loop-h").inner_text() == f"Loop #{rec.loop_id}: open"
    page.get_by_role("link", name="act on it on the customer's page").click()
    page.wait_for_url(f"{live_server.url}/customers/{rec.customer_id}/#loop-{rec.loop_id}")
    assert page.locator(f"#loop-{rec.loop_id}").is_visible()

    # and on a phone the panel fits the screen's width
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
