"""The Segment API's fast path: what it stores, what it refuses, and the queries it costs.

Through Django's test client (no live server): these pin the parser and the ingest service
that the throughput work rewrote; tests/channels/test_segment.py drives the real client over HTTP.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.channels import segment
from lastmile.customers.models import Customer, Identity, Interaction, SentimentPending

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def key(db):
    return segment.source_create(name="shop", now=NOW)[1]


@pytest.fixture
def post(client, key):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    def post(body, path="batch"):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return client.post(
            f"/v1/{path}", data, content_type="application/json", HTTP_AUTHORIZATION=auth
        )

    return post


def track(i, user="u-1", **extra):
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": user,
        "messageId": f"m-{i}",
        "properties": {"total": i},
        **extra,
    }


def counts():
    return Interaction.objects.count(), Customer.objects.count(), Identity.objects.count()


def test_the_stored_data_is_the_message_less_its_key_with_what_lastmile_adds(post):
    msg = {
        **track(1),
        "type": "track",
        "writeKey": "secret",
        "sentAt": "2026-11-23T09:59:59Z",
        "timestamp": "2026-11-23T09:59:58Z",
        "properties": {"city": "Zürich", "emoji": "📦", "nested": {"a": [1, 2.5, None, True]}},
    }

    response = post({"batch": [msg], "context": {"ip": "10.0.0.1"}})

    assert response.status_code == 200, response.content
    data = Interaction.objects.get().data
    received = data.pop("receivedAt")
    assert datetime.fromisoformat(received).tzinfo is not None
    expected = {k: v for k, v in msg.items() if k != "writeKey"}
    assert data == {
        **expected,
        "context": {"ip": "10.0.0.1"},
        "lastmile": {"source": "shop"},
    }


def test_the_endpoint_type_replaces_the_messages_own_in_what_is_stored(post):
    response = post({**track(1), "type": "page", "name": "Home"}, path="track")

    assert response.status_code == 200, response.content
    assert Interaction.objects.get().data["type"] == "track"


def sized(target: int, **extra) -> dict:
    """A track message whose compact UTF-8 JSON is exactly ``target`` bytes."""
    msg = {**track(1), "sentAt": "2026-11-23T09:59:59Z", **extra, "properties": {"pad": ""}}
    size = len(json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode())
    msg["properties"]["pad"] = "é" * ((target - size) // 2) + "x" * ((target - size) % 2)
    assert len(json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()) == target
    return msg


@pytest.mark.parametrize("extra", [{}, {"writeKey": "k", "lastmile": {"x": 1}}])
def test_a_message_of_exactly_32_kb_is_accepted_and_one_byte_more_is_not(post, extra):
    ok = post({"batch": [sized(32 * 1024, **extra)]})
    too_big = post({"batch": [{**sized(32 * 1024 + 1, **extra), "messageId": "m-2"}]})

    assert ok.status_code == 200, ok.content
    assert too_big.status_code == 400
    assert too_big.json()["errors"][0] == {
        "index": 0,
        "field": "batch",
        "reason": "message is 32769 bytes; the limit is 32 KB per message",
    }
    assert counts()[0] == 1


def test_a_number_out_of_range_is_refused_with_400_and_nothing_is_written(post):
    body = json.dumps({"batch": [track(1)]}).replace('"total": 1', '"total": 1e400').encode()

    response = post(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 0
    assert counts() == (0, 0, 0)


def test_an_unpaired_surrogate_is_refused_with_400_and_nothing_is_written(post):
    body = json.dumps({"batch": [track(0), track(1, event="Order \ud800")]}).encode()

    response = post(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 1
    assert counts() == (0, 0, 0)


def test_an_unstorable_batch_context_is_refused_with_400(post):
    body = json.dumps({"batch": [track(1)], "context": {"x": "\udc00"}}).encode()

    response = post(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "context"
    assert counts() == (0, 0, 0)


def test_events_are_not_scored_for_sentiment(post):
    post({"batch": [track(1, event="I hate this, terrible")]})

    assert Interaction.objects.get().sentiment_label is None
    assert not SentimentPending.objects.exists()  # nor left for the worker to score


def test_a_batch_of_known_users_costs_the_same_queries_whatever_its_size(post):
    users = [f"u-{n}" for n in range(100)]
    assert post({"batch": [track(n, user=u) for n, u in enumerate(users)]}).status_code == 200

    def queries(n: int, offset: int) -> list[str]:
        batch = [track(offset + j, user=users[j]) for j in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            assert post({"batch": batch}).status_code == 200
        return [q["sql"].split()[0] for q in ctx.captured_queries]

    small, large = queries(2, 1000), queries(100, 2000)

    # 12, and on PostgreSQL the ingest timeouts' SET (core.backpressure), which a request inside
    # a transaction (this test's) sends each time and a served connection once
    assert len(small) == len(large) <= (13 if connection.vendor == "postgresql" else 12), large
    assert counts() == (202, 100, 100)
