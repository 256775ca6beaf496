"""The crisis room end to end in headless Chromium: the chart draws, the unanswered list is
there, and the lead acknowledges the alert without leaving the page.

Debian's chromium at /usr/bin/chromium, driven by Playwright's sync API (no downloaded
browser). Missing chromium skips, unless LASTMILE_REQUIRE_BROWSER=1 (CI), which fails.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.crisis.detectors import bucket_floor
from lastmile.crisis.models import Alert
from lastmile.loops.models import Loop
from lastmile.people.models import Role
from lastmile.people.services import agent_create, team_ensure, team_set_lead
from tests.test_browser import PASSWORD, browser, fast_password_hashing, page  # noqa: F401
from tests.test_crisis_fixtures import (
    addressed_mention,
    alert_for,
    authors_make,
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
