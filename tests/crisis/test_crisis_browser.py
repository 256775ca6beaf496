"""The crisis room end to end in headless Chromium: the chart draws, the unanswered list is
there, the lead acknowledges the alert without leaving the page, and an agent replies to
the top unanswered mention even though nobody addressed it to the brand.

Debian's chromium at /usr/bin/chromium, driven by Playwright's sync API (no downloaded
browser). Missing chromium skips, unless LASTMILE_REQUIRE_BROWSER=1 (CI), which fails.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.core.clock import utcnow
from lastmile.crisis.detectors import bucket_floor
from lastmile.crisis.models import Alert, SavedResponse
from lastmile.customers.models import Customer
from lastmile.listening.models import Author
from lastmile.loops.models import Loop
from lastmile.people.models import Role
from lastmile.people.services import agent_create, team_ensure, team_set_lead
from tests.console.test_browser import PASSWORD, browser, fast_password_hashing, page  # noqa: F401
from tests.crisis.mentions import (
    addressed_mention,
    alert_for,
    authors_make,
    mentions_make,
    social_policy,
    spike,
    term_make,
)

pytestmark = pytest.mark.browser


def test_the_lead_opens_the_crisis_room_sees_the_chart_and_acknowledges(live_server, page):  # noqa: F811
    # Given a social-care team, its lead, and an alert raised on a card outage 20 minutes ago
    now = utcnow()
    team = team_ensure(name="Social care", slug="social")
    lead = agent_create(
        username="lena", password=PASSWORD, teams=[team], role=Role.LEAD, first_name="Lena"
    ).user
    team_set_lead(team=team, lead=lead)
    social_policy()
    term = term_make(team=team, now=now)
    spike_at = bucket_floor(now) - timedelta(minutes=20)
    spike(term, authors_make(8, now=now), start=spike_at, buckets=2, per_bucket=12, now=now)
    loud = addressed_mention(
        term, handle="loudvoice", influence=90.0, posted_at=now - timedelta(minutes=10), now=now
    )
    addressed_mention(
        term, handle="quietvoice", influence=5.0, posted_at=now - timedelta(minutes=8), now=now
    )
    alert = alert_for(term, now=now, bucket_start=spike_at)

    # When the lead logs in and opens the crisis room from the alerts list
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("nav.mainnav >> text=Alerts")
    page.wait_for_url(f"{live_server.url}/alerts/")
    page.click(f"a[href='/alerts/{alert.pk}/']")
    page.wait_for_url(f"{live_server.url}/alerts/{alert.pk}/")

    # Then Chart.js has drawn the chart, with the alert's bucket marked
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('alert-chart'))"
    )
    drawn = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('alert-chart'));
            const canvas = chart.canvas;
            return {
                datasets: chart.data.datasets.map(d => d.label),
                alertIndex: chart.options.plugins.alertBand.index,
                width: canvas.width,
                height: canvas.height,
            };
        }"""
    )
    assert drawn["datasets"] == ["Mentions", "Negative", "Negative share %"]
    assert drawn["alertIndex"] is not None
    assert drawn["width"] > 300 and drawn["height"] > 100
    # and the unanswered list puts the most influential author first
    rows = page.locator("#bulk tbody tr.mention-row")
    assert rows.count() >= 2
    assert "@loudvoice" in rows.first.inner_text()
    assert page.locator(f"#mention-{loud.pk} .countdown").count() == 1

    # When the lead acknowledges the alert
    page.evaluate("window.stillTheSamePage = true")
    page.click("#acknowledge")

    # Then the room says so, in place, and the acknowledgement loop is closed
    page.locator(".alert-success").wait_for()
    assert "Alert acknowledged" in page.locator(".alert-success").inner_text()
    assert page.locator(".alert-head .alert-state").inner_text() == "Acknowledged"
    assert page.locator("#acknowledge").count() == 0
    assert page.evaluate("window.stillTheSamePage") is True
    # the chart is drawn again after the swap
    page.wait_for_function(
        "() => Chart.getChart(document.getElementById('alert-chart')) !== undefined"
    )
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledged_by == lead
    assert Loop.objects.get(pk=alert.ack_loop_id).state == "closed"
    assert Alert.objects.count() == 1
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path="/tmp/crisis-room-e2e.png")


def test_an_agent_replies_to_the_top_unanswered_mention_which_was_on_no_case(live_server, page):  # noqa: F811
    # Given an alert whose most influential unanswered mention was not addressed to the brand:
    # its author is no customer and it is on no case
    now = utcnow()
    team = team_ensure(name="Social care", slug="social")
    agent_create(username="sam", password=PASSWORD, teams=[team], first_name="Sam")
    social_policy()
    term = term_make(team=team, now=now)
    spike_at = bucket_floor(now) - timedelta(minutes=20)
    spike(term, authors_make(8, now=now), start=spike_at, buckets=2, per_bucket=12, now=now)
    (star,) = authors_make(1, now=now, prefix="bignews")
    Author.objects.filter(pk=star.pk).update(influence=99.0, followers=250_000)
    (top,) = mentions_make(
        term,
        [
            {
                "posted_at": now - timedelta(minutes=5),
                "author": star,
                "sentiment": "negative",
                "text": "Lastmile Bank cards down for everyone?",
            }
        ],
        now=now,
    )
    addressed_mention(
        term, handle="loudvoice", influence=90.0, posted_at=now - timedelta(minutes=10), now=now
    )
    alert = alert_for(term, now=now, bucket_start=spike_at)
    SavedResponse.objects.create(
        title="Outage — we know",
        body="Hi {handle}, we know and we are on it.",
        team=team,
        created_at=now,
    )
    customers = Customer.objects.count()

    # When the agent opens the room, picks the saved response and presses the top row's Reply
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/alerts/{alert.pk}/")
    first = page.locator("#bulk tbody tr.mention-row").first
    assert "@bignews0" in first.inner_text()
    assert "not on a case yet" in first.inner_text()
    page.select_option("#id_response", label="Outage — we know")
    page.evaluate("window.stillTheSamePage = true")
    first.locator("button[name=reply_to]").click()

    # Then the room says so in place, and the mention has left the unanswered list
    page.locator(".alert-success").wait_for()
    assert "Replied to 1 mention" in page.locator(".alert-success").inner_text()
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.locator(f"#mention-{top.pk}").count() == 0
    # and the author is a customer with one case holding their post and the reply
    top.refresh_from_db()
    assert Customer.objects.count() == customers + 1
    case = Case.objects.get(customer=top.customer)
    assert top.case == case and top.replied_at is not None
    bodies = list(case.interactions.order_by("occurred_at").values_list("direction", "body"))
    assert bodies == [
        ("inbound", "Lastmile Bank cards down for everyone?"),
        ("outbound", "Hi @bignews0, we know and we are on it."),
    ]
    # which the customer's page shows
    page.goto(f"{live_server.url}/customers/{case.customer_id}/")
    page.get_by_text("Hi @bignews0, we know and we are on it.").first.wait_for()
