"""Back-pressure: while another connection holds a lock, an ingest request answers 503 (429
for Segment) with Retry-After and stores nothing; the retry after the lock is gone stores
it, once. Real HTTP against a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest
import requests
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from lastmile.api.services import token_create
from lastmile.channels import segment
from lastmile.core.backpressure import busy_of, is_ingest
from lastmile.customers.models import Customer, Interaction
from lastmile.listening.models import Author, Mention
from lastmile.webhooks.models import Integration
from lastmile.webhooks.services.integrations import integration_create
from lastmile.webhooks.signing import signature_headers
from tests.people.factories import TeamFactory

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LOCK_MS = 200


@pytest.fixture(autouse=True)
def short_timeouts(settings):
    settings.LASTMILE_DB_LOCK_TIMEOUT_MS = LOCK_MS
    settings.LASTMILE_DB_STATEMENT_TIMEOUT_MS = 10_000


class held_lock:
    """Another connection holds a lock on ``table`` until the block ends: on PostgreSQL
    ``ACCESS EXCLUSIVE`` (no read or write of the table gets past it); on SQLite the
    database's write lock (``BEGIN IMMEDIATE``), since SQLite locks the whole file."""

    def __init__(self, table: str) -> None:
        self.table = table

    def __enter__(self) -> held_lock:
        s = connection.settings_dict
        if connection.vendor == "sqlite":
            self.conn = sqlite3.connect(s["NAME"], isolation_level=None, timeout=30)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(
                host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"]
            )
            self.conn.execute(f'LOCK TABLE "{self.table}" IN ACCESS EXCLUSIVE MODE')
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()


def assert_busy(response: requests.Response, status: int = 503) -> dict:
    assert response.status_code == status, response.text
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "busy"
    return body


@pytest.fixture
def token(transactional_db) -> str:
    return token_create(name="ingest", now=NOW)[1]


def api_post(live_server, token: str, path: str, body: dict) -> requests.Response:
    return requests.post(
        f"{live_server.url}/api/v1{path}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=10,
    )


# --- the interactions API -----------------------------------------------------------------


def interactions(n: int) -> dict:
    return {
        "items": [
            {
                "source_id": f"order-{i}",
                "channel": "email",
                "direction": "inbound",
                "occurred_at": "2026-11-23T09:00:00Z",
                "customer": {"identities": [{"kind": "email", "value": f"c{i}@example.com"}]},
                "body": f"Where is order {i}?",
            }
            for i in range(n)
        ]
    }


def test_an_interactions_batch_against_a_locked_table_is_503_and_stored_once_on_retry(
    live_server, token
):
    batch = interactions(3)

    with held_lock(Interaction._meta.db_table):
        refused = api_post(live_server, token, "/interactions/batch", batch)

    body = assert_busy(refused)
    reason = "database_locked" if connection.vendor == "sqlite" else "lock_timeout"
    assert body["errors"] == [{"index": None, "field": "database", "reason": reason}]
    assert (Interaction.objects.count(), Customer.objects.count()) == (0, 0)

    retried = api_post(live_server, token, "/interactions/batch", batch)
    again = api_post(live_server, token, "/interactions/batch", batch)

    assert (retried.status_code, again.status_code) == (200, 200)
    assert retried.json()["ids"] == again.json()["ids"]
    assert sorted(Interaction.objects.values_list("source_id", flat=True)) == [
        "order-0",
        "order-1",
        "order-2",
    ]


@pytest.mark.postgres_only
def test_a_statement_past_the_statement_timeout_is_503_naming_it(live_server, token, settings):
    settings.LASTMILE_DB_LOCK_TIMEOUT_MS = 0  # no lock limit: the statement's own one ends it
    settings.LASTMILE_DB_STATEMENT_TIMEOUT_MS = LOCK_MS

    with held_lock(Interaction._meta.db_table):
        refused = api_post(live_server, token, "/interactions", interactions(1)["items"][0])

    assert assert_busy(refused)["errors"][0]["reason"] == "statement_timeout"
    assert Interaction.objects.count() == 0


# --- mentions -----------------------------------------------------------------------------


def mentions(n: int) -> dict:
    return {
        "items": [
            {
                "external_id": f"t{i}",
                "author": {"handle": f"@user{i}", "followers": 10 + i},
                "text": f"thinking about parcels, number {i}",
                "posted_at": "2026-11-23T09:00:00Z",
            }
            for i in range(n)
        ]
    }


def test_a_mentions_batch_against_a_locked_table_is_503_and_stored_once_on_retry(
    live_server, token
):
    batch = mentions(2)

    with held_lock(Mention._meta.db_table):
        refused = api_post(live_server, token, "/mentions/batch", batch)

    assert_busy(refused)
    assert (Mention.objects.count(), Author.objects.count()) == (0, 0)

    retried = api_post(live_server, token, "/mentions/batch", batch)
    again = api_post(live_server, token, "/mentions/batch", batch)

    assert retried.status_code == 200, retried.text
    assert (retried.json()["created"], again.json()["existing"]) == (2, 2)
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["t0", "t1"]


# --- Segment ------------------------------------------------------------------------------


def test_a_segment_batch_against_a_locked_table_is_429_and_stored_once_on_retry(
    live_server, transactional_db, monkeypatch
):
    # Segment bounds its own lock wait (LOCK_WAIT_MS) and answers 429, which its clients retry.
    monkeypatch.setattr(segment, "LOCK_WAIT_MS", LOCK_MS)
    _, key = segment.source_create(name="shop", now=NOW)
    batch = {
        "batch": [
            {"type": "track", "event": "Paid", "userId": "u-1", "messageId": f"m-{i}"}
            for i in range(2)
        ]
    }

    def send() -> requests.Response:
        return requests.post(
            f"{live_server.url}/v1/batch",
            data=json.dumps(batch),
            auth=(key, ""),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )

    with held_lock(Interaction._meta.db_table):
        refused = send()

    assert_busy(refused, status=429)
    assert Interaction.objects.count() == 0
    assert (send().status_code, send().status_code) == (200, 200)
    assert sorted(Interaction.objects.values_list("source_id", flat=True)) == [
        "segment:m-0",
        "segment:m-1",
    ]


# --- a messaging integration's inbound webhook (a plain view: the middleware answers) ------


@pytest.fixture
def sms(transactional_db) -> Integration:
    team = TeamFactory(name="Front office", slug="front")
    integration, secret = integration_create(
        name="Shop SMS", channel="sms", team=team, url="", now=datetime.now(UTC)
    )
    integration.test_secret = secret  # type: ignore[attr-defined]
    return integration


def test_an_inbound_sms_against_a_locked_database_is_503_and_stored_once_on_retry(live_server, sms):
    raw = json.dumps(
        {
            "channel": "sms",
            "from": "+44 7911 123456",
            "to": "+447700900123",
            "text": "Hello",
            "media": [],
            "external_id": "SM0001",
            "timestamp": datetime.now(UTC).isoformat(),
        }
    ).encode()

    def send() -> requests.Response:
        signed = signature_headers(sms.test_secret, raw, now=datetime.now(UTC))  # type: ignore[attr-defined]
        return requests.post(
            f"{live_server.url}/hooks/in/{sms.slug}",
            data=raw,
            headers={"Content-Type": "application/json", **signed},
            timeout=10,
        )

    with held_lock(Interaction._meta.db_table):
        refused = send()

    assert_busy(refused)
    assert (Interaction.objects.count(), Customer.objects.count()) == (0, 0)
    assert (send().status_code, send().status_code) == (201, 200)
    assert Interaction.objects.count() == 1


# --- who gets the short timeouts ----------------------------------------------------------


def lock_wait_setting() -> str:
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("PRAGMA busy_timeout")
        else:
            cur.execute("SHOW lock_timeout")
        return str(cur.fetchone()[0])


def test_a_console_request_after_an_ingest_request_has_the_databases_own_timeouts(client, token):
    # Django's client runs the requests in this thread, on this test's connection.
    before = lock_wait_setting()

    client.post(
        "/api/v1/interactions/batch",
        json.dumps(interactions(1)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    client.get("/login/")

    assert lock_wait_setting() == before
    assert before in ("0", "20000")  # not the ingest's LOCK_MS


@pytest.mark.postgres_only
def test_a_connections_next_ingest_request_does_not_set_the_timeouts_again(client, token):
    def ingest(n: int) -> None:
        body = json.dumps({"items": [interactions(n + 1)["items"][n]]})
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        client.post("/api/v1/interactions/batch", body, "application/json", **headers)

    ingest(0)
    with CaptureQueriesContext(connection) as queries:
        ingest(1)

    assert Interaction.objects.count() == 2
    assert lock_wait_setting() == f"{LOCK_MS}ms"  # still on: the next ingest needs it
    assert not [q for q in queries.captured_queries if "set_config" in q["sql"]]


# --- which errors are a busy database -----------------------------------------------------


def test_a_broken_constraint_is_not_a_busy_database(transactional_db):
    Customer.objects.create(display_name="Ada", created_at=NOW)
    try:
        with transaction.atomic():
            Customer.objects.create(pk=Customer.objects.get().pk, created_at=NOW)
    except IntegrityError as exc:
        assert busy_of(exc) is None
    else:
        pytest.fail("the duplicate primary key was accepted")


@pytest.mark.postgres_only
def test_a_refused_connection_is_a_busy_database(transactional_db):
    from django.db.backends.postgresql.base import DatabaseWrapper

    refused = DatabaseWrapper({**connection.settings_dict, "PORT": 1}, alias="refused")
    try:
        refused.ensure_connection()
    except Exception as exc:
        busy = busy_of(exc)
        assert busy is not None and busy.reason == "database_unavailable"
    else:
        pytest.fail("a connection to port 1 was accepted")


# --- which requests are ingest ------------------------------------------------------------

INGEST = [
    "/api/v1/interactions",
    "/api/v1/interactions/batch",
    "/api/v1/mentions/batch",
    "/api/v1/mail/inbound",
    "/api/v1/surveys/1/responses",
    "/v1/batch",
    "/v1/track",
    "/hooks/in/shop-sms",
    "/hooks/onfleet",
    "/portal/uploads/1/proof/",
    "/feedback/r/abc/",
]


@pytest.mark.parametrize("path", INGEST)
def test_a_write_from_outside_gets_the_ingest_timeouts(rf, path):
    assert is_ingest(rf.post(path))
    assert not is_ingest(rf.get(path))


@pytest.mark.parametrize("path", ["/cases/LM-1/status/", "/login/", "/admin/auth/user/add/"])
def test_an_agents_write_in_the_console_keeps_the_databases_timeouts(rf, path):
    assert not is_ingest(rf.post(path))
