"""The agent console end to end, in a real headless Chromium against a real HTTP server.

Debian's chromium at /usr/bin/chromium, driven by Playwright's sync API (no downloaded
browser). Missing chromium skips, unless LASTMILE_REQUIRE_BROWSER=1 (CI), which fails.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, SlaPolicy
from lastmile.loops.services import loop_open, loop_pause
from lastmile.people.services import agent_create, team_ensure
from tests.cases.factories import customer_case
from tests.conftest import browser as conftest_browser

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"

# Chromium is tests/conftest.py's, started once for the session; `browser` stays importable
# from here for the modules that name it.
browser = conftest_browser


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real password checks, without PBKDF2's deliberate slowness on every user made."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def log_in(page, live_server, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_an_agent_replies_from_the_inbox_and_sees_the_reply_loop_close(live_server, page):  # type: ignore[no-untyped-def]
    # Given a team, its agent, a customer's chat case and a 30-minute chat SLA
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(
        username="ana", password=PASSWORD, teams=[team], first_name="Ana", last_name="Silva"
    )
    SlaPolicy.objects.create(
        name="Chat — 30 min", channel="chat", first_reply_minutes=30, next_reply_minutes=30
    )
    # and the customer has written on a chat case, so a reply loop is open with a deadline
    case = customer_case(
        team=team,
        name="Maya Fernandes",
        email="maya@example.com",
        subject="Card not linked to my account",
        channel="chat",
        now=now,
        wrote="My new debit card is not linked to my current account.",
    )
    loop = Loop.objects.get(case=case, kind="reply")
    assert loop.due_at is not None

    # When the agent logs in through the form
    log_in(page, live_server, "ana")

    # Then the inbox lists the loop with a countdown that moves
    countdown = page.locator(f"#loop-{loop.pk} .countdown")
    first = countdown.inner_text()
    assert re.fullmatch(r"in \d+ min( \d+ s)?", first), first
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).textContent !== before",
        arg=[f"#loop-{loop.pk} .countdown", first],
    )
    second = countdown.inner_text()
    assert second != first and second.startswith("in ")

    # When the agent opens the case and sends a reply
    page.click(f"#loop-{loop.pk} a.loop-title")
    page.wait_for_url(re.compile(rf"/cases/{case.ref}/"))
    assert page.locator(f"#open-loops #loop-{loop.pk} .countdown").count() == 1
    page.evaluate("window.stillTheSamePage = true")  # htmx swaps the page body, no reload
    page.fill("#reply-form textarea[name=body]", "Hi Maya, I have linked the card to your account.")
    page.click("#reply-form button[type=submit]")

    # Then the thread shows the reply, the reply loop is closed and its countdown gone
    reply = page.locator("#thread .msg[data-direction=outbound]")
    reply.wait_for()
    assert "I have linked the card" in reply.inner_text()
    assert page.locator("#open-loops .countdown").count() == 0
    assert "No open loop on this case" in page.locator("#open-loops").inner_text()
    # (no chat integration: the reply was logged as given elsewhere, and says so)
    assert page.locator(".alert-success").inner_text() == (
        "Logged a reply given on Chat: not sent by lastmile."
    )
    assert page.evaluate("window.stillTheSamePage") is True
    loop.refresh_from_db()
    assert loop.state == "closed"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path="/tmp/console-e2e.png", full_page=True)


def busy_customer(now):  # type: ignore[no-untyped-def]
    """A customer with loops in every SLA state across two teams, and a thread across channels."""
    front = team_ensure(name="Front office")
    back = team_ensure(name="Back office")
    agent = agent_create(
        username="ana", password=PASSWORD, teams=[front], first_name="Ana", last_name="Silva"
    ).user
    SlaPolicy.objects.create(
        name="Email — 4 h", channel="email", first_reply_minutes=240, next_reply_minutes=240
    )
    SlaPolicy.objects.create(
        name="Back office tasks", position=10, kind="task", team=back, resolution_minutes=8 * 60
    )
    customer = customer_resolve(
        identities=[
            identity_normalize("email", "maya@example.com"),
            identity_normalize("phone", "+44 20 7946 0958"),
        ],
        display_name="Maya Fernandes",
        now=now - timedelta(days=40),
    ).customer
    case = case_create(
        customer=customer,
        subject="Online access not enabled after account opening",
        team=front,
        channel="email",
        priority="high",
        now=now - timedelta(hours=6),
    )
    earlier = now - timedelta(hours=6)
    interaction_record(
        customer=customer,
        case=case,
        channel="phone",
        direction="inbound",
        occurred_at=earlier,
        now=earlier,
        body="Called: opened a current account last week, still cannot log in online.",
    )
    interaction_record(
        customer=customer,
        case=case,
        channel="email",
        direction="outbound",
        occurred_at=earlier + timedelta(minutes=20),
        now=earlier + timedelta(minutes=20),
        actor=agent,
        body="Thanks Maya — I've asked our back office to enable online access.",
    )
    interaction_record(
        customer=customer,
        case=case,
        channel="web",
        direction="note",
        occurred_at=earlier + timedelta(minutes=22),
        now=earlier + timedelta(minutes=22),
        actor=agent,
        body="Debit card also not linked; raised with back office.",
    )
    loop_open(
        customer=customer,
        case=case,
        kind="task",
        team=back,
        title="Enable online banking access",
        now=earlier + timedelta(minutes=21),
        due_at=now - timedelta(minutes=45),
    )
    loop_open(
        customer=customer,
        case=case,
        kind="task",
        team=back,
        title="Link debit card to current account",
        now=earlier + timedelta(minutes=21),
    )
    promise = loop_open(
        customer=customer,
        case=case,
        kind="promise",
        team=front,
        title="Call Maya back once access works",
        now=earlier + timedelta(minutes=21),
        due_at=now + timedelta(minutes=40),
    )
    loop_open(
        customer=customer,
        case=case,
        kind="followup",
        team=front,
        title="Confirm new postal address",
        now=earlier + timedelta(minutes=30),
    )
    waiting = loop_open(
        customer=customer,
        case=case,
        kind="promise",
        team=front,
        title="Send replacement card PIN",
        now=earlier + timedelta(minutes=30),
        due_at=now + timedelta(days=3),
    )
    loop_pause(
        loop=waiting,
        reason="waiting on proof of address",
        now=earlier + timedelta(minutes=31),
        actor=agent,
    )
    interaction_record(
        customer=customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now - timedelta(minutes=50),
        now=now - timedelta(minutes=50),
        body="Any news? I still cannot log in and my rent is due Friday.",
    )
    # Elsewhere: the cards team owes her a delivery, and she posted about it publicly.
    cards = team_ensure(name="Cards")
    delivery = case_create(
        customer=customer,
        subject="Replacement debit card",
        team=cards,
        channel="web",
        now=now - timedelta(days=2),
    )
    loop_open(
        customer=customer,
        case=delivery,
        kind="visit",
        team=cards,
        title="Deliver the replacement card",
        now=now - timedelta(days=2),
        due_at=now + timedelta(days=1, hours=3),
    )
    interaction_record(
        customer=customer,
        channel="social:twitter",
        direction="inbound",
        occurred_at=now - timedelta(hours=3),
        now=now - timedelta(hours=3),
        body="@bank three days and still no working online banking. Great start.",
    )
    return case, promise


def test_the_inbox_and_the_case_colour_each_loop_by_its_sla_state(live_server, page):  # type: ignore[no-untyped-def]
    # Given loops breached, at risk, on track, paused and without a deadline, in two teams
    now = utcnow()
    case, promise = busy_customer(now)

    # When the front-office agent opens the inbox
    log_in(page, live_server, "ana")

    # Then each row carries its SLA state, the counts add up, and breached is red
    states = page.eval_on_selector_all("tr.loop-row", "rows => rows.map(r => r.dataset.sla)")
    assert states[0] == "at_risk"  # most urgent first: the promise due in 40 min
    assert sorted(states) == ["at_risk", "none", "ok", "paused"]
    red = page.eval_on_selector(
        ".count[data-sla=breached] .count-n", "e => getComputedStyle(e).color"
    )
    amber = page.eval_on_selector(f"#loop-{promise.pk} .sla-tag", "e => getComputedStyle(e).color")
    assert (red, amber) == ("rgb(201, 41, 27)", "rgb(180, 83, 9)")
    page.screenshot(path="/tmp/console-inbox.png", full_page=True)

    # And the case page shows every team's loops, the breached one red
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    cards = page.eval_on_selector_all("#open-loops .loop-card", "cs => cs.map(c => c.dataset.sla)")
    assert sorted(cards) == ["at_risk", "breached", "none", "ok", "ok", "paused"]
    page.screenshot(path="/tmp/console-case.png", full_page=True)


def test_the_inbox_filters_in_place_and_a_refused_solve_shows_its_reason(live_server, page):  # type: ignore[no-untyped-def]
    # Given the busy customer's loops
    case, promise = busy_customer(utcnow())
    log_in(page, live_server, "ana")
    page.evaluate("window.stillTheSamePage = true")

    # When the agent picks the "Promise" kind, Then only promises are listed, in place
    page.select_option("#id_kind", "promise")
    page.wait_for_url(re.compile(r"kind=promise"))
    page.wait_for_function("() => document.querySelectorAll('tr.loop-row').length === 2")
    kinds = page.eval_on_selector_all("tr.loop-row .kind", "ks => ks.map(k => k.textContent)")
    assert kinds == ["Promise", "Promise"]
    assert page.evaluate("window.stillTheSamePage") is True

    # When the agent tries to solve the case with loops open
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    page.select_option("#id_status", "solved")
    page.click(".status-form button[type=submit]")

    # Then the refusal names the open loops and the case stays open
    alert = page.locator("#page-body .alert-error")
    alert.wait_for()
    assert "6 loops are still open" in alert.inner_text()
    assert page.locator(".case-ref .status").inner_text() == "Open"
