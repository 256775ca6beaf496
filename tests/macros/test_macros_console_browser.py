"""In headless Chromium: an agent with no macros follows the composer's link to My macros,
is told plainly what is wrong with a first try, saves a personal macro, and finds it in
the case's macro picker, filled for the case.

Uses the console's Chromium fixture (tests/console/test_browser.py) and the signed-in page
of tests/live/test_live_browser.py."""

from __future__ import annotations

import pytest

from lastmile.core.clock import utcnow
from lastmile.macros.models import Macro
from lastmile.people.services import agent_create, team_ensure
from tests.cases.factories import customer_case
from tests.console.test_browser import PASSWORD, browser  # noqa: F401 (fixtures)
from tests.live.test_live_browser import agent_page

pytestmark = pytest.mark.browser


def test_an_agent_writes_a_first_macro_from_the_composer_and_uses_it(
    live_server,
    browser,  # noqa: F811
):  # type: ignore[no-untyped-def]
    # Given Ana, an agent with no macros, and a customer's case
    now = utcnow()
    team = team_ensure(name="Front office")
    ana = agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana").user
    case = customer_case(
        team=team,
        name="Maya Fernandes",
        email="maya@example.com",
        subject="Card not linked",
        channel="email",
        now=now,
    )
    page = agent_page(browser, live_server, "ana", width=375)
    page.goto(f"{live_server.url}/cases/{case.ref}/")

    # When she follows the composer's link to write her first macro
    page.click("#reply-form a.macro-manage")
    page.wait_for_url(f"{live_server.url}/macros/")
    assert "No macros yet" in page.locator("#macro-empty").inner_text()
    page.click("#macro-empty a")
    page.wait_for_url(f"{live_server.url}/macros/new")

    # and saves it with a placeholder that does not exist
    page.fill("#id_name", "Card linked")
    page.fill("#id_body", "Hi {{customer.email}}, your card {{case.ref}} is linked.")
    page.click("#macro-form button[type=submit]")

    # Then she is told once, on the text field, and what was typed is kept
    error = page.locator("#id_body_error")
    error.wait_for()
    assert "Unknown placeholder {{customer.email}}" in error.inner_text()
    assert page.locator(".field-error").count() == 1
    assert page.get_attribute("#id_body", "aria-invalid") == "true"
    assert not Macro.objects.exists()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/macros-form-375.png", full_page=True)

    # When she fixes it and saves, Then it is listed as personal
    page.fill("#id_body", "Hi {{customer.first_name}}, {{case.ref}}: your card is linked.")
    page.click("#macro-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/macros/")
    row = page.locator("#macro-list .macro-row", has_text="Card linked")
    assert "personal" in row.inner_text()
    assert Macro.objects.get().owner == ana
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/macros-list-375.png", full_page=True)

    # And back on the case, the picker offers it, filled for this case
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    page.select_option("#macro-choice", label="Card linked (mine)")
    assert page.input_value("#reply-form textarea[name=body]").startswith(
        f"Hi Maya, {case.ref}: your card is linked."
    )
