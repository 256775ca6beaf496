"""A lesson in headless Chromium, on a phone and on a laptop: the agent drafts the better
reply, the lead returns it with a note, the agent submits again, the lead accepts and the
coaching loop closes; under the site's CSP, without a console error, within the width."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.coaching.models import Lesson
from lastmile.core.clock import utcnow
from lastmile.loops.models import Loop
from lastmile.people.services import agent_create, team_set_lead
from tests.coaching.conftest import review
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch
from tests.scorecards.qa_helpers import conversation

pytestmark = pytest.mark.browser
PHONE, LAPTOP = 375, 1366


def _as(page, live_server, username):  # type: ignore[no-untyped-def]  # noqa: F811
    page.context.clear_cookies()
    log_in(page, live_server, username)


def _fits(page, width=PHONE):  # type: ignore[no-untyped-def]  # noqa: F811
    """Nothing wider than the screen, on a phone and (the viewport resized, the flow not run
    twice) on a laptop."""
    for w in (width, LAPTOP):
        page.set_viewport_size({"width": w, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= w, w
    page.set_viewport_size({"width": width, "height": 900})


def test_draft_return_resubmit_accept(live_server, page, team, card, priya):  # noqa: F811
    width = PHONE
    amy = agent_create(username="amy", password=PASSWORD, teams=[team]).user
    leo = agent_create(username="leo", password=PASSWORD, teams=[team], role="lead").user
    team_set_lead(team=team, lead=leo)
    now = utcnow() - timedelta(hours=3)
    case = conversation(
        priya,
        team,
        amy,
        at=now,
        parts=[
            ("in", "Priya Raman here, priya.raman@example.com: where is my card?"),
            ("out", "We are looking into it."),
        ],
    )
    review(leo, case, card, tone=2, accuracy=5, comment="No date, no next step.", now=now)
    lesson = Lesson.objects.get()
    problems = watch(page)
    page.set_viewport_size({"width": width, "height": 900})

    # the agent finds the lesson and drafts the better reply
    _as(page, live_server, "amy")
    page.goto(f"{live_server.url}/coaching/")
    page.click(f"#lesson-{lesson.pk} a.coaching-title")
    assert "No date, no next step." in page.inner_text("#what-went-wrong")
    conversation_text = page.inner_text("#conversation")
    assert "Priya" not in conversation_text and "[email]" in conversation_text
    _fits(page, width)
    page.fill("#draft", "Your card was posted today and arrives by Friday.")
    page.click("#submit-lesson")
    page.wait_for_selector("#lesson-state[data-state=submitted]")
    _fits(page, width)

    # the lead returns it with a note
    _as(page, live_server, "leo")
    page.goto(f"{live_server.url}/coaching/{lesson.pk}/")
    assert "arrives by Friday" in page.inner_text("#submission")
    page.fill("#note", "Say what happens if it does not come.")
    page.click("#return-lesson")
    page.wait_for_selector("#lesson-state[data-state=returned]")
    _fits(page, width)

    # the agent reads the note and submits again
    _as(page, live_server, "amy")
    page.goto(f"{live_server.url}/coaching/?state=returned")
    page.click(f"#lesson-{lesson.pk} a.coaching-title")
    assert "Say what happens" in page.inner_text("#lead-note")
    page.fill("#answer-1", "When her card would arrive.")
    page.fill("#answer-2", "Give the date and the fallback.")
    page.fill("#answer-3", "Card delivery article.")
    page.click("#submit-lesson")
    page.wait_for_selector("#lesson-state[data-state=submitted]")

    # the lead accepts and the coaching loop closes
    _as(page, live_server, "leo")
    page.goto(f"{live_server.url}/coaching/{lesson.pk}/")
    page.click("#accept-lesson")
    page.wait_for_selector("#lesson-state[data-state=accepted]")
    _fits(page, width)
    assert Loop.objects.get(pk=lesson.loop_id).state == "closed"
    assert [e.kind for e in Lesson.objects.get().events.all()] == [
        "opened",
        "submitted",
        "returned",
        "submitted",
        "accepted",
    ]
    assert problems == [] and amy.pk != leo.pk
