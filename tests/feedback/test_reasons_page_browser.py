"""The reasons page in headless Chromium: a lead follows the inbox's link, reads the reasons
of their team with the detractor share, narrows the days, and opens an open recovery loop
from the page; at 375 px the table scrolls inside its card, not the page.

Chromium is tests/conftest.py's (started once for the session)."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest

from lastmile.core.clock import utcnow
from lastmile.feedback.services import invite_create, response_record
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, log_in
from tests.console.test_ux_browser import no_horizontal_scroll
from tests.feedback.factories import ReasonTagFactory, SurveyFactory, reachable_customer

pytestmark = pytest.mark.browser
SHOT = ""  # a path prefix to look at the page (a PNG per width); empty in the suite


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def contact_rules(transactional_db):
    """The seeded contact rules, seeded again: the live server's tests empty the tables."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


def scene():  # type: ignore[no-untyped-def]
    """Lena leads the front office; its survey got three late-delivery detractors and a
    promoter in the last days, and a rude-driver detractor a week ago."""
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(username="lena", password=PASSWORD, teams=[team], role="lead")
    ReasonTagFactory(name="Late delivery", keywords="late", position=1)
    ReasonTagFactory(name="Rude driver", keywords="rude", position=2)
    survey = SurveyFactory(team=team)
    answers = [
        (1, "late again", timedelta(hours=5)),
        (2, "came late", timedelta(hours=4)),
        (3, "late and wet", timedelta(hours=3)),
        (10, "great", timedelta(hours=2)),
        (0, "rude driver", timedelta(days=8)),
    ]
    responses = []
    for score, comment, ago in answers:
        at = now - ago
        invite = invite_create(
            survey=survey, customer=reachable_customer(), channel="link", now=at
        )[0]
        responses.append(response_record(invite=invite, score=score, comment=comment, now=at))
    return responses


@pytest.mark.parametrize("width", [1366, 375])
def test_a_lead_reads_the_reasons_and_opens_an_open_recovery_loop(live_server, browser, width):  # type: ignore[no-untyped-def]
    responses = scene()
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server, "lena")
        page.click("#inbox-reasons")
        page.wait_for_url(f"{live_server.url}/feedback/reasons/")
        late = page.locator('tr[data-reason="Late delivery"]')
        late.wait_for(state="visible")
        assert late.locator("[data-answers]").inner_text() == "3"
        assert "(100 %)" in late.locator("[data-detractors]").inner_text()
        assert late.locator("[data-open-loops]").get_attribute("data-open-loops") == "3"
        assert page.locator('tr[data-reason="Rude driver"]').count() == 1
        no_horizontal_scroll(page)
        if SHOT:
            page.screenshot(path=f"{SHOT}-{width}.png", full_page=True)

        # Narrowing the days to the last three leaves the week-old reason out
        today = utcnow().date()
        page.fill("#id_start", (today - timedelta(days=2)).isoformat())
        page.click("#reasons-form button[type=submit]")
        page.wait_for_url("**/feedback/reasons/?*")
        page.locator('tr[data-reason="Late delivery"]').wait_for(state="visible")
        assert page.locator('tr[data-reason="Rude driver"]').count() == 0

        # An open loop's link leads to where it is worked
        first = page.locator('tr[data-reason="Late delivery"] .loop-links a').first
        first.click()
        page.wait_for_load_state()
        customer_ids = {r.invite.customer_id for r in responses}
        assert any(f"/customers/{pk}/" in page.url for pk in customer_ids) or "/cases/" in page.url
        assert page.locator("h1, h2").first.is_visible()
    finally:
        context.close()
