"""Practice in headless Chromium, on a laptop and on a phone: a new agent drafts against a
practice case and the policy warning and a suggested article appear as she types (the live
check, under the Content-Security-Policy), she submits; her lead scores the draft with the
QA scorecard; her path's progress shows on the scorecard page. Every page fits the width."""

from __future__ import annotations

import pytest

from lastmile.people.services import agent_create
from lastmile.training import services
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch

pytestmark = pytest.mark.browser


def _fits(tab, width):  # type: ignore[no-untyped-def]
    assert tab.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [1366, 375])
def test_an_agent_practises_with_the_live_check_and_the_lead_scores_it(
    live_server,
    page,  # noqa: F811
    browser,  # noqa: F811
    team,
    card,
    closed_case,
    refund_policy,
    late_article,
    now,
    width,
):
    # given a lead, a new agent, and a one-step onboarding path of a practice case
    lena = agent_create(username="lena", password=PASSWORD, teams=[team], role="lead").user
    agent_create(username="nina", password=PASSWORD, teams=[team], first_name="Nina")
    practice = services.practice_case_create(
        viewer=lena,
        case_ref=closed_case.ref,
        title="A late parcel",
        guidance="Apologise; refund within policy.",
        scorecard_id=card.pk,
        now=now,
    )
    services.path_arrange(viewer=lena, team=team, case_ids=[practice.pk], now=now)
    problems = watch(page)
    page.set_viewport_size({"width": width, "height": 900})

    # when Nina opens her path and the practice case
    log_in(page, live_server, "nina")
    page.goto(f"{live_server.url}/training/")
    assert page.locator("#my-progress").inner_text() == "0 of 1 done"
    _fits(page, width)
    page.locator("#my-path a", has_text="A late parcel").click()
    page.wait_for_url(f"{live_server.url}/training/cases/{practice.pk}/")
    assert "Margaret" not in page.locator(".training-thread").inner_text()
    assert page.locator("#verdicts-none").is_visible()

    # and types her reply and a promise whose terms break the refund policy
    page.fill("#id_reply", "Sorry about the late parcel: we will refund the delivery charge.")
    page.fill("#id_promise-0-text", "Refund the delivery charge")
    page.locator("#id_promise-0-terms").press_sequentially("refund_amount=45", delay=20)
    page.fill("#id_promise-0-due_at", "2026-12-30T17:00")

    # then the warning and a suggested article appear while she types, without a reload
    warning = page.locator('#practice-check .verdict[data-policy="delivery-refund"]')
    warning.wait_for()
    assert warning.get_attribute("data-result") == "fail"
    assert "Warning" in warning.inner_text()
    assert page.locator(f'#practice-suggestions li[data-slug="{late_article.slug}"]').is_visible()
    _fits(page, width)

    # and she submits it to her lead
    page.locator("#submit-button").click()
    page.wait_for_url(f"{live_server.url}/training/attempts/*/")
    assert page.locator("#attempt-state").get_attribute("data-state") == "submitted"
    _fits(page, width)

    # when Lena scores it from her list of attempts waiting
    lead_context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    lead_context.set_default_timeout(10_000)
    lead = lead_context.new_page()
    problems += watch(lead)
    log_in(lead, live_server, "lena")
    lead.goto(f"{live_server.url}/training/")
    _fits(lead, width)
    lead.locator("#waiting a", has_text="A late parcel").click()
    lead.wait_for_url(f"{live_server.url}/training/attempts/*/")
    _fits(lead, width)
    for category in card.categories.all():
        lead.select_option(f"#id_score-{category.pk}", str(category.max_score))
    lead.fill("#id_comment", "Well done: within policy next time.")
    lead.locator("#score-button").click()
    lead.locator("#attempt-score").wait_for()

    # then the attempt is scored by the QA formula and her progress is on the scorecard
    assert lead.locator("#attempt-state").get_attribute("data-state") == "scored"
    assert lead.locator("#attempt-score").inner_text() == "100.0"
    lead.goto(f"{live_server.url}/scorecards/")
    row = lead.locator("#training-nina")
    assert row.locator('[data-metric="path"]').inner_text() == "1 / 1"
    assert "100.0" in row.locator('[data-metric="practice_qa"]').inner_text()
    _fits(lead, width)
    problems += page.evaluate("window.__cspViolations") + lead.evaluate("window.__cspViolations")
    lead_context.close()
    assert problems == []
