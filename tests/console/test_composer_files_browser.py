"""The composer's file box in headless Chromium: it goes away with a "via" that only logs a
reply given elsewhere, and comes back with email, which carries files.

Chromium is started as in test_browser.py (its fixtures are reused here)."""

from __future__ import annotations

import pytest

from tests.console import test_browser
from tests.console.test_browser import log_in
from tests.console.test_ux_browser import scene

browser = test_browser.browser
fast_password_hashing = test_browser.fast_password_hashing
page = test_browser.page

pytestmark = pytest.mark.browser


def test_the_file_box_follows_the_via_list(live_server, page, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.LASTMILE_MAIL_STORAGE_DIR = str(tmp_path / "mailstore")
    # Given Ana on an email case: the reply goes by email, which carries files
    _, cases = scene()
    log_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/cases/{cases[0].ref}/")
    box = page.locator("#reply-form [data-files-box]")
    field = box.locator("input[type=file]")
    assert page.locator("#reply-via").input_value() == "email"
    assert box.is_visible() and field.is_enabled()
    # When she picks a channel that only logs a reply given elsewhere
    page.select_option("#reply-via", "log:phone")
    # Then the file box is gone and its input cannot post a file
    assert not box.is_visible() and field.is_disabled()
    assert page.locator("#reply-form button[type=submit]").inner_text() == "Log reply (not sent)"
    # and back on email it returns
    page.select_option("#reply-via", "email")
    assert box.is_visible() and field.is_enabled()
