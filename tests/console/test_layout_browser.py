"""The top bar's layout in headless Chromium: one line at 1366 px (every nav link, the search
box, the bell, who is signed in), folded behind the Menu button at 375 px.

Chromium is started as in test_browser.py (its fixtures are reused here)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lastmile.people.services import agent_create, team_ensure
from tests.console import test_browser
from tests.console.test_browser import PASSWORD, log_in
from tests.console.test_ux_browser import no_horizontal_scroll, scene
from tests.settle import Quiet

browser = test_browser.browser
fast_password_hashing = test_browser.fast_password_hashing

pytestmark = pytest.mark.browser

# The bar's parts as laid out: the bar's height, each nav link's top and height, and each
# visible part's top and bottom (relative to the bar), with the bar's line height.
BAR = """(() => {
  const bar = document.querySelector(".topbar-inner");
  const box = bar.getBoundingClientRect();
  const shown = el => el.getClientRects().length > 0;
  const links = [...document.querySelectorAll("#mainnav a")].filter(shown).map(a => {
    const r = a.getBoundingClientRect();
    return {text: a.textContent.trim(), top: Math.round(r.top), height: Math.round(r.height)};
  });
  const parts = [...bar.children].filter(shown).map(el => {
    const r = el.getBoundingClientRect();
    return {part: el.className, top: Math.round(r.top - box.top), bottom: Math.round(r.bottom - box.top)};
  });
  const line = parseFloat(getComputedStyle(document.querySelector("#mainnav a")).lineHeight);
  return {height: Math.round(box.height), links, parts, line,
          overflow: bar.scrollWidth > bar.clientWidth};
})()"""

LINKS = [
    "Inbox",
    "Cases",
    "Mentions",
    "Alerts",
    "Promises",
    "Journeys",
    "Funnels",
    "Knowledge",
    "Scorecards",
    "API docs",
]


def pages(cases):  # type: ignore[no-untyped-def]
    return {
        "inbox": reverse("console:inbox"),
        "case": reverse("console:case", args=[cases[0].ref]),
        "cases": reverse("console:cases"),
    }


def sized(browser, width: int, height: int):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.quiet = Quiet(page)  # its requests counted, to wait for them (tests/settle.py)
    return context, page


def assert_one_line(page, label: str) -> None:  # type: ignore[no-untyped-def]
    bar = page.evaluate(BAR)
    texts = [link["text"] for link in bar["links"]]
    assert [t for t in texts if t != "Admin"] == LINKS, (label, texts)
    # Every nav link on the same line, each one line high
    assert len({link["top"] for link in bar["links"]}) == 1, (label, bar["links"])
    assert all(link["height"] < 2 * bar["line"] for link in bar["links"]), (label, bar["links"])
    # and every part of the bar inside its one 52 px row, nothing pushed out sideways
    assert bar["height"] == 52, (label, bar)
    assert all(p["top"] >= 0 and p["bottom"] <= 52 for p in bar["parts"]), (label, bar["parts"])
    assert not bar["overflow"], (label, bar)


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_the_top_bar_is_one_line_at_1366_px(live_server, browser, role):  # type: ignore[no-untyped-def]
    # Given Ana (an admin also has the Admin link) on a 1366 x 768 laptop
    _, cases = scene(role=role)
    context, page = sized(browser, 1366, 768)
    log_in(page, live_server, "ana")
    # Then on the inbox, a case and the case lists the top bar holds one line
    for label, url in pages(cases).items():
        page.goto(f"{live_server.url}{url}")
        page.quiet.wait()
        assert_one_line(page, label)
        assert page.locator("#top-search").is_visible()
        assert not page.locator("[data-nav-toggle]").is_visible()
        no_horizontal_scroll(page)
    context.close()


def test_long_team_names_and_a_long_name_are_cut_short_not_wrapped(live_server, browser):  # type: ignore[no-untyped-def]
    # Given an agent of two teams with long names, and a long name of her own
    _, cases = scene()
    teams = [team_ensure(name="Returns and refunds, Iberia"), team_ensure(name="Night shift")]
    agent_create(
        username="maria",
        password=PASSWORD,
        teams=teams,
        first_name="Maria Fernanda",
        last_name="de Albuquerque Vasconcelos",
    )
    context, page = sized(browser, 1366, 768)
    log_in(page, live_server, "maria")
    # Then the bar still holds one line, and each cut name is whole in its title
    assert_one_line(page, "inbox")
    name = page.locator(".me-name")
    assert name.get_attribute("title") == "Signed in as maria"
    assert page.locator(".me-teams .chip").first.get_attribute("title") in {
        "Returns and refunds, Iberia",
        "Night shift",
    }
    context.close()


def test_the_top_bar_folds_behind_the_menu_at_375_px(live_server, browser):  # type: ignore[no-untyped-def]
    _, cases = scene(role="admin")
    context, page = sized(browser, 375, 812)
    log_in(page, live_server, "ana")
    toggle = page.locator("[data-nav-toggle]")
    for label, url in pages(cases).items():
        page.goto(f"{live_server.url}{url}")
        page.quiet.wait()
        # Folded: the Menu button and the search box show, the links do not
        assert toggle.is_visible() and page.locator("#top-search").is_visible(), label
        assert not page.locator("#mainnav").is_visible(), label
        no_horizontal_scroll(page)
    # Opened, the links stack one under another, inside the screen
    toggle.click()
    bar = page.evaluate(BAR)
    tops = [link["top"] for link in bar["links"]]
    assert tops == sorted(tops) and len(set(tops)) == len(tops) == len(LINKS) + 1
    no_horizontal_scroll(page)
    context.close()
