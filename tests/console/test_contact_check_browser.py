"""The console's warning before a contact, in headless Chromium: the "survey caller rang
three times" scene. Three unanswered calls today; the agent opening the case sees the next
call would break the callback rule, and the calls among the customer's recent contacts.

Chromium is started as in test_browser.py (its fixtures are reused here)."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.people.services import agent_create, team_ensure
from tests.console import test_browser
from tests.console.test_browser import PASSWORD, log_in
from tests.console.test_ux_browser import no_horizontal_scroll

browser = test_browser.browser
fast_password_hashing = test_browser.fast_password_hashing

pytestmark = pytest.mark.browser
SHOT = ""  # a path prefix to look at the page (a PNG per width); empty in the suite


@pytest.fixture(autouse=True)
def contact_rules(transactional_db):
    """The seeded rules, seeded again: the live server's tests empty the tables after each."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


def scene():  # type: ignore[no-untyped-def]
    """Ana of the front office; Tom's case; three calls to Tom in the last three hours, none
    answered. Ask once is checked before quiet hours, so the stop shows at any hour."""
    now = utcnow()
    team = team_ensure(name="Front office")
    ana = agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana").user
    customer = customer_resolve(
        identities=[identity_normalize("email", "tom@example.com")], display_name="Tom", now=now
    ).customer
    customer.timezone = "UTC"
    customer.save(update_fields=["timezone"])
    case = case_create(customer=customer, subject="Survey about my visit", team=team, now=now)
    for minutes in (180, 120, 60):
        at = now - timedelta(minutes=minutes)
        interaction_record(
            customer=customer,
            case=case,
            channel="phone",
            direction="outbound",
            occurred_at=at,
            now=at,
            body="Called about the survey: no answer",
            actor=ana,
            data={"delivery": "logged"},
        )
    return case


@pytest.mark.parametrize("width", [1366, 375])
def test_the_agent_sees_the_fourth_call_would_break_the_callback_rule(live_server, browser, width):  # type: ignore[no-untyped-def]
    case = scene()
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server, "ana")
        page.goto(f"{live_server.url}/cases/{case.ref}/")
        warning = page.locator('[data-contact-warning="call"]')
        warning.wait_for(state="visible")
        text = warning.inner_text()
        assert "Call now would break the contact rule “callback”" in text
        assert "3 callback messages got no answer" in text
        assert "Not again until they write or answer." in text
        # the calls are listed among the recent contacts, each once
        calls = page.locator('.recent-contacts [data-kind="call"]')
        assert calls.count() == 3
        assert "phone" in calls.first.inner_text()
        # and the box fits the page: nothing wider than the window
        box = warning.bounding_box()
        assert box is not None and box["width"] > 0
        no_horizontal_scroll(page)
        if SHOT:
            page.screenshot(path=f"{SHOT}-{width}.png", full_page=True)
    finally:
        context.close()
