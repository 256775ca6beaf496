"""A real HTTP receiver for the webhook tests (``Receiver``), and the signed POST against it."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lastmile.webhooks.sender import EXCERPT_BYTES, post_signed
from lastmile.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_verify

# The receiver listens on 127.0.0.1, an internal address refused unless allowed.
pytestmark = pytest.mark.usefixtures("webhooks_to_loopback")


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str, *, now: datetime | None = None) -> int:
        """Check the signature as a receiver would: raises SignatureError if it is wrong."""
        return signature_verify(
            secret=secret,
            body=self.body,
            timestamp=self.headers.get(TIMESTAMP_HEADER.lower()),
            signature=self.headers.get(SIGNATURE_HEADER.lower()),
            now=now or datetime.now(UTC),
        )


class Receiver:
    """An http.server in a thread: records every request, answers with the queued
    (status, body) replies in order, then 200 ``{"ok": true}``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: deque[tuple[int, bytes, dict[str, str]]] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, reply, headers = (
                    receiver.replies.popleft() if receiver.replies else (200, b'{"ok": true}', {})
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def reply(self, status: int, body: bytes | str = b"", headers: dict[str, str] | None = None):
        self.replies.append(
            (status, body.encode() if isinstance(body, str) else body, headers or {})
        )
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody"


# --- the signed POST ------------------------------------------------------------------------


def test_a_signed_post_arrives_with_a_signature_the_receiver_can_verify(receiver):
    now = datetime.now(UTC)
    outcome = post_signed(
        url=receiver.url, secret="whsec_s", body=b'{"a":1}', now=now, headers={"X-Extra": "1"}
    )

    assert outcome.ok and outcome.status == 200 and outcome.excerpt == '{"ok": true}'
    [got] = receiver.requests
    assert got.body == b'{"a":1}' and got.headers["content-type"] == "application/json"
    assert got.headers["x-extra"] == "1" and got.headers["user-agent"].startswith("lastmile")
    assert got.verify("whsec_s", now=now) == int(now.timestamp())


def test_an_error_answer_is_reported_with_the_start_of_its_body(receiver):
    receiver.reply(503, "x" * 5000)
    outcome = post_signed(url=receiver.url, secret="s", body=b"{}", now=datetime.now(UTC))

    assert not outcome.ok and outcome.status == 503
    assert outcome.excerpt == "x" * EXCERPT_BYTES
    assert outcome.describe().startswith("HTTP 503: xxx")


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver):
    receiver.reply(302, "", {"Location": receiver.url + "/elsewhere"})
    outcome = post_signed(url=receiver.url, secret="s", body=b"{}", now=datetime.now(UTC))

    assert not outcome.ok and outcome.status == 302 and len(receiver.requests) == 1


def test_nobody_listening_is_an_outcome_with_the_error_not_an_exception():
    outcome = post_signed(url=closed_port_url(), secret="s", body=b"{}", now=datetime.now(UTC))

    assert not outcome.ok and outcome.status is None
    assert "ConnectionError" in outcome.error and outcome.describe() == outcome.error
