"""Every console page passes axe-core (vendored in tests/browser_vendor, MPL-2.0) in headless
Chromium at 375 and 1366 px: no violation of impact "serious" or "critical".

The pages forbid inline script (Content-Security-Policy); the test's context bypasses the
policy only to inject axe itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from tests.console.test_browser import browser, log_in  # noqa: F401 - fixture
from tests.console.test_ux_browser import WIDEST, WIDTHS, scene

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "browser_vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")

# Pages by URL name (with arguments filled from the scene); those not built yet are skipped.
PAGES = [
    ("inbox", "console:inbox", ()),
    ("case", "console:case", ("case",)),
    ("customer", "console:customer", ("customer",)),
    ("cases", "console:cases", ()),
    ("search", "search:results", ()),
    ("promises", "promises:index", ()),
    ("journeys", "journeys:board", ()),
    ("knowledge", "knowledge:index", ()),
    ("mentions", "listening:mentions", ()),
    ("alerts", "crisis:alerts", ()),
]


def axe_check(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The serious and critical violations on the page, one line each."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({"
        "id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {v['nodes']}"
        for v in result
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def axe_page(browser):  # type: ignore[no-untyped-def]  # noqa: F811
    contexts = []

    def make(width: int):  # type: ignore[no-untyped-def]
        context = browser.new_context(
            viewport={"width": width, "height": 900}, timezone_id="UTC", bypass_csp=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_login_page_passes_axe(live_server, axe_page, width):  # type: ignore[no-untyped-def]
    page = axe_page(width)
    page.goto(f"{live_server.url}/login/")
    assert axe_check(page) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_every_console_page_passes_axe(live_server, axe_page, width):  # type: ignore[no-untyped-def]
    # Given an admin of the front office (every page is open to an admin) and two cases
    _, cases = scene(role="admin")
    args = {"case": cases[0].ref, "customer": cases[0].customer_id}
    page = axe_page(width)
    log_in(page, live_server, "ana")
    found: dict[str, list[str]] = {}
    checked = []
    for label, name, params in PAGES:
        try:
            url = reverse(name, args=[args[p] for p in params])
        except NoReverseMatch:
            continue
        if label == "search":
            url += "?q=parcel"
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        checked.append(label)
        problems = axe_check(page)
        if problems:
            found[label] = problems
    # Then nothing serious, on at least the pages that exist today
    assert {"inbox", "case", "customer"} <= set(checked), checked
    assert found == {}, "\n".join(f"{k}: {line}" for k, v in found.items() for line in v)


def test_every_console_page_fits_a_phone(live_server, axe_page):  # type: ignore[no-untyped-def]
    """No page scrolls sideways at 375 px (a wide table scrolls inside its own box)."""
    _, cases = scene(role="admin")
    args = {"case": cases[0].ref, "customer": cases[0].customer_id}
    page = axe_page(375)
    page.goto(f"{live_server.url}/login/")
    wide = {}
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    if width > inner:
        wide["login"] = width
    log_in(page, live_server, "ana")
    for label, name, params in PAGES:
        try:
            url = reverse(name, args=[args[p] for p in params])
        except NoReverseMatch:
            continue
        page.goto(f"{live_server.url}{url}{'?q=parcel' if label == 'search' else ''}")
        page.wait_for_load_state("networkidle")
        width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        if width > inner:
            wide[label] = (width, page.evaluate(WIDEST))
    assert wide == {}
