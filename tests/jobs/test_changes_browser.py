"""The on-site change on the driver's page in headless Chromium at 375 px: the engineer
splits a line in two, the customer sees the price before and after and accepts with a
signature drawn on the page (or their PIN, offline and replayed), and the invoice bills the
accepted lines."""

from __future__ import annotations

import pytest

from lastmile.invoices.models import Invoice
from lastmile.jobs.models import Job, JobChange, JobEvent, JobLine
from tests.console.test_browser import fast_password_hashing  # noqa: F401
from tests.jobs.test_driver_browser import a_days_job, open_page, sent_all

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(chromium):  # type: ignore[no-untyped-def]
    """A phone's window: 375 px wide, touch."""
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, timezone_id="UTC", has_touch=True
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


def at_the_door(page, job):  # type: ignore[no-untyped-def]
    stop = f"#stop-{job.pk}"
    page.click(f"{stop} [data-action=start]")
    page.click(f"{stop} [data-action=arrive]")
    sent_all(page)
    return stop


def split_the_sofa(page, stop):  # type: ignore[no-untyped-def]
    """Split the one line (the sofa, GBP 899.00) into delivery and assembly, the second
    part priced up: GBP 450.00 + GBP 500.00."""
    page.click(f"{stop} .stop-change > summary")
    page.click(f"{stop} [data-change-op=split]")
    page.fill(f"{stop} [data-part=description][data-index='0']", "Sofa, delivered")
    page.fill(f"{stop} [data-part=price][data-index='0']", "450.00")
    page.fill(f"{stop} [data-part=description][data-index='1']", "Sofa, assembled")
    page.fill(f"{stop} [data-part=price][data-index='1']", "500")
    assert "→ new price GBP 950.00" in page.inner_text(f"{stop} [data-change-totals]")
    page.click(f"{stop} [data-action=change]")


def test_a_split_is_shown_to_the_customer_and_accepted_with_a_drawn_signature(live_server, phone):
    _, job = a_days_job(proofs=("signature",))
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_page(page, live_server, job)
    stop = at_the_door(page, job)

    # When the engineer splits the line and shows the customer
    split_the_sofa(page, stop)
    sent_all(page)

    # Then the customer sees the price before and after, and nothing is changed yet
    page.wait_for_selector(f"{stop} [data-consent]:not([hidden])")
    assert page.inner_text(f"{stop} [data-consent-before]") == "GBP 899.00"
    assert page.inner_text(f"{stop} [data-consent-after]") == "GBP 950.00"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = page.locator(f"{stop} [data-action=accept][data-via=signature]").bounding_box()
    assert box and box["height"] >= 44
    change = JobChange.objects.get(job=job)
    assert change.state == "proposed" and JobLine.objects.filter(job=job).count() == 1

    # When the customer signs on the page and the engineer accepts
    canvas = page.locator(f"{stop} canvas[data-csig]")
    canvas.scroll_into_view_if_needed()
    at = canvas.bounding_box()
    assert at
    page.mouse.move(at["x"] + 20, at["y"] + 40)
    page.mouse.down()
    for dx, dy in ((60, 20), (120, 80), (200, 30), (260, 90)):
        page.mouse.move(at["x"] + dx, at["y"] + dy, steps=4)
    page.mouse.up()
    page.click(f"{stop} [data-action=accept][data-via=signature]")
    sent_all(page)

    # Then the job's lines are the two parts, the consent is the drawn signature, and the
    # card shows the new lines
    change.refresh_from_db()
    assert change.state == "accepted" and change.consent == "signature"
    assert change.consent_data.startswith("data:image/png;base64,")
    assert list(JobLine.objects.filter(job=job).values_list("description", "unit_price")) == [
        ("Sofa, delivered", 45000),
        ("Sofa, assembled", 50000),
    ]
    assert page.inner_text(f"{stop} [data-lines-total]") == "GBP 950.00"
    assert page.is_hidden(f"{stop} [data-consent]")
    assert "accepted by the customer's signature" in page.inner_text(f"{stop} [data-changed]")

    # And completing with the delivery's own signature bills the accepted lines
    page.click(f"{stop} .stop-capture > summary")
    sig = page.locator(f"{stop} canvas[data-sig]")
    sig.scroll_into_view_if_needed()
    s = sig.bounding_box()
    assert s
    page.mouse.move(s["x"] + 30, s["y"] + 50)
    page.mouse.down()
    page.mouse.move(s["x"] + 200, s["y"] + 80, steps=6)
    page.mouse.up()
    page.click(f"{stop} [data-action=proof][data-kind=signature]")
    page.click(f"{stop} [data-action=complete]")
    sent_all(page)
    assert Job.objects.get(pk=job.pk).state == "completed"
    assert Invoice.objects.get(source=f"job:{job.pk}").subtotal == 95000
    page.screenshot(path="/tmp/driver-change-375.png", full_page=True)
    assert errors == []


def test_offline_a_split_and_the_customers_pin_wait_on_the_phone_and_are_sent_once(
    live_server, phone
):
    _, job = a_days_job(proofs=("pin",))
    page = phone.new_page()
    open_page(page, live_server, job)
    stop = at_the_door(page, job)

    # Offline: the split is proposed and the customer reads their PIN
    phone.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    split_the_sofa(page, stop)
    page.wait_for_selector(f"{stop} [data-consent]:not([hidden])")
    page.fill(f"{stop} [data-cpin]", job.pin)
    page.click(f"{stop} [data-action=accept][data-via=pin]")

    # Then both wait on the phone; the card already shows the new price; the server has none
    assert page.locator("#queue-list li").all_inner_texts() == [
        "Priya Shah: change proposed",
        "Priya Shah: change accepted (pin)",
    ]
    assert page.inner_text(f"{stop} [data-lines-total]") == "GBP 950.00"
    assert not JobChange.objects.filter(job=job).exists()

    # When the network is back, they are sent in order, once
    phone.set_offline(False)
    sent_all(page)
    change = JobChange.objects.get(job=job)
    assert (change.state, change.consent, change.consent_data) == ("accepted", "pin", "matched")
    assert JobLine.objects.filter(job=job).count() == 2
    assert JobEvent.objects.filter(job=job, kind="changed").count() == 1
    assert page.is_hidden("#driver-refused")


def test_a_wrong_pin_is_refused_and_the_customer_is_asked_again(live_server, phone):
    _, job = a_days_job(proofs=("pin",))
    page = phone.new_page()
    open_page(page, live_server, job)
    stop = at_the_door(page, job)
    split_the_sofa(page, stop)
    sent_all(page)
    page.wait_for_selector(f"{stop} [data-consent]:not([hidden])")

    page.fill(f"{stop} [data-cpin]", "000000" if job.pin != "000000" else "111111")
    page.click(f"{stop} [data-action=accept][data-via=pin]")
    sent_all(page)

    assert "wrong PIN" in page.inner_text("#driver-refused")
    page.wait_for_selector(f"{stop} [data-consent]:not([hidden])")
    assert page.inner_text(f"{stop} [data-lines-total]") == "GBP 899.00"
    assert JobChange.objects.get(job=job).state == "proposed"
    assert JobLine.objects.filter(job=job).count() == 1


def test_the_change_and_the_consent_pass_axe_at_375_px(live_server, chromium):
    from tests.console.test_a11y_browser import axe_check

    _, job = a_days_job(proofs=("pin", "signature"))
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, timezone_id="UTC", bypass_csp=True
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        open_page(page, live_server, job)
        stop = at_the_door(page, job)
        split_the_sofa(page, stop)
        sent_all(page)
        page.wait_for_selector(f"{stop} [data-consent]:not([hidden])")
        page.click(f"{stop} .stop-change > summary")
        page.click(f"{stop} [data-change-op=split]")
        page.screenshot(path="/tmp/driver-consent-375.png", full_page=True)
        found = axe_check(page)
    finally:
        context.close()
    assert found == []
