"""Every console page passes axe-core (vendored in tests/browser_vendor, MPL-2.0) in headless
Chromium at 375 and 1366 px: no violation of impact "serious" or "critical"; and none
scrolls sideways at 375 px.

The pages forbid inline script (Content-Security-Policy); the test's context bypasses the
policy only to inject axe itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from tests.console.test_browser import browser, log_in  # noqa: F401 - fixture
from tests.console.test_ux_browser import WIDEST, WIDTHS, scene
from tests.settle import Quiet

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
        page = context.new_page()
        page.quiet = Quiet(page)  # its requests counted, to wait for them (tests/settle.py)
        return page

    yield make
    for c in contexts:
        c.close()


def sideways(page) -> object | None:  # type: ignore[no-untyped-def]
    """How far the page scrolls sideways (its width and widest elements), or None."""
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return (width, page.evaluate(WIDEST)) if width > inner else None


def test_every_console_page_passes_axe_at_both_widths_and_fits_a_phone(live_server, axe_page):  # type: ignore[no-untyped-def]
    """One scene and one pass over the pages per width (each page's visit is the cost): axe at
    375 and 1366 px, and at 375 px no page scrolls sideways (a wide table scrolls inside its
    own box)."""
    # Given an admin of the front office (every page is open to an admin) and two cases
    _, cases = scene(role="admin")
    args = {"case": cases[0].ref, "customer": cases[0].customer_id}
    found: dict[str, list[str]] = {}
    wide: dict[str, object] = {}
    for width in WIDTHS:
        page = axe_page(width)
        # The login page, before logging in
        page.goto(f"{live_server.url}/login/")
        if width == 375 and (too_wide := sideways(page)):
            wide["login"] = too_wide
        if problems := axe_check(page):
            found[f"login at {width}"] = problems
        log_in(page, live_server, "ana")
        checked = []
        for label, name, params in PAGES:
            try:
                url = reverse(name, args=[args[p] for p in params])
            except NoReverseMatch:
                continue
            if label == "search":
                url += "?q=parcel"
            page.goto(f"{live_server.url}{url}")
            page.quiet.wait()
            checked.append(label)
            if width == 375 and (too_wide := sideways(page)):
                wide[label] = too_wide
            if problems := axe_check(page):
                found[f"{label} at {width}"] = problems
        # Then nothing serious, on at least the pages that exist today
        assert {"inbox", "case", "customer"} <= set(checked), checked
    assert found == {}, "\n".join(f"{k}: {line}" for k, v in found.items() for line in v)
    assert wide == {}
