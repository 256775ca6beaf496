"""The Segment-compatible event API, driven by the real segment-analytics-python client
and by raw HTTP against a live server."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.db import connection

from lastmile.channels import segment
from lastmile.channels.models import Source
from lastmile.core.ids import token_hash
from lastmile.customers.models import Customer, Identity, Interaction
from tests.cli import lastmile

analytics_client = pytest.importorskip("segment.analytics.client")
analytics_request = pytest.importorskip("segment.analytics.request")


@pytest.fixture(autouse=True)
def _close_client_connections():
    # The client keeps one module-wide keep-alive session; a kept-alive connection keeps a
    # live-server thread (and its database session) alive past the test.
    yield
    analytics_request._session.close()


@pytest.fixture
def write_key(transactional_db):
    _, key = segment.source_create(name="shop", now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    return key


@pytest.fixture
def sync_client(live_server, write_key):
    """The real client in sync mode: every call is one POST /v1/batch, errors raise."""
    return analytics_client.Client(
        write_key=write_key, host=live_server.url, sync_mode=True, max_retries=0
    )


def post(live_server, path: str, body, key: str | None, **kwargs) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = (key, "") if key is not None else None
    return requests.post(
        f"{live_server.url}/v1/{path}",
        data=data,
        auth=auth,
        headers={"Content-Type": "application/json", **kwargs.pop("headers", {})},
        timeout=30,
        **kwargs,
    )


def customer_of(kind: str, value: str, network: str = "") -> Customer:
    ident = Identity.objects.get(kind=kind, network=network, value=value)
    customer = ident.customer
    while customer.merged_into_id is not None:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def counts() -> tuple[int, int, int]:
    return Interaction.objects.count(), Customer.objects.count(), Identity.objects.count()


def track(i: int, **extra) -> dict:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "u-1",
        "messageId": f"m-{i}",
        "properties": {"total": i},
        **extra,
    }


# --- the real client ----------------------------------------------------------------------


def test_every_call_type_from_the_client_arrives_once_on_the_users_timeline(sync_client):
    sync_client.identify("u-1", {"email": "Ada@Example.com", "name": "Ada"})
    sync_client.track("u-1", "Order Completed", {"total": 42})
    sync_client.page("u-1", name="Checkout", properties={"path": "/checkout"})
    sync_client.screen("u-1", name="Basket")
    sync_client.group("u-1", "acme", {"plan": "pro"})
    sync_client.alias("anon-7", "u-1")

    ada = customer_of("external", "u-1", "segment")
    rows = list(Interaction.objects.filter(customer=ada).order_by("id"))
    assert [(r.channel, r.body) for r in rows] == [
        ("web", "Identified"),
        ("web", "Order Completed"),
        ("web", "Viewed page Checkout"),
        ("app", "Viewed screen Basket"),
        ("web", "Joined group acme"),
        ("web", "Alias anon-7 → u-1"),
    ]
    assert all(r.direction == "inbound" and r.source_id.startswith("segment:") for r in rows)
    assert rows[1].data["properties"] == {"total": 42}
    assert rows[1].data["context"]["library"]["name"] == "analytics-python"
    assert Interaction.objects.count() == 6


def test_a_track_with_only_the_user_id_lands_on_the_customer_identify_found_by_email(sync_client):
    sync_client.identify("u-2", {"email": "grace@example.com"})
    sync_client.track("u-2", "Signed In")

    grace = customer_of("email", "grace@example.com")
    assert customer_of("external", "u-2", "segment") == grace
    assert list(grace.interactions.values_list("body", flat=True).order_by("id")) == [
        "Identified",
        "Signed In",
    ]


def test_an_identify_names_a_customer_that_has_no_name_yet(sync_client):
    sync_client.identify("u-3", {"email": "ada@example.com", "firstName": "Ada", "lastName": "L"})
    sync_client.identify("u-4", {"name": "  Grace   Hopper "})
    sync_client.identify("u-3", {"name": "Someone Else"})

    assert customer_of("external", "u-3", "segment").display_name == "Ada L"
    assert customer_of("external", "u-4", "segment").display_name == "Grace Hopper"


def test_the_batching_client_delivers_each_event_once(live_server, write_key):
    batching = analytics_client.Client(
        write_key=write_key, host=live_server.url, upload_interval=0.05, upload_size=50
    )
    for i in range(120):
        batching.track(f"user-{i % 7}", "Clicked", {"i": i})
    batching.shutdown()  # flush: waits until every queued event was uploaded

    assert Interaction.objects.count() == 120
    assert Customer.objects.count() == 7


def test_the_client_retries_after_a_429_and_the_event_arrives_once(
    live_server, write_key, monkeypatch
):
    monkeypatch.setattr(segment, "LOCK_WAIT_MS", 50)
    refused = threading.Event()
    original = segment.events_record

    def watched(**kwargs):  # observe the refusal; the behaviour is the real one
        try:
            return original(**kwargs)
        except segment.Saturated:
            refused.set()
            raise

    monkeypatch.setattr(segment, "events_record", watched)
    batching = analytics_client.Client(
        write_key=write_key, host=live_server.url, upload_interval=0.05
    )
    with write_lock():
        batching.track("u-9", "Paid")
        assert refused.wait(timeout=30)
    batching.shutdown()

    assert list(Interaction.objects.values_list("body", flat=True)) == ["Paid"]


# --- deduplication, identities, time ------------------------------------------------------


def test_a_retried_batch_is_stored_once(live_server, write_key):
    batch = {"batch": [track(1), track(2)], "sentAt": "2026-11-23T10:00:00Z"}

    first = post(live_server, "batch", batch, write_key)
    again = post(live_server, "batch", batch, write_key)

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == {"success": True}
    assert sorted(Interaction.objects.values_list("source_id", flat=True)) == [
        "segment:m-1",
        "segment:m-2",
    ]


def test_the_same_message_id_twice_in_one_batch_is_stored_once(live_server, write_key):
    response = post(live_server, "batch", {"batch": [track(1), track(1)]}, write_key)

    assert response.status_code == 200
    assert Interaction.objects.count() == 1


def test_a_single_track_call_is_accepted(live_server, write_key):
    response = post(live_server, "track", track(5), write_key)

    assert response.status_code == 200
    assert Interaction.objects.get().body == "Order Completed"


def test_a_gzipped_batch_is_accepted(live_server, write_key):
    body = gzip.compress(json.dumps({"batch": [track(1)]}).encode())

    response = post(live_server, "batch", body, write_key, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 200
    assert Interaction.objects.count() == 1


def test_clock_skew_is_corrected_from_sent_at(live_server, write_key):
    # The device's clock is a day fast; the event happened 5 s before it was sent.
    message = track(1, timestamp="2026-11-24T10:00:00Z", sentAt="2026-11-24T10:00:05Z")

    before = datetime.now(UTC)
    post(live_server, "batch", {"batch": [message]}, write_key)
    after = datetime.now(UTC)

    row = Interaction.objects.get()
    assert before - timedelta(seconds=5) <= row.occurred_at <= after - timedelta(seconds=5)
    assert row.data["timestamp"] == "2026-11-24T10:00:00Z"
    assert row.data["sentAt"] == "2026-11-24T10:00:05Z"


def test_the_batch_sent_at_applies_to_each_message(live_server, write_key):
    message = track(1, timestamp="2020-01-01T00:00:00Z")

    before = datetime.now(UTC)
    post(live_server, "batch", {"batch": [message], "sentAt": "2020-01-01T00:01:00Z"}, write_key)
    after = datetime.now(UTC)

    row = Interaction.objects.get()
    assert before - timedelta(minutes=1) <= row.occurred_at <= after - timedelta(minutes=1)


def test_a_timestamp_without_sent_at_is_taken_as_is(live_server, write_key):
    post(live_server, "track", track(1, timestamp="2026-01-02T03:04:05+01:00"), write_key)

    assert Interaction.objects.get().occurred_at == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)


def test_an_invalid_email_trait_is_skipped_and_recorded(live_server, write_key):
    identify = {
        "type": "identify",
        "userId": "u-3",
        "messageId": "i-1",
        "traits": {"email": "not-an-email", "phone": "+44 20 7946 0000"},
    }

    response = post(live_server, "identify", identify, write_key)

    assert response.status_code == 200
    row = Interaction.objects.get()
    assert row.data["lastmile"]["skipped_traits"][0]["field"] == "traits.email"
    assert sorted(row.customer.identities.values_list("kind", "value")) == [
        ("external", "u-3"),
        ("phone", "+442079460000"),
    ]


def test_alias_merges_the_anonymous_visitor_into_the_known_user(live_server, write_key):
    post(
        live_server,
        "page",
        {"anonymousId": "anon-1", "messageId": "p-1", "name": "Home"},
        write_key,
    )
    post(live_server, "track", track(1, userId="u-4"), write_key)
    assert customer_of("anonymous", "anon-1") != customer_of("external", "u-4", "segment")

    post(
        live_server,
        "alias",
        {"previousId": "anon-1", "userId": "u-4", "messageId": "a-1"},
        write_key,
    )

    assert customer_of("anonymous", "anon-1") == customer_of("external", "u-4", "segment")
    assert customer_of("external", "u-4", "segment").interactions.count() == 3


# --- refusals: a clear 4xx, nothing written ------------------------------------------------


def test_an_unknown_write_key_is_refused_with_401(live_server, write_key):
    response = post(live_server, "batch", {"batch": [track(1)]}, "wk_not-a-key")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert counts() == (0, 0, 0)


def test_a_missing_write_key_is_refused_with_401(live_server, write_key):
    response = post(live_server, "batch", {"batch": [track(1)]}, None)

    assert response.status_code == 401
    assert counts() == (0, 0, 0)


def test_a_revoked_write_key_is_refused_with_401(live_server, write_key):
    segment.source_revoke(
        source=Source.objects.get(name="shop"), actor=None, now=datetime(2026, 11, 23, tzinfo=UTC)
    )

    response = post(live_server, "batch", {"batch": [track(1)]}, write_key)

    assert response.status_code == 401
    assert counts() == (0, 0, 0)


def test_an_oversize_message_is_refused_with_400_naming_its_index(live_server, write_key):
    big = track(2, properties={"blob": "x" * (33 * 1024)})

    response = post(live_server, "batch", {"batch": [track(1), big]}, write_key)

    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["index"] == 1 and "32 KB" in body["detail"]
    assert counts() == (0, 0, 0)


def test_an_oversize_single_call_is_refused_with_400(live_server, write_key):
    response = post(
        live_server, "track", track(1, properties={"blob": "x" * (33 * 1024)}), write_key
    )

    assert response.status_code == 400
    assert counts() == (0, 0, 0)


def test_an_oversize_batch_is_refused_with_413(live_server, write_key):
    batch = [track(i, properties={"blob": "x" * (20 * 1024)}) for i in range(30)]

    response = post(live_server, "batch", {"batch": batch}, write_key)

    assert response.status_code == 413
    assert "500 KB" in response.json()["detail"]
    assert counts() == (0, 0, 0)


def test_malformed_json_is_refused_with_400(live_server, write_key):
    response = post(live_server, "batch", b'{"batch": [', write_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
    assert counts() == (0, 0, 0)


def test_one_invalid_message_rejects_the_whole_batch(live_server, write_key):
    bad = {"type": "track", "userId": "u-1", "messageId": "m-2"}  # no event name

    response = post(live_server, "batch", {"batch": [track(1), bad]}, write_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "event", "reason": "a track call needs an event name"}
    ]
    assert counts() == (0, 0, 0)


def test_a_message_without_any_user_is_refused(live_server, write_key):
    response = post(live_server, "track", {"event": "x", "messageId": "m"}, write_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "userId"


def test_a_bad_timestamp_is_refused_naming_the_field(live_server, write_key):
    response = post(live_server, "track", track(1, timestamp="yesterday"), write_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "timestamp"


# --- back-pressure ------------------------------------------------------------------------


class write_lock:
    """Another connection holds the database's write lock until the block ends."""

    def __enter__(self):
        settings = connection.settings_dict
        if connection.vendor == "sqlite":
            self.conn = sqlite3.connect(settings["NAME"], isolation_level=None, timeout=30)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(
                host=settings["HOST"],
                port=settings["PORT"] or 5432,
                user=settings["USER"],
                dbname=settings["NAME"],
            )
            self.conn.execute(f"LOCK TABLE {Interaction._meta.db_table} IN EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


def test_a_locked_database_answers_429_with_retry_after_and_writes_nothing(
    live_server, write_key, monkeypatch
):
    monkeypatch.setattr(segment, "LOCK_WAIT_MS", 50)

    with write_lock():
        response = post(live_server, "batch", {"batch": [track(1)]}, write_key)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "busy"
    assert counts() == (0, 0, 0)
    assert post(live_server, "batch", {"batch": [track(1)]}, write_key).status_code == 200


# --- the command --------------------------------------------------------------------------


def test_source_create_prints_the_write_key_alone(transactional_db, cli_env):
    result = lastmile(cli_env, "source", "create", "mobile-app", "--kind", "segment")

    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n" and " " not in key
    source = Source.objects.get(name="mobile-app")
    assert source.key_hash == token_hash(key) and source.kind == "segment"


def test_a_source_added_in_the_admin_shows_its_write_key_once(client, staff):

    response = client.post(
        "/admin/channels/source/add/", {"name": "web-shop", "kind": "segment"}, follow=True
    )

    shown = [str(m) for m in response.context["messages"] if "Write key" in str(m)]
    key = shown[0].rsplit(": ", 1)[1]
    assert Source.objects.get(name="web-shop").key_hash == token_hash(key)
    assert segment.source_for_key(key).name == "web-shop"


def test_nan_in_a_message_is_refused_with_400(live_server, write_key):
    body = b'{"batch": [{"type": "track", "event": "x", "userId": "u", "properties": {"v": NaN}}]}'

    response = post(live_server, "batch", body, write_key)

    assert response.status_code == 400
    assert counts() == (0, 0, 0)


def test_a_nul_character_is_refused_with_400(live_server, write_key):
    response = post(live_server, "track", track(1, event="Paid\u0000"), write_key)

    assert response.status_code == 400
    assert counts() == (0, 0, 0)


def test_a_very_long_message_id_still_deduplicates(live_server, write_key):
    message = track(1, messageId="m" * 250)

    post(live_server, "track", message, write_key)
    response = post(live_server, "track", message, write_key)

    assert response.status_code == 200
    assert Interaction.objects.count() == 1


def test_a_get_is_refused_with_405_in_the_error_shape(live_server, write_key):
    response = requests.get(f"{live_server.url}/v1/batch", timeout=30)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
