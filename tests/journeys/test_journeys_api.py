"""The journeys API: templates in JSON and YAML, start, complete, cancel, errors with paths."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
import yaml

from lastmile.api.services import token_create
from lastmile.journeys.models import Journey, JourneyTemplate
from lastmile.loops.models import Loop
from lastmile.people.models import Agent
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

TEMPLATE_YAML = """\
name: Replace a lost card
slug: replace-lost-card
steps:
  - key: block
    title: Block the lost card
    team: front
    sla_minutes: 30
  - key: order
    title: Order the new card
    team: back
    depends_on: [block]
  - key: confirm_address
    title: Confirm where to send it
    team: front
    customer_action: confirm
    depends_on: [block]
  - key: dispatch
    title: Dispatch
    team: back
    depends_on: [order, confirm_address]
"""


@pytest.fixture
def auth(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(name='integration', now=NOW)[1]}"}


_token_numbers = itertools.count(1)


def bearer_for(user):
    """One token per agent (a second token of the same name is refused)."""
    agent = Agent.objects.get(user=user)
    row = token_create(name=f"{user.username}-{next(_token_numbers)}", agent=agent, now=NOW)
    return {"HTTP_AUTHORIZATION": f"Bearer {row[1]}"}


def post(client, path, body, headers, content_type="application/json"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"/api/v1/journeys{path}", data, content_type=content_type, **headers)


@pytest.fixture
def template(client, auth, team, other_team):
    r = post(client, "/templates", TEMPLATE_YAML, auth, content_type="application/yaml")
    assert r.status_code == 201, r.content
    return r.json()["template"]


def test_a_template_posted_as_yaml_is_created_then_unchanged(client, auth, template):
    assert template["slug"] == "replace-lost-card" and template["version"] == 1
    assert [s["key"] for s in template["steps"]] == [
        "block",
        "order",
        "confirm_address",
        "dispatch",
    ]
    again = post(client, "/templates", TEMPLATE_YAML, auth, content_type="application/yaml")
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    assert JourneyTemplate.objects.count() == 1


def test_a_template_posted_as_json_and_exported_as_yaml_round_trips(client, auth, template):
    r = client.get("/api/v1/journeys/templates/replace-lost-card", {"format": "yaml"}, **auth)
    assert r.status_code == 200 and r["Content-Type"].startswith("application/yaml")
    doc = yaml.safe_load(r.content)
    doc["steps"][3]["title"] = "Dispatch by courier"
    updated = post(client, "/templates", doc, auth)
    assert updated.status_code == 200
    assert updated.json()["outcome"] == "updated"
    assert updated.json()["template"]["version"] == 2
    as_json = client.get("/api/v1/journeys/templates/replace-lost-card", **auth).json()
    assert as_json["steps"][3]["title"] == "Dispatch by courier"


def test_a_cycle_is_a_422_naming_the_cycle(client, auth, team, other_team):
    doc = yaml.safe_load(TEMPLATE_YAML)
    doc["steps"][0]["depends_on"] = ["dispatch"]
    r = post(client, "/templates", doc, auth)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid"
    reasons = {e["field"]: e["reason"] for e in body["errors"]}
    assert any(reason.startswith("cycle ") and "→" in reason for reason in reasons.values())
    assert JourneyTemplate.objects.count() == 0


def test_an_unknown_dependency_is_a_422_with_the_field_path(client, auth, team, other_team):
    doc = yaml.safe_load(TEMPLATE_YAML)
    doc["steps"][2]["depends_on"] = ["block2"]
    r = post(client, "/templates", doc, auth)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": None, "field": "steps[2].depends_on", "reason": 'unknown step "block2"'}
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("name: [unclosed", "application/yaml", 422),
        ("a: &x [1]\nb: *x\n", "application/yaml", 422),
        ("- just\n- a list\n", "application/yaml", 422),
        ("{not json", "application/json", 400),
        ("name=x", "application/x-www-form-urlencoded", 415),
        (b"\xff\xfe", "application/yaml", 422),
        ('name: "a\\0b"\nsteps: [{key: a, title: "\\0"}]\n', "application/yaml", 422),
    ],
)
def test_bad_template_bodies_are_4xx_and_write_nothing(client, auth, body, content_type, status):
    r = post(client, "/templates", body, auth, content_type=content_type)
    assert r.status_code == status
    assert set(r.json()) == {"code", "detail", "errors"}
    assert JourneyTemplate.objects.count() == 0


def test_an_agent_token_cannot_define_templates(client, alice, team, other_team):
    r = post(
        client, "/templates", TEMPLATE_YAML, bearer_for(alice), content_type="application/yaml"
    )
    assert r.status_code == 403 and JourneyTemplate.objects.count() == 0


def test_start_complete_and_cancel_through_the_api(client, auth, template, case, alice, charlie):
    r = post(client, "/start", {"template": "replace-lost-card", "case": case.ref}, auth)
    assert r.status_code == 201, r.content
    journey = r.json()
    assert [s["state"] for s in journey["steps"]] == ["open", "pending", "pending", "pending"]
    assert journey["steps"][0]["due_at"] is not None  # sla_minutes: 30
    jid = journey["id"]

    no_note = post(client, f"/{jid}/steps/block/complete", {}, bearer_for(alice))
    assert no_note.status_code == 422 and no_note.json()["errors"][0]["field"] == "note"

    done = post(
        client, f"/{jid}/steps/block/complete", {"note": "blocked at 10:05"}, bearer_for(alice)
    )
    assert done.status_code == 200
    states = {s["key"]: s["state"] for s in done.json()["steps"]}
    assert states == {
        "block": "done",
        "order": "open",
        "confirm_address": "open",
        "dispatch": "pending",
    }
    order = next(s for s in done.json()["steps"] if s["key"] == "order")
    assert "blocked at 10:05" in order["handoff_note"]

    not_mine = post(
        client, f"/{jid}/steps/confirm_address/complete", {"note": "x"}, bearer_for(charlie)
    )
    assert not_mine.status_code == 403

    cancelled = post(client, f"/{jid}/cancel", {"reason": "card found"}, auth)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancelled_reason"] == "card found"
    assert not Loop.objects.filter(case=case, state="open").exists()
    again = post(client, f"/{jid}/cancel", {"reason": "again"}, auth)
    assert again.status_code == 409


def test_starting_twice_is_a_409(client, auth, template, case):
    assert (
        post(
            client, "/start", {"template": "replace-lost-card", "case": case.ref}, auth
        ).status_code
        == 201
    )
    r = post(client, "/start", {"template": "replace-lost-card", "case": case.ref}, auth)
    assert r.status_code == 409 and r.json()["code"] == "journey_active"
    assert Journey.objects.count() == 1


def test_start_on_an_unknown_template_or_case_is_404(client, auth, template, case):
    assert post(client, "/start", {"template": "nope", "case": case.ref}, auth).status_code == 404
    assert (
        post(
            client, "/start", {"template": "replace-lost-card", "case": "LM-999999"}, auth
        ).status_code
        == 404
    )


def test_an_outsider_sees_no_journey_on_a_case_not_theirs(
    client, auth, template, case, alice, charlie
):
    dave = AgentFactory(user__username="dave", teams=[TeamFactory(slug="cards", name="Cards")]).user
    jid = post(client, "/start", {"template": "replace-lost-card", "case": case.ref}, auth).json()[
        "id"
    ]
    assert client.get(f"/api/v1/journeys/{jid}", **bearer_for(alice)).status_code == 200
    # the back office has a step coming (not open yet): it sees the journey, not the case
    assert client.get(f"/api/v1/journeys/{jid}", **bearer_for(charlie)).status_code == 200
    assert client.get(f"/api/v1/cases/{case.ref}", **bearer_for(charlie)).status_code == 404
    assert client.get(f"/api/v1/journeys/{jid}", **bearer_for(dave)).status_code == 404
    assert client.get("/api/v1/journeys", **bearer_for(dave)).json()["count"] == 0
    refused = post(client, f"/{jid}/cancel", {"reason": "not mine"}, bearer_for(dave))
    assert refused.status_code == 404 and Journey.objects.get().state == "active"


def test_journeys_list_filters(client, auth, template, case):
    post(client, "/start", {"template": "replace-lost-card", "case": case.ref}, auth)
    r = client.get("/api/v1/journeys", {"state": "active", "case": case.ref}, **auth)
    assert r.status_code == 200 and r.json()["count"] == 1
    assert client.get("/api/v1/journeys", {"state": "completed"}, **auth).json()["count"] == 0
