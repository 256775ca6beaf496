from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Interaction
from lastmile.loops.models import Loop, SlaPolicy
from tests.api.client import Api

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def token(db):
    return token_create(name="test-integration", now=NOW)[1]


@pytest.fixture
def api(client, token):
    return Api(client, token)


def item(n, **kw):
    base = {
        "source_id": f"msg-{n}",
        "channel": "chat",
        "direction": "inbound",
        "occurred_at": "2026-11-20T10:00:00Z",
        "customer": {"identities": [{"kind": "email", "value": f"c{n}@example.com"}]},
        "body": f"hello {n}",
    }
    base.update(kw)
    return base


def test_healthz_reports_db_and_queue(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"db": "ok", "queue": "ok"}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_no_token_or_a_bad_one_gets_401(client, header, db):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    r = client.get("/api/v1/loops", **extra)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_a_revoked_token_gets_401(client, token):
    from lastmile.api.models import ApiToken

    ApiToken.objects.update(revoked_at=NOW)
    assert client.get("/api/v1/loops", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_tokens_are_stored_hashed(token):
    from lastmile.api.models import ApiToken

    row = ApiToken.objects.get()
    assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64


def test_resolve_creates_then_finds_then_merges(api):
    a = api.post(
        "/customers/resolve", {"identities": [{"kind": "email", "value": "Ana@Example.com"}]}
    ).json()
    b = api.post(
        "/customers/resolve", {"identities": [{"kind": "phone", "value": "+44 7911 123456"}]}
    ).json()
    merged = api.post(
        "/customers/resolve",
        {
            "identities": [
                {"kind": "email", "value": "ana@example.com"},
                {"kind": "phone", "value": "07911123456"},
            ]
        },
    ).json()
    assert merged["id"] == a["id"] and merged["merged_from"] == [b["id"]]
    assert {"kind": "phone", "value": "+447911123456"} in merged["identities"]


def test_resolve_with_a_bad_identity_is_422_naming_the_field(api):
    r = api.post(
        "/customers/resolve",
        {"identities": [{"kind": "email", "value": "ok@x.io"}, {"kind": "phone", "value": "abc"}]},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid" and body["errors"][0]["field"].startswith("identities[1]")
    assert Customer.objects.count() == 0


def test_an_interaction_is_stored_once_for_the_same_source_id(api):
    first = api.post("/interactions", item(1))
    again = api.post("/interactions", item(1))
    assert first.status_code == again.status_code == 200
    assert first.json()["ids"] == again.json()["ids"]
    assert Interaction.objects.count() == 1


def test_a_batch_returns_ids_in_order(api):
    r = api.post("/interactions/batch", {"items": [item(n) for n in range(5)]})
    ids = r.json()["ids"]
    assert [Interaction.objects.get(pk=i).source_id for i in ids] == [f"msg-{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"direction": "sideways"}, "direction"),
        ({"occurred_at": "2026-11-20T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"customer": {}}, "customer"),
        (
            {"customer": {"identities": [{"kind": "email", "value": "nope"}]}},
            "customer.identities[0]",
        ),
        ({"case": "LM-99999999"}, "case"),
    ],
)
def test_a_batch_with_one_bad_item_is_rejected_whole_naming_the_index(api, bad, field):
    items = [item(0), item(1), item(2, **bad)]
    r = api.post("/interactions/batch", {"items": items})
    assert r.status_code == 422, r.content
    err = r.json()["errors"][0]
    assert err["index"] == 2 and err["field"].startswith(field)
    assert Interaction.objects.count() == 0 and Customer.objects.count() == 0


def test_a_batch_over_1000_items_is_refused(api):
    r = api.post("/interactions/batch", {"items": [item(n) for n in range(1001)]})
    assert r.status_code == 422 and Interaction.objects.count() == 0


def test_malformed_json_is_a_4xx(api):
    r = api.post("/interactions/batch", raw="{not json")
    assert 400 <= r.status_code < 500 and "code" in r.json()


def test_a_body_over_the_limit_gets_413(api, settings):
    settings.LASTMILE_MAX_BODY_BYTES = 1000
    r = api.post("/interactions/batch", {"items": [item(n) for n in range(20)]})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert Interaction.objects.count() == 0


def test_timeline_pages_with_a_cursor(api):
    api.post(
        "/interactions/batch",
        {
            "items": [
                item(
                    n,
                    customer={"identities": [{"kind": "email", "value": "same@example.com"}]},
                    occurred_at=(NOW - timedelta(minutes=n)).isoformat(),
                )
                for n in range(5)
            ]
        },
    )
    cid = Customer.objects.get().pk
    page1 = api.get(f"/customers/{cid}/timeline", limit=2).json()
    page2 = api.get(f"/customers/{cid}/timeline", limit=2, before=page1["next"]).json()
    page3 = api.get(f"/customers/{cid}/timeline", limit=2, before=page2["next"]).json()
    bodies = [i["body"] for p in (page1, page2, page3) for i in p["items"]]
    assert bodies == [f"hello {n}" for n in range(5)] and page3["next"] is None


def test_timeline_of_a_missing_customer_is_404(api):
    assert api.get("/customers/999999/timeline").status_code == 404


def test_case_lifecycle_and_409_naming_open_loops(api, team):
    SlaPolicy.objects.create(name="Chat", channel="chat", first_reply_minutes=30)
    r = api.post(
        "/cases",
        {
            "customer": {"identities": [{"kind": "email", "value": "x@example.com"}]},
            "subject": "Card blocked",
            "team": team.slug,
            "channel": "chat",
        },
    )
    assert r.status_code == 201
    ref = r.json()["ref"]
    assert ref.startswith("LM-")
    api.post(
        "/interactions",
        item(1, case=ref, customer={"identities": [{"kind": "email", "value": "x@example.com"}]}),
    )
    case = api.get(f"/cases/{ref}").json()
    assert [lp["kind"] for lp in case["loops"]] == ["reply"]
    loop = case["loops"][0]
    assert loop["due_at"] and "under 'Chat'" in loop["explanation"]

    refused = api.patch(f"/cases/{ref}", {"status": "solved", "priority": "high"})
    assert refused.status_code == 409
    assert (
        refused.json()["code"] == "loops_still_open"
        and f"#{loop['id']}" in refused.json()["detail"]
    )
    assert Case.objects.get().status == "open" and Case.objects.get().priority == "normal"

    assert (
        api.post(f"/loops/{loop['id']}/close", {"reason": "answered by phone"}).json()["state"]
        == "closed"
    )
    assert api.patch(f"/cases/{ref}", {"status": "solved"}).json()["status"] == "solved"


def test_cases_filter_by_status_and_team(api, team, other_team):
    for t in (team, other_team):
        api.post(
            "/cases",
            {
                "customer": {"identities": [{"kind": "email", "value": f"{t.slug}@example.com"}]},
                "subject": "s",
                "team": t.slug,
            },
        )
    r = api.get("/cases", team=team.slug, status="open").json()
    assert r["count"] == 1 and r["items"][0]["team"] == team.slug


def test_loops_open_pause_resume_and_filter(api, team):
    r = api.post(
        "/loops",
        {
            "kind": "task",
            "title": "Enable online access",
            "team": team.slug,
            "customer": {"identities": [{"kind": "email", "value": "y@example.com"}]},
            "due_at": "2030-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 201
    loop = r.json()
    assert loop["explanation"].startswith("due ")
    paused = api.post(f"/loops/{loop['id']}/pause", {"reason": "waiting on customer"}).json()
    assert paused["paused"] and paused["due_at"] is None
    assert api.post(f"/loops/{loop['id']}/pause", {}).status_code == 409
    resumed = api.post(f"/loops/{loop['id']}/resume").json()
    assert resumed["due_at"] is not None and not resumed["paused"]
    listed = api.get("/loops", state="open", team=team.slug).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == loop["id"]
    assert api.get("/loops", breached="true").json()["count"] == 0


def test_a_loop_without_policy_shows_no_deadline(api):
    loop = api.post(
        "/loops",
        {
            "kind": "followup",
            "title": "Call back",
            "customer": {"identities": [{"kind": "email", "value": "z@example.com"}]},
        },
    ).json()
    assert loop["due_at"] is None and loop["explanation"].startswith("no deadline")


def test_loop_needs_case_or_customer(api):
    r = api.post("/loops", {"kind": "task", "title": "x"})
    assert r.status_code == 422 and Loop.objects.count() == 0


def test_an_agent_token_sees_only_its_teams_cases(client, alice, charlie, team, other_team):
    from lastmile.people.models import Agent

    _, integration = token_create(name="integration", now=NOW)
    _, as_charlie = token_create(name="charlie", agent=Agent.objects.get(user=charlie), now=NOW)
    r = client.post(
        "/api/v1/cases",
        json.dumps(
            {
                "customer": {"identities": [{"kind": "email", "value": "q@example.com"}]},
                "subject": "front office case",
                "team": team.slug,
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {integration}",
    )
    ref = r.json()["ref"]
    assert (
        client.get(f"/api/v1/cases/{ref}", HTTP_AUTHORIZATION=f"Bearer {as_charlie}").status_code
        == 404
    )
    listed = client.get("/api/v1/cases", HTTP_AUTHORIZATION=f"Bearer {as_charlie}").json()
    assert listed["count"] == 0
    refused = client.patch(
        f"/api/v1/cases/{ref}",
        json.dumps({"status": "pending"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {as_charlie}",
    )
    assert refused.status_code == 404 and Case.objects.get().status == "open"


def test_openapi_schema_documents_the_error_body(client):
    schema = client.get("/api/openapi.json").json()
    op = schema["paths"]["/api/v1/interactions/batch"]["post"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_the_same_identity_twice_in_one_request_is_one_identity(api):
    ident = {"kind": "anonymous", "value": "anon-1"}
    r = api.post("/customers/resolve", {"identities": [ident, ident]})
    assert r.status_code == 200 and r.json()["identities"] == [ident]


def test_a_lone_surrogate_in_json_is_a_400_and_writes_nothing(api):
    raw = '{"identities": [{"kind": "anonymous", "value": "\\udac5x"}]}'
    r = api.post("/customers/resolve", raw=raw)
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    assert Customer.objects.count() == 0


def test_a_nul_character_in_a_query_or_body_is_a_400(api):
    assert api.get("/cases", assignee="a\x00b").status_code == 400
    raw = '{"identities": [{"kind": "anonymous", "value": "a\\u0000b"}]}'
    assert api.post("/customers/resolve", raw=raw).status_code == 400
    assert Customer.objects.count() == 0


def test_an_agent_token_cannot_resolve_or_merge_customers(client, charlie):
    from lastmile.people.models import Agent

    _, as_charlie = token_create(name="charlie", agent=Agent.objects.get(user=charlie), now=NOW)
    body = {"identities": [{"kind": "email", "value": "someone@example.com"}]}
    r = client.post(
        "/api/v1/customers/resolve",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {as_charlie}",
    )
    assert r.status_code == 403 and Customer.objects.count() == 0
    r = client.post(
        "/api/v1/cases",
        json.dumps({"customer": body, "subject": "s"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {as_charlie}",
    )
    assert r.status_code == 403 and Customer.objects.count() == 0 and Case.objects.count() == 0


def test_a_message_cannot_land_on_another_customers_case(api, team):
    ref = api.post(
        "/cases",
        {
            "customer": {"identities": [{"kind": "email", "value": "owner@example.com"}]},
            "subject": "Mine",
            "team": team.slug,
        },
    ).json()["ref"]
    r = api.post("/interactions", item(1, case=ref))  # item(1) is c1@example.com, not the owner
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "case"
    assert Interaction.objects.count() == 0


def test_api_docs_load_their_assets_locally(client):
    page = client.get("/api/docs").content.decode()
    assert "cdn.jsdelivr.net" not in page and "/static/ninja/" in page


def test_an_unknown_api_path_is_a_json_404(api):
    r = api.get("/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_case_can_be_assigned_only_to_a_member_of_its_team(api, team, alice, charlie):
    ref = api.post(
        "/cases",
        {
            "customer": {"identities": [{"kind": "email", "value": "m@example.com"}]},
            "subject": "s",
            "team": team.slug,
        },
    ).json()["ref"]
    refused = api.patch(f"/cases/{ref}", {"assignee": "charlie"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "assignee"
    assert Case.objects.get().assignee is None
    assert api.patch(f"/cases/{ref}", {"assignee": "alice"}).json()["assignee"] == "alice"
