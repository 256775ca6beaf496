"""The driver's page in headless Chromium at 375 px, online and offline: taps made with the
network off are kept on the phone, shown as waiting, and replayed in order when it is back,
each with the Idempotency-Key fixed at the tap, so the job is completed with one proof and
one event per step, even when the whole queue is replayed again."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import timedelta

import pytest

from lastmile.core.clock import utcnow
from lastmile.jobs import services
from lastmile.jobs.models import Job, JobEvent, Proof
from lastmile.people.services import agent_create, team_ensure
from tests.console.test_browser import PASSWORD, fast_password_hashing  # noqa: F401
from tests.customers.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(chromium):  # type: ignore[no-untyped-def]
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, timezone_id="UTC", has_touch=True
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


def a_days_job(*, proofs):  # type: ignore[no-untyped-def]
    """Dora, a driver, with one delivery later today (the team works in UTC): from 22:00 on,
    the one under way, so that her run may start today."""
    now = utcnow()
    team = team_ensure(name="Deliveries", slug="deliveries")
    dora = agent_create(username="dora", password=PASSWORD, teams=[team], first_name="Dora").user
    start = min(
        (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0),
        now.replace(hour=22, minute=0, second=0, microsecond=0),
    )
    slot = services.slot_create(
        team=team, starts_at=start, ends_at=start + timedelta(hours=2), capacity=5
    )
    customer = CustomerFactory(display_name="Priya Shah")
    IdentityFactory(customer=customer, kind="phone", value="+447700900456")
    job = services.job_create(
        kind="delivery",
        customer=customer,
        team=team,
        window_start=slot.starts_at,
        window_end=slot.ends_at,
        address="4 Mill Lane, York",
        lines=[
            services.LineIn(
                sku="SOFA", description="Sofa", quantity=1, unit_price=89900, currency="GBP"
            )
        ],
        proofs=proofs,
        assignee=dora,
        actor=None,
        now=min(now, start - timedelta(hours=3)),  # booked before the window
    )
    return dora, job


def open_page(page, live_server, job):  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "dora")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/jobs/driver/?date={job.window_start.date().isoformat()}")
    page.wait_for_selector(f"#stop-{job.pk}")


def sent_all(page):  # type: ignore[no-untyped-def]
    page.wait_for_selector("#driver[data-queued='0']", state="attached")


def counts(job):  # type: ignore[no-untyped-def]
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    return {k: kinds.count(k) for k in ("started", "arrived", "proof", "completed")}


def test_offline_taps_are_queued_and_replayed_once_in_order(live_server, phone):
    dora, job = a_days_job(proofs=("pin",))
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    open_page(page, live_server, job)
    stop = f"#stop-{job.pk}"

    # The page fits 375 px and its buttons are large targets
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = page.locator(f"{stop} [data-action=start]").bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 200
    assert page.locator(f"{stop} a[href='tel:+447700900456']").count() == 1

    # Online: "On my way" is sent at once
    page.click(f"{stop} [data-action=start]")
    sent_all(page)
    job.refresh_from_db()
    assert job.state == "started"

    # Offline: arrive, the PIN the customer reads, complete
    phone.set_offline(True)
    # The page must know it is offline before the tap (navigator.onLine follows a moment later)
    page.wait_for_function("() => !navigator.onLine")
    page.click(f"{stop} [data-action=arrive]")
    page.click(f"{stop} .stop-capture > summary")
    page.fill(f"#pin-{job.pk}", job.pin)
    page.click(f"{stop} [data-action=proof][data-kind=pin]")
    page.click(f"{stop} [data-action=complete]")

    # Then the three taps wait, in order, on the phone, and the server has none of them
    assert page.locator("#queue-list li").all_inner_texts() == [
        "Priya Shah: Arrived",
        "Priya Shah: pin",
        "Priya Shah: Complete",
    ]
    assert page.get_attribute(stop, "data-state") == "completed"
    assert "Offline" in page.inner_text("#driver-net")
    job.refresh_from_db()
    assert job.state == "started" and not Proof.objects.filter(job=job).exists()
    queued = page.evaluate(f"localStorage.getItem('lastmile-driver-queue-{dora.pk}')")

    # When the network is back
    phone.set_offline(False)
    sent_all(page)

    # Then the job is completed with one proof, one event per step, nothing refused
    job.refresh_from_db()
    assert job.state == "completed"
    assert Proof.objects.filter(job=job).count() == 1
    assert counts(job) == {"started": 1, "arrived": 1, "proof": 1, "completed": 1}
    assert page.is_hidden("#driver-refused")

    # When the phone replays the same queue again (it never saw the answers)
    page.evaluate(
        "([name, value]) => localStorage.setItem(name, value)",
        [f"lastmile-driver-queue-{dora.pk}", queued],
    )
    page.reload()
    page.wait_for_selector(stop)
    sent_all(page)

    # Then each is answered as the first time: nothing refused, nothing stored twice
    assert page.is_hidden("#driver-refused")
    assert Proof.objects.filter(job=job).count() == 1
    assert counts(job) == {"started": 1, "arrived": 1, "proof": 1, "completed": 1}
    assert Job.objects.get(pk=job.pk).invoice is not None
    page.screenshot(path="/tmp/driver-375.png", full_page=True)
    assert errors == []


def test_a_signature_drawn_on_the_page_is_stored_as_an_image(live_server, phone):
    _, job = a_days_job(proofs=("signature",))
    page = phone.new_page()
    open_page(page, live_server, job)
    stop = f"#stop-{job.pk}"
    page.click(f"{stop} [data-action=start]")
    sent_all(page)
    page.click(f"{stop} [data-action=arrive]")
    page.click(f"{stop} .stop-capture > summary")
    page.locator(f"{stop} canvas[data-sig]").scroll_into_view_if_needed()
    canvas = page.locator(f"{stop} canvas[data-sig]").bounding_box()
    assert canvas
    page.mouse.move(canvas["x"] + 20, canvas["y"] + 40)
    page.mouse.down()
    for dx, dy in ((60, 20), (120, 80), (200, 30), (260, 90)):
        page.mouse.move(canvas["x"] + dx, canvas["y"] + dy, steps=4)
    page.mouse.up()
    page.click(f"{stop} [data-action=proof][data-kind=signature]")
    page.click(f"{stop} [data-action=complete]")
    sent_all(page)
    job.refresh_from_db()
    assert job.state == "completed", page.inner_text(f"{stop} [data-msg]") + page.evaluate(
        f"document.querySelector('{stop} canvas').dataset.signed || 'unsigned'"
    )
    proof = Proof.objects.get(job=job)
    assert proof.kind == "signature" and proof.data.startswith("data:image/png;base64,")


def test_the_page_reopens_offline_and_a_tap_made_offline_is_stored_once(live_server, phone):
    _, job = a_days_job(proofs=("pin",))
    page = phone.new_page()
    open_page(page, live_server, job)
    stop = f"#stop-{job.pk}"
    page.click(f"{stop} [data-action=start]")
    sent_all(page)
    # The service worker takes the page over, and keeps it on the next load
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.reload()
    page.wait_for_selector(f"{stop}[data-state=started]")

    # Offline, the driver arrives, then the page is closed and opened again
    phone.set_offline(True)
    # The page must know it is offline before the tap (navigator.onLine follows a moment later)
    page.wait_for_function("() => !navigator.onLine")
    page.click(f"{stop} [data-action=arrive]")
    page.reload()

    # Then the page opens from the phone with the stop moved on. (Whether the tap is still
    # waiting here cannot be asserted: right after a reload Chromium's offline emulation
    # may let the page's first request out before it holds, and the queue is then sent at
    # once. Either way it must be stored once, below.)
    page.wait_for_selector(f"{stop}[data-state=arrived]")

    # and back online it is sent
    phone.set_offline(False)
    sent_all(page)
    job.refresh_from_db()
    assert job.state == "arrived"
    assert JobEvent.objects.filter(job=job, kind="arrived").count() == 1


def test_the_page_opened_once_online_reopens_offline_with_its_stops(live_server, phone):
    # Given the page opened once, online (the worker is installed by that first load)
    _, job = a_days_job(proofs=("pin",))
    page = phone.new_page()
    open_page(page, live_server, job)
    page.wait_for_selector("#driver[data-kept='1']", state="attached")

    # When the phone goes offline and the page is opened again
    phone.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    page.reload()

    # Then it opens from the phone, with the stop (not the worker's "offline" answer)
    page.wait_for_selector(f"#stop-{job.pk}")
    assert "Priya Shah" in page.inner_text(f"#stop-{job.pk} h2")
    # and the same page under another ?date= link too (the copy of its path)
    page.goto(f"{live_server.url}/jobs/driver/")
    page.wait_for_selector(f"#stop-{job.pk}")
    phone.set_offline(False)


def test_a_queued_tap_does_not_break_the_customers_name_at_375_px(live_server, phone):
    dora, job = a_days_job(proofs=())
    job.customer.display_name = "Tom Baker"
    job.customer.save()
    page = phone.new_page()
    open_page(page, live_server, job)
    stop = f"#stop-{job.pk}"
    page.click(f"{stop} [data-action=start]")
    sent_all(page)
    page.click(f"{stop} [data-action=arrive]")
    sent_all(page)

    # Offline, "Complete" waits on the phone: the pill reads "Completed · waiting to send"
    phone.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    page.click(f"{stop} [data-action=complete]")
    page.wait_for_selector(f"{stop}[data-queued='1']", state="attached")

    # Then the name stays on one line, whole, and the pill goes under it
    lines = page.evaluate(
        """(sel) => { const h = document.querySelector(sel + ' h2');
        const r = document.createRange(); r.selectNodeContents(h);
        return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size; }""",
        stop,
    )
    assert lines == 1
    name = page.locator(f"{stop} h2").bounding_box()
    pill = page.locator(f"{stop} [data-state-label]").bounding_box()
    assert name and pill and pill["y"] >= name["y"] + name["height"] - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path="/tmp/driver-375-queued.png")
    phone.set_offline(False)
    sent_all(page)


def a_png(width: int, height: int) -> bytes:
    """A small orange picture, as a phone's camera would hand the page (PNG, no library)."""
    raw = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_start_my_run_sets_the_etas_and_a_camera_photo_is_the_proof(live_server, phone):
    _, job = a_days_job(proofs=("photo",))
    page = phone.new_page()
    open_page(page, live_server, job)
    stop = f"#stop-{job.pk}"

    # "Start my run" gives the stop its ETA, shown on the card as the server tells times
    # (24 h, the team's zone), and the button goes away
    page.click("#run-start")
    sent_all(page)
    assert re.fullmatch(r" · ETA \d\d:\d\d UTC( \(late\))?", page.inner_text(f"{stop} [data-eta]"))
    assert page.is_hidden("#run-start")
    page.reload()
    page.wait_for_selector(stop)
    assert page.locator("#run-start").count() == 0
    job.refresh_from_db()
    assert job.eta is not None and job.state == "scheduled"

    # A photo from the camera input is scaled on the phone and stored as the proof
    page.click(f"{stop} [data-action=start]")
    page.click(f"{stop} [data-action=arrive]")
    page.click(f"{stop} .stop-capture > summary")
    page.set_input_files(
        f"{stop} input[data-photo]",
        files=[{"name": "door.png", "mimeType": "image/png", "buffer": a_png(1600, 1200)}],
    )
    page.wait_for_selector(f"{stop} [data-photo-said]:has-text('Photo ready: 1280 × 960')")
    page.click(f"{stop} [data-action=proof][data-kind=photo]")
    page.click(f"{stop} [data-action=complete]")
    sent_all(page)
    job.refresh_from_db()
    assert job.state == "completed"
    proof = Proof.objects.get(job=job)
    assert proof.kind == "photo" and proof.data.startswith("data:image/jpeg;base64,")


def test_the_driver_page_and_the_tracking_page_pass_axe_at_375_px(live_server, chromium):
    from tests.console.test_a11y_browser import axe_check

    _, job = a_days_job(proofs=("pin", "signature"))
    context = chromium.new_context(
        viewport={"width": 375, "height": 740}, timezone_id="UTC", bypass_csp=True
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        open_page(page, live_server, job)
        page.click(f"#stop-{job.pk} [data-action=start]")
        sent_all(page)
        page.click(f"#stop-{job.pk} .stop-capture > summary")
        page.click(f"#stop-{job.pk} .stop-fail > summary")
        found = {"driver": axe_check(page)}
        page.goto(f"{live_server.url}/jobs/t/{job.tracking_token}/")
        found["tracking"] = axe_check(page)
    finally:
        context.close()
    assert found == {"driver": [], "tracking": []}
