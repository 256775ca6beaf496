"""The one place webhooks leave the process: a signed JSON POST, and what came back; and
``url_check``, which refuses a URL no POST could be sent to when someone sets it.

Every request goes through ``lastmile.core.netguard`` first: the URL's host is resolved,
every address checked, and the connection made to a checked address (``_PinnedAdapter``),
with the name kept for the ``Host`` header, TLS SNI and certificate verification. So a name
that answers with a public address at the check and with ``127.0.0.1`` a moment later (DNS
rebinding) cannot reach the inside: there is no second lookup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.netguard import (
    Resolver,
    TargetRefused,
    host_ascii,
    target_check,
    url_split,
)
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
    # Not sent, and sending again will not help: the target is an internal address.
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return self.error
        text = f"HTTP {self.status}"
        return f"{text}: {self.excerpt}" if self.excerpt else text


def url_check(url: str, *, field_name: str = "url", required: bool = True) -> str:
    """An http(s) URL with a host that is not an internal address, or InvalidInput naming
    ``field_name``.

    The host is resolved and every address checked (``lastmile.core.netguard``). A name
    that does not resolve yet is accepted: there is nothing to reach now, and every request
    checks again before it connects (which is what stops DNS rebinding; this check only
    tells whoever sets the URL at once).
    """
    url = (url or "").strip()
    if not url:
        if required:
            raise InvalidInput(
                f"{field_name} is needed", [FieldError(field_name, "must not be empty")]
            )
        return ""
    try:
        parts = url_split(url)
    except TargetRefused as exc:
        raise InvalidInput(
            f"{url!r} is not a valid URL", [FieldError(field_name, exc.reason)]
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{url!r} is not an http(s) URL",
            [FieldError(field_name, "must be an http:// or https:// URL with a host")],
        )
    if len(url) > 500:
        raise InvalidInput(
            "the URL is too long", [FieldError(field_name, "at most 500 characters")]
        )
    try:
        host_ascii(parts.hostname)
    except TargetRefused as exc:
        raise InvalidInput(
            f"{field_name} names a host that cannot be looked up",
            [FieldError(field_name, exc.reason)],
        ) from None
    try:
        target_check(url)
    except TargetRefused as exc:
        if exc.final:
            raise InvalidInput(
                f"{field_name} may not point at an internal address",
                [FieldError(field_name, exc.reason)],
            ) from None
    return url


def post_signed(
    *,
    url: str,
    secret: str,
    body: bytes,
    now: datetime,
    headers: dict[str, str] | None = None,
    timeout: float = READ_TIMEOUT,
    resolver: Resolver | None = None,
    verify: bool | str = True,
) -> Outcome:
    """POST ``body`` to ``url`` signed at ``now``; never raises for network trouble, nor
    for a request that cannot be written: every failure is an ``Outcome``.

    1. Check the target (``netguard.target_check``): an internal address is refused before
       any connection (``Outcome.refused``); a name that does not resolve is an error that
       a later attempt may not have.
    2. Connect to the first checked address that accepts a connection (the next one only
       when the connection could not be opened, so nothing is sent twice).

    Redirects are not followed (a 3xx is a failure): the signature is for this URL, and a
    receiver that moved should be reconfigured, not chased. Proxy settings from the
    environment are ignored: the request goes to the address that was checked. ``verify``
    is requests' (a CA bundle's path for a receiver with a private CA).
    """
    started = time.monotonic()
    try:
        target = target_check(url, resolver=resolver)
    except TargetRefused as exc:
        return Outcome(
            status=None,
            error=f"refused before sending: {exc.reason}"[:EXCERPT_BYTES],
            refused=exc.final,
            duration_ms=_since(started),
        )
    sent = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(secret, body, now=now),
        **(headers or {}),
        # The checked host in ASCII (an international name's IDNA form), never as typed:
        # http.client writes headers in Latin-1, and a receiver reads the punycode name.
        "Host": target.authority,
    }
    for n, address in enumerate(target.addresses):
        try:
            with requests.Session() as session:
                session.trust_env = False
                session.mount(f"{target.scheme}://", _PinnedAdapter(address, target.host))
                with session.post(
                    url,
                    data=body,
                    headers=sent,
                    timeout=(CONNECT_TIMEOUT, timeout),
                    allow_redirects=False,
                    stream=True,
                    verify=verify,
                ) as response:
                    head = next(response.iter_content(EXCERPT_BYTES), b"")
                    status = response.status_code
        except requests.RequestException as exc:
            if _not_connected(exc) and n + 1 < len(target.addresses):
                continue
            return _failed(exc, started)
        except (HTTPException, OSError, UnicodeError, ValueError) as exc:
            # The request could not be written or read (a header value that is not
            # Latin-1, an answer http.client cannot parse): this request's failure.
            return _failed(exc, started)
        excerpt = head[:EXCERPT_BYTES].decode("utf-8", errors="replace").strip()
        return Outcome(status=status, excerpt=excerpt, duration_ms=_since(started))
    raise AssertionError("target_check returns at least one address")


class _PinnedAdapter(HTTPAdapter):
    """Connects to ``address`` whatever the URL's host resolves to now; the host name
    stays the TLS server name (SNI) and the name the certificate must match."""

    def __init__(self, address: str, host: str) -> None:
        super().__init__(max_retries=0)
        self._address = address
        self._host = host

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host_params["host"] = self._address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._host
            pool_kwargs["assert_hostname"] = self._host
        return host_params, pool_kwargs


def _not_connected(exc: requests.RequestException) -> bool:
    """True when no connection was opened (so no byte of the request left)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, NewConnectionError)


def _failed(exc: Exception, started: float) -> Outcome:
    return Outcome(
        status=None,
        error=f"{type(exc).__name__}: {exc}"[:EXCERPT_BYTES],
        duration_ms=_since(started),
    )


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
