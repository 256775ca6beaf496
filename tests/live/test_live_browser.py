"""Two agents on one case, in two real headless Chromium contexts: what one writes and that
they are there reach the other's open page without a reload.

Started as tests/console/test_browser.py starts Chromium (Debian's /usr/bin/chromium through
Playwright's sync API; missing chromium skips, unless LASTMILE_REQUIRE_BROWSER=1).

Time: each context installs Playwright's fake clock before its first page, and a test moves
it on (``clock.run_for``) to fire the page's poll and heartbeat timers; nothing waits on the
wall clock. A wait on a selector is an upper bound for the server's answer to arrive, never a
measure of how soon the page polls."""

from __future__ import annotations

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.live.models import Notification
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, browser  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def agent_page(browser, live_server, username: str, width: int = 1366):  # type: ignore[no-untyped-def]  # noqa: F811
    """A signed-in page of its own browser context (its own cookies: another agent)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    context.clock.install()  # before any page: live.js's timers are Playwright's to fire
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


POLL_MS = 3_000  # live.js: the case page and the inbox poll this often
BEAT_MS = 5_000  # and the case page beats this often


def tick_until(page, locator, *, ms: int = POLL_MS, state: str = "visible", tries: int = 4):  # type: ignore[no-untyped-def]
    """Move the page's clock on by ``ms`` (its timers fire) until ``locator`` reaches
    ``state``; each try allows the server a few seconds to answer what the timers asked."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries - 1):
        page.clock.run_for(ms)
        try:
            locator.wait_for(state=state, timeout=3_000)
            return
        except PlaywrightTimeout:
            pass
    page.clock.run_for(ms)
    locator.wait_for(state=state, timeout=3_000)


def test_a_colleagues_note_and_presence_reach_an_open_case_page_without_reload(
    live_server,
    browser,  # noqa: F811
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

    # When Ben opens it too, Then Ana sees him viewing at her next beat, and he her at his
    # first
    ben = agent_page(browser, live_server, "ben")
    ben.goto(f"{live_server.url}/cases/{case.ref}/")
    tick_until(ana, ana.locator("#live-presence", has_text="Ben is viewing"), ms=BEAT_MS)
    tick_until(ben, ben.locator("#live-presence", has_text="Ana is viewing"), ms=BEAT_MS)

    # When Ben types a note naming Ana, Then Ana sees him typing at her next beat
    ben.fill("#note-form textarea", "@ana the branch confirmed the card is linked now.")
    tick_until(ana, ana.locator("#live-presence", has_text="Ben is typing…"), ms=BEAT_MS)

    # When Ana starts a reply and Ben adds the note, Then it shows in Ana's thread at her
    # next poll, without a reload, with what the mention matched, her draft untouched; and
    # her bell counts one unread notification
    ana.fill("#reply-form textarea[name=body]", "Hi Maya, a draft in progress")
    ben.click("#note-form button[type=submit]")
    ben.locator("#thread .msg[data-direction=note]").wait_for()
    tick_until(
        ana, ana.locator("#thread .msg[data-direction=note]", has_text="the branch confirmed")
    )
    assert "Ana notified (by username)" in ana.locator("#thread").inner_text()
    assert ana.evaluate("window.stillTheSamePage") is True
    assert ana.input_value("#reply-form textarea[name=body]") == "Hi Maya, a draft in progress"
    tick_until(ana, ana.locator("#live-unread", has_text="1"))
    assert Notification.objects.filter(recipient__username="ana", kind="mention").count() == 1

    # When Ana opens her notifications from the top bar, Then the mention is listed and
    # links to the case; following it reads it
    ana.click("#live-notes summary")
    item = ana.locator("#live-menu .live-item", has_text="Ben mentioned you")
    item.wait_for()
    ana.screenshot(path="/tmp/live-bell-375.png")
    assert item.locator("a").get_attribute("href") == f"/cases/{case.ref}/"
    item.locator("a").click()
    ana.wait_for_url(f"{live_server.url}/cases/{case.ref}/")
    tick_until(ana, ana.locator("#live-unread"), state="hidden")
    assert Notification.objects.get(recipient__username="ana").read_at is not None
    ana.screenshot(path="/tmp/live-e2e-375.png", full_page=True)

    # When Ben leaves the case, Then Ana stops seeing him there at her next beat (his page
    # said so as it closed)
    ben.goto(f"{live_server.url}/")
    tick_until(ana, ana.locator("#live-presence", has_text="Ben"), ms=BEAT_MS, state="detached")
    ben.context.close()
    ana.context.close()


def test_the_inbox_shows_a_new_loop_without_reload_and_stops_polling_while_hidden(
    live_server,
    browser,  # noqa: F811
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
    # (the page's first poll is held until the loop below has opened: the page must take its
    # starting point from the rows it was rendered with, not from that poll's answer)
    held = []
    ana.route("**/live/poll*", lambda route: held.append(route))
    ana.reload()
    while not held:
        ana.wait_for_timeout(20)
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
    held[0].continue_()
    ana.unroute("**/live/poll*")
    # Then the inbox lists it at the next poll, without a reload
    tick_until(ana, ana.locator("#inbox-rows .loop-row", has_text="Maya Fernandes"))
    assert ana.evaluate("window.stillTheSamePage") is True

    # When the tab is hidden and ten poll periods pass, Then it polls no more
    ana.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'));"
        "performance.clearResourceTimings()"
    )
    ana.clock.run_for(10 * POLL_MS)
    polls = ana.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/live/')).length"
    )
    assert polls == 0
    # When it is visible again, Then the next period polls (the count above is not zero for
    # want of timers)
    ana.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false})"
    )
    with ana.expect_request(lambda r: "/live/poll" in r.url):
        ana.clock.run_for(POLL_MS)
    ana.context.close()


def test_a_message_watched_arriving_live_is_no_collision_one_the_stale_page_missed_is(
    live_server,
    browser,  # noqa: F811
):  # type: ignore[no-untyped-def]
    # Given Ana on a customer's case, and Ben, her colleague
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana")
    ben = agent_create(username="ben", password=PASSWORD, teams=[team], first_name="Ben").user
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    case = case_create(
        customer=customer, subject="Card not linked", team=team, channel="email", now=now
    )

    def record(direction: str, body: str, actor=None):  # type: ignore[no-untyped-def]
        interaction_record(
            customer=customer,
            case=case,
            channel="note" if direction == "note" else "email",
            direction=direction,
            occurred_at=utcnow(),
            now=utcnow(),
            body=body,
            actor=actor,
        )

    record("inbound", "My card is not linked to my account.")
    ana = agent_page(browser, live_server, "ana")
    ana.goto(f"{live_server.url}/cases/{case.ref}/")
    warning = ana.locator("#reply-form .composer-collision")

    # When Ben's note arrives while Ana's page is open, and she watches it come in live
    record("note", "Checked with the branch: linked since this morning.", actor=ben)
    tick_until(ana, ana.locator("#thread .msg", has_text="linked since this morning"))
    # and she sends her reply
    ana.fill("#reply-form textarea[name=body]", "Hi Maya, your card is linked now.")
    ana.click("#reply-form button[type=submit]")
    # Then it goes, with no collision warning: the note was on her screen
    ana.locator("#thread .msg[data-direction=outbound]", has_text="card is linked now").wait_for()
    assert warning.count() == 0

    # When the page goes stale (its polls fail) and Maya writes again
    ana.route("**/live/poll*", lambda route: route.abort())
    record("inbound", "Still not linked, I just checked.")
    ana.clock.run_for(POLL_MS)
    assert ana.locator("#thread .msg", has_text="Still not linked").count() == 0
    # and Ana sends another reply, Then the collision check stops it and says why
    ana.fill("#reply-form textarea[name=body]", "Glad we could help!")
    ana.click("#reply-form button[type=submit]")
    warning.wait_for()
    assert "Not sent yet" in warning.inner_text() and "Still not linked" in warning.inner_text()
    ana.context.close()
