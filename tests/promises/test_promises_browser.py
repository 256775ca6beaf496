"""Recording a promise in the console, end to end, in headless Chromium against a live server.

Hannah (membership) promises extra beds on a guest's case; the occupancy policy blocks
it as she types, beyond her authority; saving without asking is refused with her typing
intact; she asks a lead to approve the exception and it is recorded awaiting approval.
Anil, her lead, finds the approval in his inbox and approves it on the case page: the
promise goes live, with who asked and who approved. Tomás (reception) then opens the
guest and sees who promised it, when and on which channel, keeps it, and emails the guest
a portal link; the guest opens it and finds the promise under "What we promised you",
with who made it and its outcome.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lastmile.cases.services import case_create
from lastmile.channels.models import OutboxMessage
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.people.services import agent_authority_set, agent_create, team_ensure
from lastmile.promises.models import Promise
from lastmile.promises.services import policy_create
from tests.console.test_browser import PASSWORD, browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_an_agent_asks_for_an_exception_her_lead_approves_and_reception_sees_it(
    live_server,
    page,  # noqa: F811
):
    # Given the hotel teams, the occupancy policy, and a guest's case with membership
    now = utcnow()
    membership = team_ensure(name="Membership")
    reception = team_ensure(name="Hotel reception", slug="reception")
    agent_create(
        username="hannah",
        password=PASSWORD,
        teams=[membership],
        first_name="Hannah",
        last_name="Moore",
    )
    anil = agent_create(
        username="anil",
        password=PASSWORD,
        teams=[membership],
        first_name="Anil",
        last_name="Kapoor",
        role="lead",
    )
    agent_authority_set(
        agent=anil, authority={"overrides": ["occupancy-deluxe"]}, actor=None, now=utcnow()
    )
    membership.lead = anil.user
    membership.save()
    agent_create(
        username="tomas",
        password=PASSWORD,
        teams=[reception],
        first_name="Tomás",
        last_name="Reyes",
    )
    policy_create(
        key="occupancy-deluxe",
        title="Deluxe rooms sleep three adults",
        applies_when='has(terms.room_type) && terms.room_type == "deluxe"',
        rule="terms.adults <= 3",
        severity="block",
        text="A Deluxe room sleeps at most 3 adults; your team lead approves an exception.",
        now=now - timedelta(days=1),
    )
    guest = customer_resolve(
        identities=[identity_normalize("email", "priya@example.com")],
        display_name="Priya Raghavan",
        now=now - timedelta(days=100),
    ).customer
    case = case_create(
        customer=guest, subject="Two extra beds?", team=membership, channel="email", now=now
    )
    case_create(customer=guest, subject="Arriving", team=reception, channel="chat", now=now)

    # When Hannah opens the case and starts a promise
    log_in(page, live_server, "hannah")
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    page.click("#promise-panel summary")
    page.fill("#promise-form textarea[name=text]", "Two extra beds for the four of you")
    page.select_option("#promise-form select[name=team]", label="Hotel reception")
    page.select_option("#promise-form select[name=channel]", "phone")
    due = (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#promise-form input[name=due_at]", due)
    # and types the terms: the policy is checked as she types
    page.locator("#promise-form input[name=terms]").press_sequentially(
        "adults=2, extra_beds=2, room_type=deluxe", delay=20
    )
    verdict = page.locator('#promise-verdicts .verdict[data-policy="occupancy-deluxe"]')
    verdict.wait_for()
    assert verdict.get_attribute("data-result") == "pass"
    terms = page.locator("#promise-form input[name=terms]")
    terms.fill("")
    terms.press_sequentially("adults=4, extra_beds=2, room_type=deluxe", delay=20)
    page.wait_for_selector(
        '#promise-verdicts .verdict[data-policy="occupancy-deluxe"][data-result="fail"]'
    )
    assert "at most 3 adults" in page.locator("#promise-verdicts").inner_text()
    assert "needs a lead with authority" in page.locator("#promise-verdicts").inner_text()
    assert page.locator("#promise-form input[name=override]").count() == 1
    page.locator("#promise-panel").screenshot(path="/tmp/promises-e2e-block.png")

    # and saves without asking: refused, with what she typed still there
    page.click("#promise-form button[type=submit]")
    page.wait_for_selector("#promise-panel .alert-error")
    assert "Blocked by policy" in page.locator("#promise-panel .alert-error").inner_text()
    assert page.locator("#promise-form input[name=terms]").input_value() == (
        "adults=4, extra_beds=2, room_type=deluxe"
    )
    assert not Promise.objects.exists()

    # Then she asks a lead to approve the exception: recorded, but not a promise yet
    page.check("#promise-form input[name=override]")
    page.click("#promise-form button[type=submit]")
    page.wait_for_selector(".alert-success")
    assert "awaiting approval by a lead" in page.locator(".alert-success").inner_text()
    promise = Promise.objects.get()
    assert promise.state == "awaiting" and promise.loop is None
    assert promise.terms == {"adults": 4, "extra_beds": 2, "room_type": "deluxe"}
    card = page.locator(f"#promise-{promise.pk}")
    assert "Awaiting approval by a lead" in card.inner_text()
    assert card.locator("button", has_text="Approve exception").count() == 0
    page.screenshot(path="/tmp/promises-e2e-awaiting.png", full_page=True)

    # When Anil, her lead, opens his inbox: the approval is there
    page.context.clear_cookies()
    log_in(page, live_server, "anil")
    page.goto(f"{live_server.url}/")
    assert "Approve an exception (occupancy-deluxe v1)" in page.locator("main").inner_text()
    # and on the case page he approves it
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    card = page.locator(f"#promise-{promise.pk}")
    card.locator(".exception-approve input[name=reason]").fill(
        "Anniversary stay; the room takes the beds"
    )
    card.locator("button", has_text="Approve exception").click()
    page.wait_for_selector(".alert-success")
    assert "Exception approved" in page.locator(".alert-success").inner_text()
    promise.refresh_from_db()
    assert promise.state == "open" and promise.approval_by.username == "anil"
    assert promise.approval_loop.state == "closed" and promise.loop.state == "open"
    card = page.locator(f"#promise-{promise.pk}")
    assert "Hannah Moore" in card.inner_text()
    assert "exception asked by Hannah Moore, approved by Anil Kapoor" in card.inner_text()
    page.screenshot(path="/tmp/promises-e2e-case.png", full_page=True)

    # When reception opens the guest
    page.context.clear_cookies()
    log_in(page, live_server, "tomas")
    page.goto(f"{live_server.url}/customers/{guest.pk}/")
    # Then the promise is at the top, with who made it, on which channel, and when
    card = page.locator(f"#promise-{promise.pk}")
    text = card.inner_text()
    assert "Promised by Hannah Moore (Membership) on Phone" in text
    assert re.search(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2}", text)
    assert card.locator("button", has_text="Kept").count() == 1
    page.screenshot(path="/tmp/promises-e2e-customer.png", full_page=True)
    # and keeps it at check-in
    card.locator("button", has_text="Kept").click()
    page.wait_for_selector(".alert-success")
    promise.refresh_from_db()
    assert promise.state == "kept" and promise.outcome_by.username == "tomas"

    # When reception emails the guest a link to her portal from the customer page
    page.locator(".portal-link-form button").click()
    page.wait_for_selector(".portal-link-form [role=status]")
    assert "Link sent to priya@example.com" in page.locator(".portal-link-form").inner_text()
    mail = OutboxMessage.objects.get(recipient="priya@example.com")
    path = re.search(r"/portal/start/[^\s]+/", mail.body).group(0)

    # Then the guest, in her own browser, opens it and sees the promise made to her
    guest_page = page.context.browser.new_context(viewport={"width": 800, "height": 900}).new_page()
    guest_page.goto(f"{live_server.url}{path}")
    guest_page.click("button[type=submit]")
    guest_page.wait_for_url(f"{live_server.url}/portal/")
    promised = guest_page.locator("section.promise", has_text="Two extra beds")
    text = promised.inner_text()
    assert "Promised by Hannah Moore (Membership) by phone" in text
    assert "Hotel reception is responsible" in text and "Kept" in text
    guest_page.screenshot(path="/tmp/promises-e2e-portal.png", full_page=True)
    guest_page.context.close()
