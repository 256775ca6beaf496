"""Journeys and the knowledge base in a real headless Chromium against a real HTTP server."""

from __future__ import annotations

import re

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.journeys.models import Journey
from lastmile.journeys.services import template_save
from lastmile.knowledge.services import article_create
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, browser, fast_password_hashing, log_in, page  # noqa: F401

pytestmark = pytest.mark.browser


def test_an_agent_starts_a_journey_hands_off_and_reads_a_suggested_article(live_server, page):  # noqa: F811
    # Given a front office agent, a back office, a two-step template and a case
    now = utcnow()
    front = team_ensure(name="Front office", slug="front")
    back = team_ensure(name="Back office", slug="back")
    agent_create(username="sam", password=PASSWORD, teams=[front], first_name="Sam")
    agent_create(username="olu", password=PASSWORD, teams=[back], first_name="Olu")
    template_save(
        definition={
            "name": "Address change",
            "steps": [
                {"key": "check", "title": "Check the proof of address", "team": "front"},
                {
                    "key": "update",
                    "title": "Update the address",
                    "team": "back",
                    "depends_on": ["check"],
                },
            ],
        },
        now=now,
    )
    customer = customer_resolve(
        identities=[identity_normalize("email", "nia@example.com")], display_name="Nia", now=now
    ).customer
    case = case_create(
        customer=customer, subject="Moving house", team=front, channel="email", now=now
    )
    interaction_record(
        customer=customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="I have moved house, please change my address.",
    )
    article_create(
        title="Changing a customer's address",
        body_md="Ask for a **proof of address** dated in the last 3 months.",
        team=front,
        now=now,
    )

    # When Sam opens the case: the knowledge base suggests the article
    log_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    assert "Changing a customer's address" in page.locator("#suggested-articles").inner_text()
    page.evaluate("window.stillTheSamePage = true")

    # and starts the journey from the panel (htmx: no page load)
    page.select_option("#journey-template", "address-change")
    page.click("#journeys .journey-start button[type=submit]")
    page.wait_for_selector("#journeys .journey-step[data-step-state=open]")
    assert page.evaluate("window.stillTheSamePage") is True
    journey = Journey.objects.get()

    # Then completing without a note is stopped by the browser (the note is the hand-off)
    step = f"#journey-{journey.pk}-step-check"
    page.click(f"{step} button[type=submit]")
    assert page.eval_on_selector(f"{step} input[name=note]", "el => el.validity.valueMissing")
    assert journey.steps.get(key="check").state == "open"

    # When Sam completes it with a note
    page.fill(f"{step} input[name=note]", "Council tax bill from the new council, dated October")
    page.click(f"{step} button[type=submit]")
    page.wait_for_selector(f"#journey-{journey.pk}-step-update[data-step-state=open]")

    # Then the back office's step is open with the hand-off note, and it is not Sam's to do
    update = page.locator(f"#journey-{journey.pk}-step-update")
    assert "Council tax bill from the new council" in update.inner_text()
    assert update.locator("button").count() == 0
    assert re.search(r"1 of 2 steps done", page.locator("#journeys").inner_text())

    # And the knowledge base page finds the article by a stemmed word
    page.goto(f"{live_server.url}/kb/?q=addresses")
    assert (
        page.locator(".kb-results .kb-title").first.inner_text() == "Changing a customer's address"
    )
