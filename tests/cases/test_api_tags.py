"""Tags through the API: PATCH sets them, the list filters by them, the output shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.cases.models import CaseEvent
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def headers(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(name='tags', now=NOW)[1]}"}


def patch(client, headers, ref, body):
    return client.patch(
        f"/api/v1/cases/{ref}", json.dumps(body), content_type="application/json", **headers
    )


def test_patch_sets_the_tags_and_the_case_shows_them(client, headers, case):
    r = patch(client, headers, case.ref, {"tags": ["VIP", "billing"]})
    assert r.status_code == 200, r.content
    assert r.json()["tags"] == ["billing", "vip"]
    assert CaseEvent.objects.get(case=case, kind="tags").data["added"] == ["vip", "billing"]
    assert client.get(f"/api/v1/cases/{case.ref}", **headers).json()["tags"] == ["billing", "vip"]


def test_a_bad_tag_is_a_422_naming_the_field_and_nothing_changes(client, headers, case):
    r = patch(client, headers, case.ref, {"tags": ["ok", "x" * 51], "priority": "high"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "tags"
    case.refresh_from_db()
    assert case.priority == "normal"
    assert not CaseEvent.objects.exists()


def test_the_list_filters_by_tag_priority_and_assignee(
    client, headers, case, customer, team, alice
):
    other = CaseFactory(customer=customer, team=team, priority="high", assignee=alice)
    patch(client, headers, case.ref, {"tags": ["vip"]})

    def refs(qs: str) -> list[str]:
        r = client.get(f"/api/v1/cases?{qs}", **headers)
        assert r.status_code == 200, r.content
        return [row["ref"] for row in r.json()["items"]]

    assert refs("tag=vip") == [case.ref]
    assert refs("priority=high") == [other.ref]
    assert refs("assignee=alice") == [other.ref]
    assert client.get("/api/v1/cases?tag=vip", **headers).json()["items"][0]["tags"] == ["vip"]
