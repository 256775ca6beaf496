"""The one place webhooks leave the process: a signed JSON POST, and what came back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import requests

from lastmile.webhooks.signing import signature_headers

USER_AGENT = "lastmile-webhooks/1"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
EXCERPT_BYTES = 500


@dataclass(frozen=True)
class Outcome:
    """What one request got: a status (None if no answer came), the start of the body or
    the error, and how long it took."""

    status: int | None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return self.error
        text = f"HTTP {self.status}"
        return f"{text}: {self.excerpt}" if self.excerpt else text


def post_signed(
    *,
    url: str,
    secret: str,
    body: bytes,
    now: datetime,
    headers: dict[str, str] | None = None,
    timeout: float = READ_TIMEOUT,
) -> Outcome:
    """POST ``body`` to ``url`` signed at ``now``; never raises for network trouble.

    Redirects are not followed (a 3xx is a failure): the signature is for this URL, and a
    receiver that moved should be reconfigured, not chased.
    """
    sent = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(secret, body, now=now),
        **(headers or {}),
    }
    started = time.monotonic()
    try:
        with requests.post(
            url,
            data=body,
            headers=sent,
            timeout=(CONNECT_TIMEOUT, timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            head = next(response.iter_content(EXCERPT_BYTES), b"")
            status = response.status_code
    except requests.RequestException as exc:
        return Outcome(
            status=None,
            error=f"{type(exc).__name__}: {exc}"[:EXCERPT_BYTES],
            duration_ms=_since(started),
        )
    excerpt = head[:EXCERPT_BYTES].decode("utf-8", errors="replace").strip()
    return Outcome(status=status, excerpt=excerpt, duration_ms=_since(started))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
