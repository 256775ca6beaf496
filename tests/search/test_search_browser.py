"""The search page in a real headless Chromium, at a phone's width and a laptop's.

Started as tests/console/test_browser.py starts it (Debian's /usr/bin/chromium driven by
Playwright); missing chromium skips, unless LASTMILE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, browser, fast_password_hashing  # noqa: F401 (fixtures)
from tests.search.helpers import message

pytestmark = pytest.mark.browser


def test_search_results_show_at_a_phones_width_and_a_laptops(live_server, browser):  # type: ignore[no-untyped-def]  # noqa: F811
    # Given an agent, her team's case and a message on it
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana")
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    case = case_create(
        customer=customer, subject="Pelican delivery damaged", team=team, channel="email", now=now
    )
    message(case, "The pelican statue arrived with a cracked beak, " * 4, now)

    # (searching only reads: one scene serves both widths, each in a context of its own)
    for width in (375, 1366):
        search_at_width(live_server, browser, case, width)


def search_at_width(live_server, browser, case, width: int) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # When she signs in and searches
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "ana")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/search/?q={quote('pelican')}")

        # Then the case and the message are shown, the word marked, inside the screen
        cases = page.locator("#results-cases")
        messages = page.locator("#results-interactions")
        assert cases.is_visible() and messages.is_visible()
        assert case.ref in cases.inner_text()
        assert page.locator("#results-interactions mark").first.inner_text().lower() == "pelican"
        # (the search page's own parts: the top bar above them is the layout's)
        for part in ("#search-q", ".search-kinds", "#results-cases", "#results-interactions"):
            box = page.locator(part).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, part
        widest = page.evaluate(
            "Math.max(...[...document.querySelectorAll('.search-groups *')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert widest <= width

        # and the page's own box searches again: no results is said plainly
        page.fill("#search-q", "flamingo")
        page.press("#search-q", "Enter")
        page.wait_for_url("**/search/?q=flamingo")
        assert "No results for “flamingo”" in page.locator("#search-empty").inner_text()
        page.screenshot(path=f"/tmp/search-{width}.png", full_page=True)
    finally:
        context.close()
