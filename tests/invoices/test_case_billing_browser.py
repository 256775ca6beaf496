"""The case page's billing panel in headless Chromium at a phone's width (375 px): its tables
scroll inside their own box (a region the keyboard reaches), the page itself does not scroll
sideways, and axe-core finds nothing serious in the panel.

Chromium is tests/conftest.py's, started once for the session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from lastmile.core.clock import utcnow
from lastmile.invoices.services import invoice_issue
from lastmile.people.services import agent_create, team_ensure
from tests.cases.factories import customer_case
from tests.console.test_a11y_browser import AXE
from tests.console.test_browser import PASSWORD, log_in
from tests.console.test_ux_browser import WIDEST
from tests.invoices.conftest import lines
from tests.invoices.test_case_billing import delivered

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_case_with_a_job_and_invoices_fits_a_375_px_screen(live_server, browser):  # type: ignore[no-untyped-def]
    # Given a field agent (not staff) and a case of their team with a completed delivery
    # and a second invoice
    now = utcnow()
    team = team_ensure(name="Field service")
    agent_create(username="field", password=PASSWORD, teams=[team], first_name="Fay")
    case = customer_case(
        team=team,
        name="Zoë Faure",
        email="zoe.faure.with.a.long.address@example.com",
        subject="Delivery of a washing machine",
        channel="email",
        now=now,
    )
    job = delivered(case, now)
    invoice_issue(
        source="repair:7",
        customer_id=case.customer_id,
        team_id=case.team_id,
        case_id=case.pk,
        currency="GBP",
        lines=lines((1, 1299)),
        actor=None,
        now=now + timedelta(days=2),
        send=False,
    )

    # When the agent opens the case on a 375 px wide phone
    context = browser.new_context(
        viewport={"width": 375, "height": 800}, timezone_id="UTC", bypass_csp=True
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        log_in(page, live_server, "field")
        page.goto(live_server.url + reverse("console:case", args=[case.ref]))
        page.locator(f"#case-job-{job.pk}").wait_for()

        # then the page does not scroll sideways: the panel's tables scroll in their box
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (width, page.evaluate(WIDEST))
        panel = page.locator("#case-billing").bounding_box()
        assert panel is not None and panel["x"] + panel["width"] <= 375, panel
        # and the job's Links column can be reached by scrolling its table
        link = page.locator(f"#case-job-{job.pk} a", has_text="tracking page")
        link.scroll_into_view_if_needed()
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        # and the "Links" header is for screen readers only
        header = page.locator("#case-billing th", has_text="Links").locator("span")
        assert header.evaluate("e => e.getBoundingClientRect().width") <= 1
        # and axe finds nothing serious in the panel (its scrolling tables reachable by keyboard)
        page.add_script_tag(path=str(AXE))
        found = page.evaluate(
            "axe.run('#case-billing', {resultTypes: ['violations']}).then(r => r.violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id))"
        )
        assert found == []
    finally:
        context.close()
