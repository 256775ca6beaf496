"""QA in headless Chromium: an agent follows their QA score to the reviews it is the mean
of; a lead samples, reviews and sees the review listed on a phone. Under the site's
Content-Security-Policy and without a console error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.people.services import agent_create, team_set_lead
from lastmile.scorecards.models import QaCategory, QaReview, QaScorecard
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


def test_a_lead_samples_reviews_and_sees_the_review_listed_on_a_phone(
    live_server,
    page,  # noqa: F811
    team,
):
    # given Ana's solved conversation, her lead Leo and every team's scorecard
    ana = agent_create(username="ana", password=PASSWORD, teams=[team]).user
    leo = agent_create(username="leo", password=PASSWORD, teams=[team], role="lead").user
    team_set_lead(team=team, lead=leo)
    card = QaScorecard.objects.create(name="Service")
    tone = QaCategory.objects.create(scorecard=card, name="Tone", min_score=1, max_score=5)
    accuracy = QaCategory.objects.create(
        scorecard=card, name="Accuracy", weight=3, min_score=0, max_score=10, critical=True
    )
    at = utcnow() - timedelta(hours=1)
    case = conversation(
        CustomerFactory(),
        team,
        ana,
        at=at,
        parts=[("in", "Where is my parcel?"), ("out", "It left today; tracking follows.")],
    )
    problems = watch(page)
    page.set_viewport_size({"width": 375, "height": 800})

    # when Leo samples the month's solved cases and opens Ana's for review
    log_in(page, live_server, "leo")
    page.goto(f"{live_server.url}/scorecards/qa/")
    page.fill("#id_sample_period", f"{case.solved_at:%Y-%m}")
    page.select_option("#id_sample_team", team.slug)
    page.locator("#qa-sample-form button[type=submit]").click()
    item = page.locator(f"#qa-sample-case-{case.ref}")
    assert page.locator("#qa-sample-ana li").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    item.locator("a.qa-review-link").click()
    page.wait_for_url(f"{live_server.url}/scorecards/qa/review/**")
    assert "Where is my parcel?" in page.locator("#qa-conversation").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # a score out of its range is refused next to its category, then corrected
    page.fill(f"#id_score_{tone.pk}", "4")
    page.fill(f"#id_score_{accuracy.pk}", "12")
    page.fill("#id_comment", "Clear, but check the address first.")
    page.click("#qa-review-submit")
    assert (
        "'Accuracy' is scored from 0 to 10"
        in page.locator(f"#error_score_{accuracy.pk}").inner_text()
    )
    assert not QaReview.objects.exists()
    # the refusal is the form's own 422 (and Chromium's console line about it), nothing else
    refused = f"{live_server.url}/scorecards/qa/review/"
    said = [p for p in problems if "422" in p]
    assert f"422 for {refused}" in said and all(
        p.endswith(f"{refused})") or p == f"422 for {refused}" for p in said
    )
    problems[:] = [p for p in problems if "422" not in p]
    page.fill(f"#id_score_{accuracy.pk}", "8")
    page.click("#qa-review-submit")

    # then the review is listed, scored as the API would score it
    page.wait_for_url(f"{live_server.url}/scorecards/qa/?**")
    review = QaReview.objects.get()
    # back on the sample, to review the next case
    assert page.locator(f"#qa-sample-case-{case.ref}").is_visible()
    row = page.locator(f"#qa-review-{review.pk}")
    assert "78.75" in row.inner_text() and "leo" in row.inner_text()
    assert "Clear, but check the address first." in row.inner_text()
    assert page.locator("#qa-saved").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
