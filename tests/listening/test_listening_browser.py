"""The listening pages in a real headless Chromium: filters swap the rows in with htmx."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.listening.records import mention_in
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import SlaPolicy
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, browser, fast_password_hashing, log_in, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def listening_data(db):
    now = utcnow()
    team = team_ensure(name="Social care", slug="social")
    agent_create(username="jess", password=PASSWORD, teams=[team])
    SlaPolicy.objects.create(
        name="Social", position=10, kind="reply", channel="social", first_reply_minutes=60
    )
    watchterm_create(
        name="Acme", query="@AcmeBank", kind="brand", brand_handle="@AcmeBank", team=team, now=now
    )
    mentions_ingest(
        items=[
            mention_in(
                network="twitter",
                external_id="1",
                author_handle="angry_amy",
                text="@AcmeBank useless, awful, I hate this bank",
                posted_at=now - timedelta(hours=2),
            ),
            mention_in(
                network="twitter",
                external_id="2",
                author_handle="happy_hal",
                text="@AcmeBank thank you, brilliant help, love it!",
                posted_at=now - timedelta(hours=1),
            ),
        ],
        now=now,
    )


def test_the_sentiment_filter_swaps_the_rows_and_the_address(page, live_server, listening_data):  # noqa: F811
    log_in(page, live_server, "jess")
    page.goto(f"{live_server.url}/listening/")
    assert page.locator("#mention-rows tbody tr").count() == 2
    page.select_option("#f-sentiment", "negative")
    page.wait_for_function("() => document.querySelectorAll('#mention-rows tbody tr').length === 1")
    assert "angry_amy" in page.locator("#mention-rows").inner_text()
    assert "sentiment=negative" in page.url


def test_setting_aside_from_the_unattended_page(page, live_server, listening_data):  # noqa: F811
    log_in(page, live_server, "jess")
    page.goto(f"{live_server.url}/listening/unattended/")
    rows = page.locator("table.mentions tbody tr")
    assert rows.count() == 2 and "angry_amy" in rows.first.inner_text()  # oldest first
    rows.first.locator("input[name=reason]").fill("spoke on the phone")
    rows.first.locator("button[type=submit]").click()
    page.wait_for_selector(".alert-success")
    assert page.locator("table.mentions tbody tr").count() == 1
