"""Guarded responders in headless Chromium, on a laptop and on a phone: Sam from the stores
answers a mention with a saved response and it is held; a refund he tries is blocked with
the policy's reason; Lena, the lead, approves the held reply and it is sent. Every page fits
the screen's width and keeps to the Content-Security-Policy."""

from __future__ import annotations

import pytest

from lastmile.customers.models import Interaction
from lastmile.responders.models import ResponderReply
from tests.console.test_browser import (  # noqa: F401
    PASSWORD,
    fast_password_hashing,
    log_in,
)
from tests.core.test_csp_browser import watch
from tests.macros.factories import MacroFactory
from tests.responders.conftest import mention_make

pytestmark = pytest.mark.browser
PHONE, LAPTOP = 375, 1366


def tab(browser, width):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(10_000)
    return context, context.new_page()


def fits(page, width=PHONE):  # type: ignore[no-untyped-def]
    """Nothing wider than the screen, on a phone and (the viewport resized, the flow not run
    twice) on a laptop."""
    for w in (width, LAPTOP):
        page.set_viewport_size({"width": w, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= w, w
    page.set_viewport_size({"width": width, "height": 900})


def test_a_responder_replies_is_held_blocked_and_the_lead_approves(
    live_server, browser, enrolment, brand, team, sam, lead, no_refunds, now
):
    width = PHONE
    # given Sam, enrolled with two saved responses and a refund he may pick but a policy blocks
    for user in (sam, lead):
        user.set_password(PASSWORD)
        user.save()
    enrolment.macros.add(MacroFactory(name="Refund", body="A refund is on its way.", team=team))
    first = mention_make(now=now, text="@AcmeBank the card reader in the Leeds store is broken")
    second = mention_make(now=now, text="@AcmeBank I want my money back for the broken kettle")
    context, page = tab(browser, width)
    problems = watch(page)

    # when Sam opens his responder page and answers the first mention
    log_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/responders/")
    fits(page, width)
    page.locator(f"#mention-{first.pk} a.btn").click()
    page.wait_for_url(f"**/responders/reply/mention/{first.pk}/")
    fits(page, width)
    page.get_by_label("Thanks, we are on it").check()
    page.click("#reply-send")

    # then it is held for Lena
    page.wait_for_url(f"{live_server.url}/responders/")
    assert "Held for Lena Ortiz" in page.locator(".alerts").inner_text()
    held = ResponderReply.objects.get()
    assert held.state == "held"
    assert page.locator(f"#reply-{held.pk} [data-state=held]").is_visible()
    fits(page, width)

    # when he tries the refund on the second mention
    page.goto(f"{live_server.url}/responders/reply/mention/{second.pk}/")
    page.get_by_label("Refund").check()
    page.click("#reply-send")

    # then it is refused with the policy's reason, and nothing went out
    error = page.locator("#reply-error")
    error.wait_for()
    assert "Blocked by policy" in error.inner_text()
    assert "Only the support team promises refunds" in error.inner_text()
    fits(page, width)
    assert not Interaction.objects.filter(direction="outbound").exists()
    context.close()

    # when Lena approves the held reply
    context, page = tab(browser, width)
    problems += watch(page)
    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/responders/approvals/")
    assert (
        "Thanks for telling us, we are on it. Sam from the stores"
        in page.locator(f"#held-{held.pk}").inner_text()
    )
    fits(page, width)
    page.click(f"#approve-{held.pk}")

    # then it is sent as Sam's reply on the mention's case, and nothing waits any more
    page.locator("#approvals-empty").wait_for()
    assert "reply is sent" in page.locator(".alerts").inner_text()
    held.refresh_from_db()
    assert held.state == "sent"
    assert Interaction.objects.get(direction="outbound").actor == sam

    # and Sam's scorecard, as Lena sees it, counts it
    page.goto(f"{live_server.url}/responders/sam/")
    assert page.locator("[data-metric=approved] dd").inner_text() == "1"
    assert page.locator("[data-metric=policy_blocks] dd").inner_text() == "1"
    fits(page, width)
    context.close()

    # the blocked reply's page answered 409 on purpose; anything else is a problem
    blocked = f"/responders/reply/mention/{second.pk}/"
    assert [p for p in problems if not ("409" in p and blocked in p)] == []
