"""The case list and the case page's edit panel in headless Chromium, at 375 and 1366 px."""

from __future__ import annotations

import pytest

from lastmile.cases.models import Case, CaseEvent, SavedView
from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.people.services import agent_create, team_ensure
from tests.console import test_browser
from tests.console.test_browser import PASSWORD, log_in

# Chromium, started once per module, and fast password checks: test_browser's fixtures.
browser = test_browser.browser
fast_password_hashing = test_browser.fast_password_hashing

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(db):  # type: ignore[no-untyped-def]
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(
        username="ana", password=PASSWORD, teams=[team], first_name="Ana", last_name="Silva"
    )
    agent_create(username="ben", password=PASSWORD, teams=[team], first_name="Ben", last_name="Ode")
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    return [
        case_create(
            customer=customer, subject=f"Card problem {i}", team=team, channel="chat", now=now
        )
        for i in range(3)
    ]


def _no_sideways_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport + 1, f"page is {width}px wide in a {viewport}px window"


@pytest.mark.parametrize("width", [375, 1366])
def test_the_case_list_bulk_assigns_and_the_case_page_edits(live_server, browser, desk, width):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        log_in(page, live_server, "ana")
        # the list: three cases in my teams, counts in the sidebar
        page.goto(f"{live_server.url}/cases/")
        assert page.locator("#case-rows tr.case-row").count() == 3
        assert page.locator(".view-list a[aria-current=page]").inner_text().split() == [
            "My",
            "teams",
            "3",
        ]
        _no_sideways_scroll(page)
        # select two rows, assign them to Ben in one action
        page.locator(".bulk-check").nth(0).check()
        page.locator(".bulk-check").nth(1).check()
        assert page.locator("[data-bulk-count]").inner_text() == "2 selected"
        page.select_option("[data-bulk-action]", "assign")
        assert page.locator("[data-bulk-for='close']").is_hidden()
        page.select_option("select[name=assignee]", "ben")
        page.click("#bulk-form button[type=submit]")
        page.wait_for_selector("text=2 cases assigned to Ben Ode.")
        assert Case.objects.filter(assignee__username="ben").count() == 2
        # filter in place: unassigned in my teams
        # (htmx pushes the address before it swaps the rows: wait for the rows themselves)
        page.click(".view-list a:has-text('Unassigned in my teams')")
        expect(page.locator("#case-rows tr.case-row")).to_have_count(1)
        # change the sort in place, then save the view: it keeps the filters now shown
        with page.expect_response(lambda r: "sort=created" in r.url):
            page.select_option(".cases-filters select[name=sort]", "created")
        page.wait_for_url("**sort=created**")
        page.click("summary:has-text('Save this view')")
        page.fill("[data-save-view] input[name=name]", "Newest unassigned")
        page.click("[data-save-view] button[type=submit]")
        page.wait_for_selector(".view-list a:has-text('Newest unassigned')")
        assert SavedView.objects.get().query == "scope=unassigned&sort=created"
        # the case page: take it, set a tag, see the history
        ref = desk[2].ref
        page.goto(f"{live_server.url}/cases/{ref}/")
        _no_sideways_scroll(page)
        page.click("button:has-text('Take it')")
        page.wait_for_selector("text=You have the case.")
        page.click("summary:has-text('Edit case')")
        page.fill("#id_tags", "vip, billing")
        page.click("button:has-text('Save tags')")
        page.wait_for_selector("text=Tags: billing, vip.")
        _no_sideways_scroll(page)
        page.click("summary:has-text('History')")
        assert page.locator(".history li", has_text="+vip").is_visible()
        assert CaseEvent.objects.filter(case=desk[2], kind="tags", actor__username="ana").exists()
        assert not errors, errors
    finally:
        context.close()
