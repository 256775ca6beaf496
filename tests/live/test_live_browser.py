"""Two agents on one case, in two real headless Chromium contexts: what one writes and that
they are there reach the other's open page without a reload.

Started as tests/console/test_browser.py starts Chromium (Debian's /usr/bin/chromium through
Playwright's sync API; missing chromium skips, unless LASTMILE_REQUIRE_BROWSER=1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.live.models import Notification
from lastmile.people.services import agent_create, team_ensure
from tests.conftest import require

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "the playwright package is not installed"
    if reason:
        if require("browser"):
            pytest.fail(f"LASTMILE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def agent_page(browser, live_server, username: str, width: int = 1366):  # type: ignore[no-untyped-def]
    """A signed-in page of its own browser context (its own cookies: another agent)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_a_colleagues_note_and_presence_reach_an_open_case_page_without_reload(
    live_server, browser
):  # type: ignore[no-untyped-def]
    # Given a team of two agents and a customer's case
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana")
    agent_create(username="ben", password=PASSWORD, teams=[team], first_name="Ben")
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    case = case_create(
        customer=customer, subject="Card not linked", team=team, channel="email", now=now
    )
    interaction_record(
        customer=customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="My card is not linked to my account.",
    )
    # and Ana has the case open, in a phone-sized window
    ana = agent_page(browser, live_server, "ana", width=375)
    ana.goto(f"{live_server.url}/cases/{case.ref}/")
    ana.evaluate("window.stillTheSamePage = true")
    assert ana.locator("#live-presence").inner_text() == ""

    # When Ben opens it too, Then Ana sees him viewing (his first beat, her next one)
    ben = agent_page(browser, live_server, "ben")
    ben.goto(f"{live_server.url}/cases/{case.ref}/")
    ana.locator("#live-presence", has_text="Ben is viewing").wait_for(timeout=8_000)
    ben.locator("#live-presence", has_text="Ana is viewing").wait_for(timeout=8_000)

    # When Ben types a note naming Ana, Then Ana sees him typing
    ben.fill("#note-form textarea", "@ana the branch confirmed the card is linked now.")
    ana.locator("#live-presence", has_text="Ben is typing…").wait_for(timeout=8_000)

    # When Ana starts a reply and Ben adds the note, Then it shows in Ana's thread within
    # 6 s, without a reload, with what the mention matched, her draft untouched; and her
    # bell counts one unread notification
    ana.fill("#reply-form textarea[name=body]", "Hi Maya, a draft in progress")
    ben.click("#note-form button[type=submit]")
    ben.locator("#thread .msg[data-direction=note]").wait_for()
    ana.locator("#thread .msg[data-direction=note]", has_text="the branch confirmed").wait_for(
        timeout=6_000
    )
    assert "Ana notified (by username)" in ana.locator("#thread").inner_text()
    assert ana.evaluate("window.stillTheSamePage") is True
    assert ana.input_value("#reply-form textarea[name=body]") == "Hi Maya, a draft in progress"
    ana.locator("#live-unread", has_text="1").wait_for(timeout=6_000)
    assert Notification.objects.filter(recipient__username="ana", kind="mention").count() == 1

    # When Ana opens her notifications from the top bar, Then the mention is listed and
    # links to the case
    ana.click("#live-notes summary")
    item = ana.locator("#live-menu .live-item", has_text="Ben mentioned you")
    item.wait_for()
    ana.screenshot(path="/tmp/live-bell-375.png")
    item.locator("a").click()
    ana.wait_for_url(f"{live_server.url}/cases/{case.ref}/")
    ana.locator("#live-unread").wait_for(state="hidden")
    ana.screenshot(path="/tmp/live-e2e-375.png", full_page=True)

    # When Ben leaves the case, Then Ana stops seeing him there (at once: his page said so)
    ben.goto(f"{live_server.url}/")
    ana.locator("#live-presence", has_text="Ben").wait_for(state="detached", timeout=8_000)
    ben.context.close()
    ana.context.close()


def test_the_inbox_shows_a_new_loop_without_reload_and_stops_polling_while_hidden(
    live_server, browser
):  # type: ignore[no-untyped-def]
    # Given an agent on her inbox, with nothing open
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana")
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    ana = agent_page(browser, live_server, "ana")
    ana.evaluate("window.stillTheSamePage = true")

    # When a customer writes on a new case of her team (a reply loop opens)
    case = case_create(customer=customer, subject="Lost card", team=team, channel="email", now=now)
    interaction_record(
        customer=customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="I lost my card.",
    )
    # Then the inbox lists it within 6 s, without a reload
    ana.locator("#inbox-rows .loop-row", has_text="Maya Fernandes").wait_for(timeout=6_000)
    assert ana.evaluate("window.stillTheSamePage") is True

    # When the tab is hidden, Then it polls no more
    ana.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'));"
        "performance.clearResourceTimings()"
    )
    ana.wait_for_timeout(7_000)  # two poll periods; nothing to wait on but the clock
    polls = ana.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/live/')).length"
    )
    assert polls == 0
    ana.context.close()
