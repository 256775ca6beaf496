"""The composer in headless Chromium at 375 and 1366 px: the counter follows the text and
never cuts it, a macro inserts its filled text, and the reply says what happened."""

from __future__ import annotations

import pytest

from lastmile.cases.models import Case
from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.macros.models import Macro
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import (  # noqa: F401 - the fixtures, shared
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture(params=[375, 1366], ids=["375px", "1366px"])
def page(browser, request):  # type: ignore[no-untyped-def]  # noqa: F811
    width = request.param
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.width = width
    yield tab
    context.close()


def test_the_composer_counts_inserts_a_macro_and_says_the_reply_was_posted(live_server, page):  # type: ignore[no-untyped-def]
    # Given a portal case (the portal delivers) and the team's "solved" macro
    now = utcnow()
    team = team_ensure(name="Front office")
    agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana")
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    case = case_create(customer=customer, subject="Card", team=team, channel="portal", now=now)
    interaction_record(
        customer=customer,
        case=case,
        channel="portal",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="Is my card on its way?",
    )
    macro = Macro.objects.create(
        name="On its way",
        body="Hi {{customer.first_name}}, {{case.ref}} is on its way. {{agent.first_name}}",
        team=team,
        set_status="solved",
        updated_at=now,
    )
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{case.ref}/")

    # The via list defaults to the portal, and the button says it sends
    assert page.locator("#reply-via").input_value() == "portal"
    assert page.locator("#reply-form button[type=submit]").inner_text() == "Send reply"

    # When the agent types, the counter follows
    body = page.locator("#reply-body")
    body.fill("Hello")
    counter = page.locator('[data-count-for="reply-body"]')
    assert counter.inner_text().startswith("5 / 10000")

    # When the text is over the limit, it is all kept and the counter says by how much
    body.fill("x" * 10_005)
    assert len(body.input_value()) == 10_005
    assert "5 over the limit" in counter.inner_text()

    # When the agent chooses "log a reply sent elsewhere", the button says so
    page.select_option("#reply-via", "log:phone")
    assert page.locator("#reply-form button[type=submit]").inner_text() == "Log reply (not sent)"
    page.select_option("#reply-via", "portal")

    # When a macro is chosen, its filled text is inserted and the counter follows
    body.fill("")
    page.select_option("[data-macro-choice]", str(macro.pk))
    expected = f"Hi Maya, {case.ref} is on its way. Ana"
    assert body.input_value() == expected
    assert counter.inner_text().startswith(f"{len(expected)} / 10000")

    # The composer fits the screen
    box = page.locator("#reply-form").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.width

    # When it is sent, the page says it was posted, and the macro solved the case
    page.click("#reply-form button[type=submit]")
    alert = page.locator(".alert-success")
    alert.wait_for()
    assert alert.inner_text() == "Posted on the portal: the customer reads it there."
    assert Case.objects.get(pk=case.pk).status == "solved"
