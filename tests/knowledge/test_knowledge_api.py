"""The knowledge API: write, read, search, suggest; permissions; errors with fields."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.knowledge.models import Article
from lastmile.people.models import Agent

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_numbers = itertools.count(1)


@pytest.fixture
def auth(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(name='kb-integration', now=NOW)[1]}"}


def bearer_for(user):
    agent = Agent.objects.get(user=user)
    row = token_create(name=f"{user.username}-{next(_numbers)}", agent=agent, now=NOW)
    return {"HTTP_AUTHORIZATION": f"Bearer {row[1]}"}


def send(client, method, path, body, headers):
    return getattr(client, method)(
        f"/api/v1/knowledge{path}", json.dumps(body), content_type="application/json", **headers
    )


ARTICLE = {
    "title": "Card declined abroad",
    "body_md": "Check the **travel flag** and the daily limit. <script>alert(1)</script>",
    "tags": ["Cards", "travel"],
    "team": "front",
    "policy_keys": ["card-travel-flag"],
    "public": True,
}


def test_create_read_and_render_safely(client, auth, team):
    r = send(client, "post", "/articles", ARTICLE, auth)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["slug"] == "card-declined-abroad" and body["tags"] == ["cards", "travel"]
    assert "<strong>travel flag</strong>" in body["body_html"]
    assert "<script>" not in body["body_html"]
    got = client.get("/api/v1/knowledge/articles/card-declined-abroad", **auth).json()
    assert got["body_md"] == ARTICLE["body_md"] and got["team"] == "front"


def test_bad_fields_are_422_naming_them(client, auth, team):
    r = send(client, "post", "/articles", {**ARTICLE, "tags": ["ok", "bad tag!"]}, auth)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["tags[1]"]
    r = send(client, "post", "/articles", {**ARTICLE, "team": "nope"}, auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "team"
    r = send(client, "post", "/articles", {**ARTICLE, "title": ""}, auth)
    assert r.status_code == 422
    assert Article.objects.count() == 0


def test_put_is_idempotent(client, auth, team):
    first = send(client, "put", "/articles/pin-reset", {**ARTICLE, "title": "Reset a PIN"}, auth)
    second = send(client, "put", "/articles/pin-reset", {**ARTICLE, "title": "Reset a PIN"}, auth)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["updated_at"] == second.json()["updated_at"]
    assert Article.objects.count() == 1
    bad = send(client, "put", "/articles/Not A Slug", ARTICLE, auth)
    assert bad.status_code in (404, 422)


def test_search_is_ranked_and_public_filterable(client, auth, team):
    send(client, "post", "/articles", ARTICLE, auth)
    send(
        client,
        "post",
        "/articles",
        {"title": "Daily limits", "body_md": "Card limits per day.", "tags": ["cards"]},
        auth,
    )
    r = client.get("/api/v1/knowledge/search", {"q": "card"}, **auth)
    assert r.status_code == 200
    hits = r.json()
    assert {h["slug"] for h in hits} == {"card-declined-abroad", "daily-limits"}
    assert hits[0]["rank"] >= hits[1]["rank"]
    public = client.get("/api/v1/knowledge/search", {"q": "card", "public_only": True}, **auth)
    assert [h["slug"] for h in public.json()] == ["card-declined-abroad"]
    assert client.get("/api/v1/knowledge/search", {"q": ""}, **auth).status_code == 422


def test_suggest_for_a_case_the_viewer_sees(client, auth, team, case, charlie):
    send(client, "post", "/articles", ARTICLE, auth)
    case.subject = "Card declined in Lisbon"
    case.save()
    r = client.get("/api/v1/knowledge/suggest", {"case": case.ref}, **auth)
    assert r.status_code == 200 and [h["slug"] for h in r.json()] == ["card-declined-abroad"]
    outsider = client.get("/api/v1/knowledge/suggest", {"case": case.ref}, **bearer_for(charlie))
    assert outsider.status_code == 404


def test_an_agent_writes_only_their_teams_articles(client, auth, team, alice, charlie):
    send(client, "post", "/articles", ARTICLE, auth)
    denied = send(
        client,
        "patch",
        "/articles/card-declined-abroad",
        {"title": "Mine now"},
        bearer_for(charlie),
    )
    assert denied.status_code == 403
    assert Article.objects.get().title == "Card declined abroad"
    ok = send(
        client, "patch", "/articles/card-declined-abroad", {"public": False}, bearer_for(alice)
    )
    assert ok.status_code == 200 and ok.json()["public"] is False
    gone = client.delete("/api/v1/knowledge/articles/card-declined-abroad", **bearer_for(charlie))
    assert gone.status_code == 403
    assert (
        client.delete(
            "/api/v1/knowledge/articles/card-declined-abroad", **bearer_for(alice)
        ).status_code
        == 204
    )
    assert Article.objects.count() == 0


def test_list_pages_and_filters_by_tag(client, auth, team):
    send(client, "post", "/articles", ARTICLE, auth)
    send(client, "post", "/articles", {"title": "Hotel parking", "tags": ["hotel"]}, auth)
    r = client.get("/api/v1/knowledge/articles", {"tag": "hotel"}, **auth)
    assert r.status_code == 200
    assert [a["slug"] for a in r.json()["items"]] == ["hotel-parking"]
    assert client.get("/api/v1/knowledge/articles", **auth).json()["count"] == 2
