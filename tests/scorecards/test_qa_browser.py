"""The QA score in headless Chromium: an agent follows their QA score to the reviews it is
the mean of, under the site's Content-Security-Policy and without a console error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.people.services import agent_create
from lastmile.scorecards.services import qa_autoreview
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch
from tests.customers.factories import CustomerFactory
from tests.scorecards.qa_helpers import conversation

pytestmark = pytest.mark.browser


def test_an_agent_follows_their_qa_score_to_its_reviews(live_server, page, team):  # noqa: F811
    # given the automatic pass reviewed one of Ana's conversations (a reply, no next step)
    ana = agent_create(username="ana", password=PASSWORD, teams=[team]).user
    at = utcnow() - timedelta(hours=1)
    case = conversation(
        CustomerFactory(), team, ana, at=at, parts=[("in", "Late?"), ("out", "Sorry.")]
    )
    review = qa_autoreview(case=case, now=at)
    problems = watch(page)

    # when she opens her scorecard for the month the case was solved in
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/scorecards/?period={case.solved_at:%Y-%m}")

    # then her QA score is the review's, and it leads to that review and its reasons
    cell = page.locator("#agent-ana [data-metric=qa_score]")
    assert cell.inner_text() == str(review.score)
    cell.locator("a").click()
    page.wait_for_url(f"{live_server.url}/scorecards/qa/**")
    assert page.locator("#qa-count").inner_text().startswith("1 review")
    row = page.locator(f"#qa-review-{review.pk}")
    assert case.ref in row.inner_text()
    assert "the last reply names no next step" in row.inner_text()
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
