"""A funnel's page in headless Chromium: the charts draw, under the site's
Content-Security-Policy, without a console error."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from lastmile.channels import segment
from lastmile.core.clock import utcnow
from lastmile.funnels.funnel_services import funnel_create
from lastmile.funnels.services import analytics_copy, analytics_engine
from lastmile.people.models import Role
from lastmile.people.services import agent_create
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    fast_password_hashing,
    log_in,
    page,
)
from tests.core.test_csp_browser import watch

pytestmark = pytest.mark.browser


def test_a_funnel_page_draws_its_charts_without_a_console_error(
    live_server,
    page,  # noqa: F811
    settings,
    tmp_path,
):
    # Given events sent to the Segment API over HTTP and copied for analytics
    settings.VAR_DIR = tmp_path
    now = utcnow()
    agent_create(username="ada", password=PASSWORD, role=Role.ADMIN)
    _, key = segment.source_create(name="shop", now=now)
    batch = []
    for n, (user, events) in enumerate(
        {
            "alice": ["Product Added", "Checkout Started", "Order Completed"],
            "bob": ["Product Added", "Checkout Started"],
            "carol": ["Product Added"],
        }.items()
    ):
        for i, event in enumerate(events):
            at = now - timedelta(days=n + 1) + timedelta(minutes=5 * i)
            batch.append(
                {
                    "type": "track",
                    "event": event,
                    "userId": user,
                    "messageId": f"{user}-{i}",
                    "timestamp": at.isoformat(),
                }
            )
    sent = page.request.post(
        f"{live_server.url}/v1/batch",
        data=json.dumps({"batch": batch}),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        },
    )
    assert sent.status == 200, sent.text()
    analytics_copy(engine=analytics_engine(), now=utcnow())
    funnel = funnel_create(
        name="Checkout",
        definition={
            "window_seconds": 3600,
            "steps": [
                {"event": "Product Added"},
                {"event": "Checkout Started"},
                {"event": "Order Completed"},
            ],
        },
        actor=None,
        now=now,
    )
    problems = watch(page)

    # When an admin opens the funnel's page
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/funnels/{funnel.pk}/")
    page.wait_for_load_state("networkidle")

    # Then both charts were drawn by Chart.js, with the funnel's counts
    page.wait_for_function(
        "() => typeof Chart !== 'undefined'"
        " && Chart.getChart(document.getElementById('funnel-chart'))"
        " && Chart.getChart(document.getElementById('funnel-trend'))"
    )
    counts = page.evaluate(
        "Chart.getChart(document.getElementById('funnel-chart')).data.datasets[0].data"
    )
    assert counts == [3, 2, 1]
    size = page.evaluate(
        "(() => { const c = document.getElementById('funnel-chart');"
        " return [c.width, c.height]; })()"
    )
    assert size[0] > 100 and size[1] > 100
    # and the drop-offs of step 2 (Carol) link to her customer page
    assert page.locator("#dropoff-list a.loop-title").count() == 1
    # and the breakdown's property field shows only for a property breakdown
    assert page.locator(".funnel-field-property").is_hidden()
    page.select_option("#id_breakdown", "property")
    assert page.locator(".funnel-field-property").is_visible()
    # and nothing was blocked or failed
    problems += page.evaluate("window.__cspViolations")
    assert problems == []
    page.screenshot(path="/tmp/funnel-page.png", full_page=True)
