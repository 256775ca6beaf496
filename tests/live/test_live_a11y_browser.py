"""The live parts pass axe-core (as tests/console/test_a11y_browser.py runs it) at 375 and
1366 px: the notifications page, the bell's open list, and the presence line and mention
notes of a case page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.services import case_assign, case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.live.services import presence_beat
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_a11y_browser import axe_check
from tests.live.test_live_browser import PASSWORD, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [375, 1366])
def test_the_notifications_page_the_bell_and_presence_pass_axe(live_server, browser, width):  # type: ignore[no-untyped-def]  # noqa: F811
    # Given Ana with a mention and an assignment, and Ben typing on the case
    now = utcnow()
    team = team_ensure(name="Front office")
    ana = agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana").user
    ben = agent_create(username="ben", password=PASSWORD, teams=[team], first_name="Ben").user
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    case = case_create(customer=customer, subject="Lost card", team=team, channel="email", now=now)
    interaction_record(
        customer=customer,
        case=case,
        channel="note",
        direction="note",
        occurred_at=now,
        now=now,
        body="@ana and @nobody: the branch called back.",
        actor=ben,
    )
    case_assign(case=case, assignee=ana, actor=ben, now=now)
    # (a beat a minute ahead: he is still "typing" for the test's run, without a second page)
    presence_beat(user=ben, case=case, typing=True, now=now + timedelta(seconds=60))

    context = browser.new_context(
        viewport={"width": width, "height": 900}, timezone_id="UTC", bypass_csp=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    found = {}

    # When Ana reads her notifications
    page.goto(f"{live_server.url}/live/notifications/")
    assert page.locator("#notification-list .live-item").count() == 2
    found["notifications"] = axe_check(page)

    # and opens the bell's list on the case page, where Ben is typing
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    page.locator("#live-presence", has_text="Ben is").wait_for()
    # (opening the case reads both notifications, which are about it: the list keeps them)
    page.click("#live-notes summary")
    page.locator("#live-menu .live-item").first.wait_for()
    found["case"] = axe_check(page)

    # Then nothing serious
    assert found == {"notifications": [], "case": []}
    context.close()
