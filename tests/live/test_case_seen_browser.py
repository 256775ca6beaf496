"""In headless Chromium: opening a case reads the agent's notifications about it, and the
bell counts only those left (live.js posts "seen" once the case page is shown); one that
arrives while the case is open is counted until the case is opened again.

Started as tests/live/test_live_browser.py starts its pages (the console's Chromium fixture,
Playwright's fake clock installed before the first page, so nothing waits on the wall clock)."""

from __future__ import annotations

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.live.models import Notification
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, browser  # noqa: F401 (fixtures)
from tests.live.test_live_browser import agent_page, tick_until

pytestmark = pytest.mark.browser


def test_opening_a_case_reads_its_notifications_and_the_bell_counts_the_rest(
    live_server,
    browser,  # noqa: F811
):  # type: ignore[no-untyped-def]
    # Given Ana with two unread notifications about one case and one about another
    now = utcnow()
    team = team_ensure(name="Front office")
    ana = agent_create(username="ana", password=PASSWORD, teams=[team], first_name="Ana").user
    customer = customer_resolve(
        identities=[identity_normalize("email", "maya@example.com")],
        display_name="Maya Fernandes",
        now=now,
    ).customer
    cases = [
        case_create(customer=customer, subject=s, team=team, channel="email", now=now)
        for s in ("Card not linked", "Statement missing")
    ]
    for case, kind in ((cases[0], "mention"), (cases[0], "assigned"), (cases[1], "mention")):
        Notification.objects.create(
            recipient=ana, kind=kind, case=case, text=f"about {case.ref}", created_at=now
        )
    page = agent_page(browser, live_server, "ana")
    page.locator("#live-unread", has_text="3").wait_for()

    # When she opens the first case
    page.goto(f"{live_server.url}/cases/{cases[0].ref}/")

    # Then the bell counts one, and only the other case's notification is unread
    page.locator("#live-unread", has_text="1").wait_for()
    left = Notification.objects.filter(recipient=ana, read_at__isnull=True)
    assert [n.case_id for n in left] == [cases[1].pk]

    # When a new notification about the open case arrives, Then the bell counts it: only
    # opening the case reads, not the page's later polls
    Notification.objects.create(
        recipient=ana, kind="mention", case=cases[0], text="news", created_at=utcnow()
    )
    tick_until(page, page.locator("#live-unread", has_text="2"))
    assert Notification.objects.filter(recipient=ana, read_at__isnull=True).count() == 2
