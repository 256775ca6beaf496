"""The ``clickhouse://`` path: the engine through the official ``clickhouse-connect``
client over HTTP. No ClickHouse server recent enough installs from the package registries
here (Debian's is 18.16, without window functions), so the client talks to a small HTTP
front (below) that hands each request to ClickHouse embedded by chdb: the client, its
parameter binding, its Native inserts and result decoding are the real ones, and so is the
SQL engine; only the server's HTTP layer is this stand-in."""

from __future__ import annotations

import secrets
import tempfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import lz4.frame
import pytest

from lastmile.funnels.engines.chdb_session import ChdbSession
from lastmile.funnels.engines.clickhouse import ClickHouseEngine, engine_from_url
from tests.funnels import reference
from tests.funnels.strategies import BASE, as_rows
from tests.funnels.test_clickhouse import NASTY, counts, define, many_events, shared_session

PORT = 8102  # 8100 + this helper's N


def _form(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
        for part in message.iter_parts()
    }


class Front(BaseHTTPRequestHandler):
    """ClickHouse's HTTP interface, as far as clickhouse-connect uses it: the query (URL,
    form or body), ``param_*`` values, and an INSERT's data in the body."""

    session: ChdbSession

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "lz4":
            body = lz4.frame.decompress(body)
        self._answer(body)

    def _answer(self, body: bytes) -> None:
        fields = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        kind = self.headers.get("Content-Type") or ""
        if kind.startswith("multipart/form-data"):
            fields.update(_form(kind, body))
            body = b""
        query = fields.get("query", "")
        params = {k[6:]: v for k, v in fields.items() if k.startswith("param_")}
        try:
            if body.startswith(b"INSERT INTO ") and b" FORMAT Native\n" in body:
                # the statement, then the rows in Native format
                head, rows = body.split(b" FORMAT Native\n", 1)
                with tempfile.NamedTemporaryFile(suffix=".native") as data:
                    data.write(rows)
                    data.flush()
                    sql = f"{head.decode()} FROM INFILE '{data.name}' FORMAT Native"
                    out = self.session.raw(sql, "Native", params)
            else:
                # the server's default format when the query names none
                out = self.session.raw(query + body.decode(), "TabSeparated", params)
        except Exception as e:  # the server's error, as the server reports it
            text = str(e).encode()
            self.send_response(500)
            self.send_header("X-ClickHouse-Exception-Code", "1")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("X-ClickHouse-Format", "Native")
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Summary", '{"written_rows":"0"}')
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    Front.session = shared_session()
    httpd = ThreadingHTTPServer(("127.0.0.1", PORT), Front)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{PORT}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def engine(server, tmp_path) -> Iterator[ClickHouseEngine]:
    engine = engine_from_url(f"clickhouse://default@{server}/t_{secrets.token_hex(6)}", tmp_path)
    assert isinstance(engine, ClickHouseEngine)
    try:
        yield engine
    finally:
        engine.drop()


def test_a_clickhouse_url_answers_as_the_embedded_engine_does(engine, tmp_path):
    # given the same events copied through clickhouse-connect and into chdb directly
    rows = as_rows(many_events(n=400, people=40))
    engine.append(rows[:200], first=1, last=200)
    engine.append(rows[200:], first=201, last=400)
    embedded = ClickHouseEngine(shared_session(), database=f"t_{secrets.token_hex(6)}")
    try:
        embedded.append(rows, first=1, last=400)
        d = define(
            {"event": "A", "where": [{"property": "plan", "op": "contains", "value": "pro"}]},
            {"event": "B", "optional": True},
            "C",
            window=40,
            end=60,
            breakdown={"property": "n"},
        )

        # then the funnel, its trend and its drop-offs are the same
        assert engine.mark() == 400
        reference.assert_same(engine.funnel(d), embedded.funnel(d))
        assert engine.funnel(d).people > 5
        assert engine.trend(d) == embedded.trend(d)
        now = BASE + timedelta(seconds=50)
        assert engine.dropoffs(d, step=2, now=now) == embedded.dropoffs(d, step=2, now=now)
    finally:
        embedded.drop()


def test_values_sent_by_the_client_never_become_sql(engine):
    # given events named with quotes, backslashes and newlines, merged customers too
    evs = [
        reference.Event(i + 1, 1, int(BASE.timestamp()) * 10**6 + i, "track", text, {"v": text})
        for i, text in enumerate(NASTY)
    ]
    engine.append(as_rows(evs), first=1, last=len(evs))
    engine.people_write(merged=[(2, 1)], moved=[(1, 1)])

    # then each name and value matches itself
    for text in NASTY:
        d = define(
            {"event": text, "where": [{"property": "v", "op": "equals", "value": text}]}, "X"
        )
        assert counts(engine.funnel(d)) == [1, 0], text


def test_the_url_names_host_port_user_and_database(server, tmp_path):
    engine = engine_from_url(
        f"clickhouse://default:@{server}/t_url_{secrets.token_hex(4)}", Path(tmp_path)
    )
    try:
        assert isinstance(engine, ClickHouseEngine) and engine.database.startswith("t_url_")
        assert engine.mark() == 0
    finally:
        engine.drop()
