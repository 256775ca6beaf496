"""The survey link in headless Chromium at 375 px, with JavaScript off: the scale fits the
screen, each score is a large target, and the plain form records the answer."""

from __future__ import annotations

import pytest

from lastmile.core.clock import utcnow
from lastmile.feedback.models import Response
from lastmile.feedback.services import invite_create
from tests.feedback.factories import SurveyFactory, reachable_customer
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.browser


def test_a_customer_answers_on_a_phone_without_javascript(live_server, chromium):
    # Given an NPS invite by link
    survey = SurveyFactory(name="After a case", team=TeamFactory(slug="front"))
    _, token = invite_create(
        survey=survey, customer=reachable_customer(), channel="link", now=utcnow()
    )
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, java_script_enabled=False, timezone_id="UTC"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # When the customer opens the link on a 375 px screen
        page.goto(f"{live_server.url}/feedback/r/{token}/")

        # Then nothing overflows sideways and every score is at least 44 px square
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        boxes = [page.locator(f"label:has(input[value='{s}'])").bounding_box() for s in range(11)]
        assert all(b and b["width"] >= 44 and b["height"] >= 44 for b in boxes)
        assert all(b and b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)

        # When they tap 4, write why and send (a plain form post: JavaScript is off)
        page.locator("label:has(input[value='4'])").click()
        page.fill("#comment", "Waited a week")
        page.screenshot(path="/tmp/feedback-form-375.png", full_page=True)
        page.click("button[type=submit]")

        # Then the thanks page shows their score, and the answer is stored
        page.wait_for_selector("#score")
        assert page.inner_text("#score") == "4"
        page.screenshot(path="/tmp/feedback-response-375.png", full_page=True)
    finally:
        context.close()
    response = Response.objects.get()
    assert (response.score, response.comment, response.detractor) == (4, "Waited a week", True)
