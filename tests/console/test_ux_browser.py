"""The console for an agent's hands and a phone's width, in headless Chromium: keyboard
shortcuts, the folding top bar, the inbox and case page at 375 and 1366 px.

Chromium is started as in test_browser.py (its fixtures are reused here)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, SlaPolicy
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, browser, log_in  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

WIDTHS = [375, 1366]


def scene(role: str = "agent"):  # type: ignore[no-untyped-def]
    """Ana of the front office, two customers each with an email case waiting for a reply
    (one with a long first message), and an outbound reply and a note by her."""
    now = utcnow()
    team = team_ensure(name="Front office")
    ana = agent_create(
        username="ana",
        password=PASSWORD,
        teams=[team],
        first_name="Ana",
        last_name="Silva",
        role=role,
    ).user
    SlaPolicy.objects.create(
        name="Email — 4 h", channel="email", first_reply_minutes=240, next_reply_minutes=240
    )
    cases = []
    for n, (email, name) in enumerate(
        [("maya@example.com", "Maya Fernandes"), ("li@example.com", "Li Wei Zhang-Abernathy")]
    ):
        customer = customer_resolve(
            identities=[identity_normalize("email", email)], display_name=name, now=now
        ).customer
        case = case_create(
            customer=customer,
            subject=f"Parcel {n} never arrived at the pickup point on the high street",
            team=team,
            channel="email",
            now=now - timedelta(hours=2 + n),
        )
        at = now - timedelta(hours=2 + n)
        interaction_record(
            customer=customer,
            case=case,
            channel="email",
            direction="inbound",
            occurred_at=at,
            now=at,
            body="My parcel has not arrived. " * (30 if n == 0 else 1),
        )
        cases.append(case)
    case = cases[0]
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="note",
        occurred_at=now - timedelta(minutes=30),
        now=now - timedelta(minutes=30),
        body="Asked the depot.",
        actor=ana,
    )
    return ana, cases


@pytest.fixture
def sized(browser):  # type: ignore[no-untyped-def]  # noqa: F811
    """A page factory at a given width."""
    contexts = []

    def make(width: int):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


WIDEST = """(() => {
  const inner = window.innerWidth, out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.right > inner + 1 && r.width > 0) out.push(el.tagName + "." + el.className + " " + Math.round(r.right));
  }
  return out.slice(0, 8);
})()"""


def no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{width} px wide in a {inner} px window: {page.evaluate(WIDEST)}"


def in_view_horizontally(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not displayed"
    inner = page.evaluate("window.innerWidth")
    assert box["x"] >= 0 and box["x"] + box["width"] <= inner + 1, (selector, box, inner)


def active(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "(() => { const a = document.activeElement;"
        " return a.tagName.toLowerCase() + (a.id ? '#' + a.id : '')"
        " + (a.closest('form[id]') ? ' in #' + a.closest('form[id]').id : ''); })()"
    )


def test_keyboard_moves_through_the_inbox_opens_a_case_and_reaches_the_composer(live_server, sized):  # type: ignore[no-untyped-def]
    _, cases = scene()
    page = sized(1366)
    log_in(page, live_server, "ana")
    rows = page.locator("table.loops tbody tr")
    assert rows.count() == 2
    # j selects the first row and focuses its link; j again the second; k back to the first
    page.keyboard.press("j")
    assert "is-nav-current" in (rows.nth(0).get_attribute("class") or "")
    assert page.evaluate("document.activeElement.classList.contains('loop-title')")
    page.keyboard.press("j")
    assert "is-nav-current" in (rows.nth(1).get_attribute("class") or "")
    assert "is-nav-current" not in (rows.nth(0).get_attribute("class") or "")
    page.keyboard.press("k")
    assert "is-nav-current" in (rows.nth(0).get_attribute("class") or "")
    # Modifier keys and typing in a field leave the list alone
    page.keyboard.press("Control+j")
    assert "is-nav-current" in (rows.nth(0).get_attribute("class") or "")
    # / focuses the search box; a j typed there is text
    page.keyboard.press("/")
    assert active(page).startswith("input#top-search")
    page.keyboard.type("jk")
    assert page.input_value("#top-search") == "jk"
    assert "is-nav-current" in (rows.nth(0).get_attribute("class") or "")
    # ? opens the list of shortcuts, as a modal dialog; Escape closes it
    page.locator("#top-search").blur()
    page.keyboard.press("?")
    dialog = page.locator("dialog#shortcuts")
    assert dialog.is_visible() and "Keyboard shortcuts" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    # and so does the top bar's "?" button, for the mouse
    page.get_by_role("button", name="Keyboard shortcuts").click()
    assert dialog.is_visible()
    dialog.get_by_role("button", name="Close the shortcuts").click()
    assert not dialog.is_visible()
    # Enter opens the selected row's case
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/cases/{cases[0].ref}/"))
    # r focuses the reply box, n the note box
    page.keyboard.press("r")
    assert re.fullmatch(r"textarea(#\S+)? in #reply-form", active(page)), active(page)
    page.locator("#reply-form textarea").blur()
    page.keyboard.press("n")
    assert re.fullmatch(r"textarea(#\S+)? in #note-form", active(page)), active(page)
    # and a focused element shows a visible outline
    page.keyboard.press("Escape")
    page.locator("#note-form textarea").blur()
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline


def test_the_console_fits_a_phone_and_a_laptop(live_server, sized):  # type: ignore[no-untyped-def]
    """At 375 and 1366 px: the top bar folds into a menu on a phone, the inbox shows each
    loop's due time, title and customer, the case page stacks, and the customer page fits
    with its timeline expanding. One scene, one login per width (the checks only read)."""
    _, cases = scene()
    loop = Loop.objects.get(case=cases[0], kind="reply")
    for width in WIDTHS:
        page = sized(width)
        log_in(page, live_server, "ana")
        the_top_bar_folds_into_a_menu_on_a_phone(page, width)
        the_inbox_shows_due_loop_and_customer(page, loop)
        page.goto(f"{live_server.url}/cases/{cases[0].ref}/")
        the_case_page_stacks_on_a_phone(page, width)
        page.goto(f"{live_server.url}/customers/{cases[0].customer_id}/")
        the_customer_page_fits_and_its_timeline_expands(page)


def the_top_bar_folds_into_a_menu_on_a_phone(page, width: int) -> None:  # type: ignore[no-untyped-def]
    no_horizontal_scroll(page)
    toggle = page.locator("[data-nav-toggle]")
    nav = page.locator("#mainnav")
    in_view_horizontally(page, "#top-search")
    if width < 900:
        assert toggle.is_visible() and not nav.is_visible()
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true" and nav.is_visible()
        in_view_horizontally(page, "#mainnav a[href='/']")
        no_horizontal_scroll(page)
        toggle.click()
        assert not nav.is_visible()
    else:
        assert not toggle.is_visible() and nav.is_visible()


def the_inbox_shows_due_loop_and_customer(page, loop) -> None:  # type: ignore[no-untyped-def]
    no_horizontal_scroll(page)
    row = f"#loop-{loop.pk}"
    for part in (".countdown", "a.loop-title", ".c-customer a"):
        in_view_horizontally(page, f"{row} {part}")
    assert "Maya Fernandes" in page.locator(f"{row} .c-customer").inner_text()


def the_case_page_stacks_on_a_phone(page, width: int) -> None:  # type: ignore[no-untyped-def]
    no_horizontal_scroll(page)
    in_view_horizontally(page, "#reply-form textarea")
    main = page.locator(".col-main").first.bounding_box()
    side = page.locator(".col-side").first.bounding_box()
    assert main and side
    if width < 900:
        assert side["y"] >= main["y"] + main["height"] - 1  # below, not beside
    else:
        assert side["x"] >= main["x"] + main["width"] - 1  # beside


def the_customer_page_fits_and_its_timeline_expands(page) -> None:  # type: ignore[no-untyped-def]
    page.locator("#merges").wait_for()
    no_horizontal_scroll(page)
    long = page.locator("details.tl-long").first
    assert not page.locator(".tl-full").first.is_visible()
    long.locator("summary").click()
    assert page.locator(".tl-full").first.is_visible()
    assert "by Ana Silva" in page.locator("#timeline").inner_text()
    no_horizontal_scroll(page)


def test_the_timeline_filter_swaps_in_place(live_server, sized):  # type: ignore[no-untyped-def]
    _, cases = scene()
    customer = cases[0].customer
    now = utcnow()
    interaction_record(
        customer=customer,
        channel="chat",
        direction="inbound",
        occurred_at=now - timedelta(minutes=5),
        now=now,
        body="Any news on the chat?",
    )
    page = sized(375)
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.evaluate("window.stillTheSamePage = true")
    page.select_option(f"#tl-channel-{customer.pk}", "chat")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#timeline .tl-item')]"
        ".every(li => li.dataset.channel === 'chat')"
    )
    assert page.locator("#timeline .tl-item").count() == 1
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.input_value(f"#tl-channel-{customer.pk}") == "chat"
    no_horizontal_scroll(page)


def test_an_agent_merges_a_duplicate_and_undoes_it_in_the_browser(live_server, sized):  # type: ignore[no-untyped-def]
    _, cases = scene()
    dup, keep = cases[1].customer, cases[0].customer
    page = sized(1366)
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/customers/{dup.pk}/")
    page.locator("#merges summary").click()
    # the picker finds the customer to keep as she types; a pick shows who goes into whom
    page.fill("#merge-find", f"#{keep.pk}")
    page.locator(f"#merge-found [data-merge-pick='{keep.pk}']").click()
    page.locator("#merge-confirm .merge-summary").wait_for()
    assert "will be merged into Maya Fernandes" in page.locator("#merge-confirm").inner_text()
    page.fill("#merge-reason", "same person")
    page.locator("#merge-confirm button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/customers/{keep.pk}/")
    assert "merged into Maya Fernandes" in page.locator(".alert-success").inner_text()
    row = page.locator("#merges .merge-row").first
    row.wait_for()
    assert "Li Wei Zhang-Abernathy" in row.inner_text() and "Ana Silva" in row.inner_text()
    row.get_by_role("button", name=re.compile("Undo")).click()
    page.wait_for_url(f"{live_server.url}/customers/{dup.pk}/")
    assert "stands on its own again" in page.locator(".alert-success").inner_text()
    page.locator("#merges .merge-row").first.wait_for()
    assert "undone" in page.locator("#merges .merge-row").first.inner_text()


def test_j_and_k_move_through_the_case_lists_and_search_results(live_server, sized):  # type: ignore[no-untyped-def]
    _, cases = scene()
    page = sized(1366)
    log_in(page, live_server, "ana")
    built = []
    for where in ("console:cases", "search:results"):
        try:
            url = reverse(where)
        except NoReverseMatch:
            continue
        built.append(where)
        page.goto(f"{live_server.url}{url}{'?q=parcel' if where == 'search:results' else ''}")
        page.keyboard.press("j")
        first = page.locator(".is-nav-current")
        assert first.count() == 1, where
        href = page.evaluate("document.activeElement.getAttribute('href')")
        assert href and href.startswith("/"), (where, href)
        page.keyboard.press("j")
        assert page.evaluate("document.activeElement.getAttribute('href')") != href, where
        page.keyboard.press("k")
        assert page.evaluate("document.activeElement.getAttribute('href')") == href, where
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}{href}")
    if not built:
        pytest.skip("neither the case list nor the search results are built")
