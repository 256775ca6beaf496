"""The console's rough edges a demo walk found, checked in Chromium at 1366 and 375 px: the
reply's confirmation in view, the bell's list inside its panel, the Due column and the view
counts unclipped, the customer's title placeholder whole, and /favicon.ico answered."""

from __future__ import annotations

import re

import pytest

from lastmile.core.clock import utcnow
from lastmile.live.services import notify_assignment
from lastmile.loops.models import SlaPolicy
from lastmile.people.services import agent_create, team_ensure
from tests.cases.factories import customer_case
from tests.console.test_browser import PASSWORD, browser, log_in, page  # noqa: F401

pytestmark = pytest.mark.browser

BELL_FITS = """() => {
  const menu = document.querySelector('.live-menu').getBoundingClientRect();
  const bell = document.querySelector('summary.live-bell').getBoundingClientRect();
  const lines = [...document.querySelectorAll('.live-item a')].map(a => a.getBoundingClientRect());
  return {menu: [menu.left, menu.right, menu.top, menu.bottom], bellBottom: bell.bottom,
          widest: Math.max(...lines.map(r => r.right)), width: innerWidth, height: innerHeight,
          scroll: document.documentElement.scrollWidth};
}"""

PLACEHOLDER_FITS = """() => {
  const input = document.querySelector('.portal-title-form input[type=text]');
  const style = getComputedStyle(input);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = style.fontWeight + ' ' + style.fontSize + ' ' + style.fontFamily;
  const inner = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [ctx.measureText(input.placeholder).width, inner];
}"""


def test_the_console_s_small_things_fit_at_1366_and_375(live_server, page):  # noqa: F811
    now = utcnow()
    team = team_ensure(name="Front office")
    ana = agent_create(
        username="ana", password=PASSWORD, teams=[team], first_name="Ana", last_name="Silva"
    )
    sam = agent_create(username="sam", password=PASSWORD, teams=[team], first_name="Sam")
    SlaPolicy.objects.create(
        name="Chat — 30 min", channel="chat", first_reply_minutes=30, next_reply_minutes=30
    )
    case = customer_case(
        team=team,
        name="Oliver Thompson",
        email="oliver@example.com",
        subject="Unexpected overdraft charge on my account after the salary arrived late",
        channel="chat",
        now=now,
        wrote="Why was I charged an overdraft fee?",
    )
    for _ in range(3):
        notify_assignment(case=case, assignee=ana.user, actor=sam.user, now=now)

    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, "ana")

    # The Due column holds its countdowns whole.
    clipped = page.evaluate(
        "[...document.querySelectorAll('.loops .c-due .countdown')]"
        ".filter(e => e.getBoundingClientRect().right > e.closest('td').getBoundingClientRect().right)"
        ".length"
    )
    assert clipped == 0

    # The bell's lines wrap inside its panel.
    page.click("summary.live-bell")
    page.locator(".live-item a").first.wait_for()
    fit = page.evaluate(BELL_FITS)
    assert fit["widest"] <= fit["menu"][1] + 0.5, fit
    assert re.search(case.ref, page.locator(".live-item a").first.inner_text())
    page.keyboard.press("Escape")

    # /favicon.ico answers (no 404 in every page's console).
    icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"

    # The view counts on /cases/ stay one line tall when a view's name wraps.
    page.goto(f"{live_server.url}/cases/")
    heights = page.evaluate(
        "[...document.querySelectorAll('.view-list .n')].map(e => e.getBoundingClientRect().height)"
    )
    assert heights and max(heights) <= 24, heights

    # The case page shows the whole placeholder of the customer's title.
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    text, room = page.evaluate(PLACEHOLDER_FITS)
    assert text <= room, (text, room)

    # A reply sent at the composer: its confirmation is in view, not above it.
    page.locator("#reply-form textarea[name=body]").scroll_into_view_if_needed()
    page.fill("#reply-form textarea[name=body]", "Hi Oliver, the fee is refunded.")
    page.click("#reply-form button[type=submit]")
    done = page.locator("#page-body .alert[role=status]")
    done.wait_for()
    page.wait_for_function(
        "() => { const r = document.querySelector('#page-body .alert[role=status]')"
        ".getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    )
    assert "Logged a reply" in done.inner_text()

    # At 375 px the bell's panel fits the screen, below the bell, not over it.
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    page.click("summary.live-bell")
    page.locator(".live-item a").first.wait_for()
    fit = page.evaluate(BELL_FITS)
    left, right, top, bottom = fit["menu"]
    assert left >= 0 and right <= fit["width"] and fit["scroll"] <= fit["width"], fit
    assert top >= fit["bellBottom"] and bottom <= fit["height"], fit
    assert fit["widest"] <= right + 0.5, fit
