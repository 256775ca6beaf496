"""POST /api/v1/mentions/batch and GET /api/v1/mentions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.customers.models import Customer, Interaction
from lastmile.listening.models import Author, Mention
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import Loop, SlaPolicy
from lastmile.people.models import Agent

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def token(db):
    return token_create(name="listening-integration", now=NOW)[1]


@pytest.fixture
def post(client, token):
    def _post(body, auth=token, raw=None):
        extra = {"HTTP_AUTHORIZATION": f"Bearer {auth}"} if auth else {}
        data = raw if raw is not None else json.dumps(body)
        return client.post("/api/v1/mentions/batch", data, content_type="application/json", **extra)

    return _post


@pytest.fixture
def setup(team):
    SlaPolicy.objects.create(
        name="Social", position=10, kind="reply", channel="social", first_reply_minutes=60
    )
    watchterm_create(
        name="Acme", query="@AcmeBank", kind="brand", brand_handle="@AcmeBank", team=team, now=NOW
    )


def item(n, **kw):
    base = {
        "external_id": f"t{n}",
        "author": {"handle": f"@user{n}", "followers": 100 + n, "verified": False},
        "text": f"@AcmeBank question number {n}",
        "posted_at": "2026-11-23T09:00:00Z",
    }
    base.update(kw)
    return base


def test_a_batch_is_stored_and_its_ids_returned_in_order(post, setup):
    r = post({"items": [item(1), item(2, text="just chatting about nothing")]})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["created"] == 2 and body["existing"] == 0
    ids = body["ids"]
    assert [Mention.objects.get(pk=i).external_id for i in ids] == ["t1", "t2"]
    first = Mention.objects.get(pk=ids[0])
    assert first.is_brand and first.sentiment_label in ("negative", "neutral", "positive")
    assert first.author.handle == "user1" and first.author.followers == 101
    assert Loop.objects.count() == 1


def test_the_same_batch_twice_is_idempotent(post, setup):
    body = {"items": [item(1), item(2)]}
    first = post(body).json()
    counts = [m.objects.count() for m in (Mention, Author, Customer, Interaction, Loop)]
    second = post(body).json()
    assert second == {"ids": first["ids"], "created": 0, "existing": 2}
    assert [m.objects.count() for m in (Mention, Author, Customer, Interaction, Loop)] == counts


def test_more_than_1000_items_is_a_422_and_nothing_is_written(post, setup):
    r = post({"items": [item(i) for i in range(1001)]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "items"
    assert not Mention.objects.exists()


def test_an_empty_batch_is_a_422(post, setup):
    assert post({"items": []}).status_code == 422


def test_one_bad_item_rejects_the_batch_naming_its_index_and_field(post, setup):
    r = post({"items": [item(1), item(2, posted_at="2026-11-23T09:00:00"), item(3)]})
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert (err["index"], err["field"]) == (1, "posted_at")
    assert "timezone" in err["reason"]
    assert not Mention.objects.exists() and not Interaction.objects.exists()


def test_a_bad_handle_is_a_422_from_the_shared_rules(post, setup):
    r = post({"items": [item(1), item(2, author={"handle": "not a handle!"})]})
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == "author.handle"
    assert not Mention.objects.exists()


def test_a_url_that_is_not_http_is_a_422(post, setup):
    r = post({"items": [item(1, url="javascript:alert(1)")]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"


def test_malformed_json_is_a_400(post, setup):
    assert post(None, raw="{nope").status_code == 400


def test_no_token_is_a_401(post, setup):
    assert post({"items": [item(1)]}, auth=None).status_code == 401


def test_an_agents_token_may_not_ingest(post, setup, alice):
    _, as_alice = token_create(name="alice", agent=Agent.objects.get(user=alice), now=NOW)
    r = post({"items": [item(1)]}, auth=as_alice)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert not Mention.objects.exists()


def test_the_list_filters_by_sentiment_scope_and_unanswered(client, token, post, setup):
    post(
        {
            "items": [
                item(1, text="@AcmeBank I hate you, worst bank, useless and awful"),
                item(2, text="acme is lovely, great and wonderful, thank you"),
            ]
        }
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    neg = client.get("/api/v1/mentions", {"sentiment": "negative"}, **auth).json()
    assert [m["external_id"] for m in neg["items"]] == ["t1"]
    assert neg["items"][0]["terms"] == ["Acme"] and neg["items"][0]["case"].startswith("LM-")
    brand = client.get("/api/v1/mentions", {"scope": "brand", "unanswered": "true"}, **auth)
    assert [m["external_id"] for m in brand.json()["items"]] == ["t1"]
    assert client.get("/api/v1/mentions", {"sentiment": "angry"}, **auth).status_code == 422
