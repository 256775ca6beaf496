"""A real HTTP receiver for the webhook tests (``Receiver``): its fixture, ``receiver``, is in
tests/conftest.py (the outbox's tests use it too)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lastmile.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_verify


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


POLL = 0.02  # seconds: how soon close() returns


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
        # shutdown() waits for serve_forever to look at its flag, once a poll_interval: 0.5 s
        # by default, half a second at every test's teardown.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL}, daemon=True
        )
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


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody"
