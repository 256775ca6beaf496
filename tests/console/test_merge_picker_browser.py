"""Merging a duplicate customer from the console in headless Chromium, through the picker:
type part of a name, pick the customer to keep, read who goes into whom, merge, undo.

Chromium is started as in test_browser.py (its fixtures are reused here)."""

from __future__ import annotations

import re

import pytest

from lastmile.customers.models import CustomerMerge
from tests.console import test_browser
from tests.console.test_browser import log_in
from tests.console.test_ux_browser import no_horizontal_scroll, scene

browser = test_browser.browser
fast_password_hashing = test_browser.fast_password_hashing

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [375, 1366])
def test_an_agent_picks_the_customer_to_keep_merges_and_undoes(live_server, browser, width):  # type: ignore[no-untyped-def]
    # Given Ana on the page of Li, a duplicate of Maya
    _, cases = scene()
    dup, keep = cases[1].customer, cases[0].customer
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/customers/{dup.pk}/")
    page.locator("#merges summary").click()
    # When she types Maya's email (in any case)
    page.fill("#merge-find", "Maya@Example.com")
    pick = page.locator(f'[data-merge-pick="{keep.pk}"]')
    pick.wait_for()
    # Then Maya is offered (with her email), and Li, whose page this is, is not
    assert "maya@example.com" in pick.inner_text()
    assert page.locator(f'[data-merge-pick="{dup.pk}"]').count() == 0
    # When she picks Maya, the confirmation names who goes into whom; nothing merged yet
    pick.click()
    summary = page.locator(".merge-summary")
    summary.wait_for()
    assert re.sub(r"\s+", " ", summary.inner_text()) == (
        f"Li Wei Zhang-Abernathy (#{dup.pk}) will be merged into Maya Fernandes (#{keep.pk})."
    )
    assert pick.get_attribute("aria-pressed") == "true"
    assert not CustomerMerge.objects.exists()
    no_horizontal_scroll(page)
    # When she gives a reason and merges
    page.fill("#merge-reason", "same person")
    page.locator(".merge-confirm-form button[type=submit]").click()
    # Then she lands on Maya's page, which lists the merge with Undo
    page.wait_for_url(f"{live_server.url}/customers/{keep.pk}/")
    assert "merged into Maya Fernandes" in page.locator(".alert-success").inner_text()
    row = page.locator("#merges .merge-row").first
    row.wait_for()
    assert "Li Wei Zhang-Abernathy" in row.inner_text() and "same person" in row.inner_text()
    row.get_by_role("button", name=re.compile("Undo")).click()
    page.wait_for_url(f"{live_server.url}/customers/{dup.pk}/")
    assert "stands on its own again" in page.locator(".alert-success").inner_text()
    context.close()


def test_typing_a_new_query_clears_an_earlier_confirmation(live_server, browser):  # type: ignore[no-untyped-def]
    _, cases = scene()
    dup, keep = cases[1].customer, cases[0].customer
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/customers/{dup.pk}/")
    page.locator("#merges summary").click()
    page.fill("#merge-find", "Maya")
    page.locator(f'[data-merge-pick="{keep.pk}"]').click()
    page.locator(".merge-summary").wait_for()
    page.fill("#merge-find", "nobody at all")
    page.locator("#merge-found", has_text="No customer you can see matches").wait_for()
    assert page.locator(".merge-summary").count() == 0
    context.close()
