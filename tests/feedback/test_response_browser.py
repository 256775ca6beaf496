"""The survey link in headless Chromium at 375 px, with JavaScript off: the scale fits the
screen (one row of 11 for NPS on a wide screen, 6 then 5 on a phone), each score is a large
target, and the plain form records the answer."""

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


def _scale_boxes(live_server, chromium, *, kind, width):  # type: ignore[no-untyped-def]
    """The score labels' and end words' boxes of a ``kind`` survey's link at ``width`` px,
    JavaScript off; a screenshot in /tmp/feedback-scale-<kind>-<width>.png."""
    survey = SurveyFactory(name=f"After a case ({kind})", kind=kind, team=TeamFactory())
    _, token = invite_create(
        survey=survey, customer=reachable_customer(), channel="link", now=utcnow()
    )
    low, high = survey.scale
    context = chromium.new_context(
        viewport={"width": width, "height": 800}, java_script_enabled=False, timezone_id="UTC"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/feedback/r/{token}/")
        page.screenshot(path=f"/tmp/feedback-scale-{kind}-{width}.png", full_page=True)
        boxes = [
            page.locator(f"label:has(input[value='{s}'])").bounding_box()
            for s in range(low, high + 1)
        ]
        has_ends = page.locator(".ends").count() > 0  # CSAT and CES have no end words
        ends = [
            page.locator(f".ends span:nth-child({i})").bounding_box() for i in (1, 2) if has_ends
        ]
        scroll = page.evaluate("document.documentElement.scrollWidth")
    finally:
        context.close()
    assert all(boxes) and all(ends)
    return boxes, ends, scroll


def test_the_nps_scale_is_one_row_on_a_wide_screen(live_server, chromium):
    boxes, ends, _ = _scale_boxes(live_server, chromium, kind="nps", width=1366)

    assert len(boxes) == 11
    assert len({round(b["y"]) for b in boxes}) == 1  # 0 to 10 share one top offset
    assert all(b["width"] >= 44 and b["height"] >= 44 for b in boxes)
    # the end words sit under the first and the last score
    assert abs(ends[0]["x"] - boxes[0]["x"]) <= 2
    assert abs((ends[1]["x"] + ends[1]["width"]) - (boxes[-1]["x"] + boxes[-1]["width"])) <= 2


def test_the_nps_scale_wraps_six_then_five_on_a_phone(live_server, chromium):
    boxes, ends, scroll = _scale_boxes(live_server, chromium, kind="nps", width=375)

    assert scroll <= 375
    tops = [round(b["y"]) for b in boxes]
    assert len(set(tops[:6])) == 1 and len(set(tops[6:])) == 1 and tops[6] > tops[0]
    assert all(b["width"] >= 44 and b["height"] >= 44 for b in boxes)
    # 0 over the low end's words, 10 flush right over the high end's
    assert abs(ends[0]["x"] - boxes[0]["x"]) <= 2
    right = boxes[-1]["x"] + boxes[-1]["width"]
    assert abs(right - (boxes[5]["x"] + boxes[5]["width"])) <= 2
    assert abs((ends[1]["x"] + ends[1]["width"]) - right) <= 2


@pytest.mark.parametrize(
    ("kind", "width", "rows"), [("csat", 375, 1), ("ces", 1366, 1), ("ces", 375, 2)]
)
def test_csat_and_ces_scales_fit(live_server, chromium, kind, width, rows):
    boxes, _, scroll = _scale_boxes(live_server, chromium, kind=kind, width=width)

    assert scroll <= width
    assert len({round(b["y"]) for b in boxes}) == rows
    assert all(b["width"] >= 44 and b["height"] >= 44 for b in boxes)
    assert all(b["x"] + b["width"] <= width for b in boxes)
