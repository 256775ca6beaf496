"""Bodies over a real connection to ``lastmile serve`` (gunicorn) (issue 11, point 12).

A chunked body (no Content-Length) read as empty: it is now a 411 saying to send a length.
After a 413 or a 411 the same keep-alive connection answers the next request.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.net import free_port

# `lastmile serve` on its own SQLite file: the same on both passes.
pytestmark = pytest.mark.own_database


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    var = tmp_path_factory.mktemp("serve")
    env = dict(os.environ, LASTMILE_VAR_DIR=str(var), LASTMILE_MAX_BODY_BYTES="200000")
    env["LASTMILE_PORTAL_UPLOAD_MAX_BYTES"] = "100000"
    env["LASTMILE_DATABASE_URL"] = f"sqlite:///{var}/db.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lastmile.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("lastmile serve did not start")
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def next_request_works(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/api/v1/no-such-thing")
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["code"] == "not_found"


def test_a_chunked_body_is_refused_with_411_and_the_connection_goes_on(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    body = iter([b'{"subject": ', b'"chunked"}'])
    conn.request(
        "PATCH",
        "/api/v1/cases/LM-1",
        body=body,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    r = conn.getresponse()
    assert r.status == 411 and json.loads(r.read())["code"] == "length_required"
    next_request_works(conn)
    conn.close()


def test_after_a_413_the_same_connection_answers_the_next_request(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    conn.request(
        "POST",
        "/api/v1/interactions",
        body=b"x" * 300_000,
        headers={"Content-Type": "application/json"},
    )
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["code"] == "too_large"
    next_request_works(conn)
    conn.close()
