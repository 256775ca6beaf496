"""Waiting until a browser page's network has gone quiet, for the browser tests.

Playwright's ``wait_for_load_state("networkidle")`` waits for 500 ms without a request after
the last one ended: half a second a page, whatever the page does. ``Quiet`` counts the
page's requests itself and waits for the load event, no request in flight and none started
or ended for ``QUIET`` seconds: the same condition, over a shorter quiet spell (on loopback
a page's own requests follow one another within milliseconds).
"""

from __future__ import annotations

import time
from typing import Any

QUIET = 0.1  # seconds without a request starting or ending
TIMEOUT = 15.0  # seconds: a page whose requests never end fails, as networkidle would


class Quiet:
    """Counts ``page``'s requests from now on (make it before the page's first goto)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.in_flight = 0
        self.last = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Any) -> None:
        self.in_flight += 1
        self.last = time.monotonic()

    def _ended(self, request: Any) -> None:
        self.in_flight -= 1
        self.last = time.monotonic()

    def wait(self, quiet: float = QUIET, timeout: float = TIMEOUT) -> None:
        """Until the page has loaded and its network has been quiet for ``quiet`` seconds."""
        self.page.wait_for_load_state("load")
        deadline = time.monotonic() + timeout
        # (the page's events reach these handlers while Playwright is waited on)
        while self.in_flight > 0 or time.monotonic() - self.last < quiet:
            assert time.monotonic() < deadline, f"{self.in_flight} requests still in flight"
            self.page.wait_for_timeout(20)
