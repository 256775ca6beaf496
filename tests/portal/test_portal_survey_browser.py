"""A pending survey in the portal, in headless Chromium at 375 px with JavaScript off: the
customer signs in with her link, sees the question on her home page, answers it on a scale
that fits the screen, and it leaves her home page."""

from __future__ import annotations

import pytest

from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.feedback.models import Response
from lastmile.feedback.services import invite_create
from lastmile.portal.services import portal_link_issue
from tests.feedback.factories import SurveyFactory
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.browser


def test_a_customer_answers_her_pending_survey_in_the_portal_on_a_phone(live_server, chromium):
    # Given Margaret, asked an NPS question in her portal
    now = utcnow()
    margaret = customer_resolve(
        identities=[identity_normalize("email", "margaret@example.com")],
        display_name="Margaret Ellis",
        now=now,
    ).customer
    survey = SurveyFactory(
        name="Relationship",
        team=TeamFactory(slug="front"),
        channel="portal",
        wording={"en": {"question": "How likely are you to recommend Acme?"}},
    )
    invite, _ = invite_create(survey=survey, customer=margaret, channel="portal", now=now)
    issued = portal_link_issue(customer=margaret, now=now, send=False)
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, java_script_enabled=False, timezone_id="UTC"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # When she opens her link on a 375 px screen and signs in
        page.goto(f"{live_server.url}{issued.path}")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/portal/")

        # Then her home page asks her the question, with nothing overflowing sideways
        assert "How likely are you to recommend Acme?" in page.inner_text("main")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path="/tmp/portal-survey-home-375.png", full_page=True)
        page.click(f"a[href='/portal/surveys/{invite.pk}/']")

        # And every score is a target of at least 44 px inside the screen
        page.wait_for_selector("form.survey")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        boxes = [page.locator(f"label:has(input[value='{s}'])").bounding_box() for s in range(11)]
        assert all(b and b["width"] >= 44 and b["height"] >= 44 for b in boxes)
        assert all(b and b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)

        # When she taps 9, says why and sends (a plain form post)
        page.locator("label:has(input[value='9'])").click()
        page.fill("#comment", "The engineer came on time")
        page.screenshot(path="/tmp/portal-survey-form-375.png", full_page=True)
        page.click("form.survey button[type=submit]")

        # Then she is thanked with her score, and on her home page the question no longer
        # waits for her: it is among her answers, which she may change for 24 hours
        page.wait_for_selector("#thanks")
        assert page.inner_text("#score") == "9"
        page.goto(f"{live_server.url}/portal/")
        main = page.inner_text("main")
        assert "A question for you" not in main
        assert page.is_visible(f"#answer-{invite.pk}")
        assert "you answered 9" in page.inner_text(f"#answer-{invite.pk}")
    finally:
        context.close()
    response = Response.objects.get()
    assert (response.invite_id, response.score, response.source) == (invite.pk, 9, "portal")
    assert response.comment == "The engineer came on time"
