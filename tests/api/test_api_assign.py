"""One rule for giving work to an agent: a member of the team that owns it (issue 11, point 11).

The case PATCH refused an assignee outside the case's team; the loop reassignment took one.
Both go through ``people.selectors.assignee_check`` now.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.loops.models import Loop, LoopEvent
from lastmile.loops.services import loop_open

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def headers(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(name='assign', now=NOW)[1]}"}


@pytest.fixture
def loop(case, customer, team):
    return loop_open(
        customer=customer, case=case, kind="task", title="Call back", team=team, now=NOW
    )


def post(client, headers, path, body):
    return client.post(
        f"/api/v1{path}", json.dumps(body), content_type="application/json", **headers
    )


def test_a_loop_is_not_given_to_an_agent_outside_its_team(client, headers, loop, charlie):
    r = post(client, headers, f"/loops/{loop.pk}/reassign", {"assignee": "charlie"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": None, "field": "assignee", "reason": "not a member of team front"}
    ]
    assert Loop.objects.get(pk=loop.pk).assignee_id is None
    assert not LoopEvent.objects.filter(loop=loop, kind="reassigned").exists()


def test_a_case_is_not_given_to_an_agent_outside_its_team(client, headers, case, charlie):
    r = client.patch(
        f"/api/v1/cases/{case.ref}",
        json.dumps({"assignee": "charlie"}),
        content_type="application/json",
        **headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": None, "field": "assignee", "reason": "not a member of team front"}
    ]
    case.refresh_from_db()
    assert case.assignee_id is None


def test_a_loop_goes_to_a_teammate(client, headers, loop, bob):
    r = post(client, headers, f"/loops/{loop.pk}/reassign", {"assignee": "bob"})
    assert r.status_code == 200 and r.json()["assignee"] == "bob"


def test_a_loop_moved_to_another_team_goes_to_an_agent_of_that_team(
    client, headers, loop, alice, charlie
):
    r = post(client, headers, f"/loops/{loop.pk}/reassign", {"team": "back", "assignee": "alice"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "assignee"
    assert Loop.objects.get(pk=loop.pk).team.slug == "front"
    r = post(client, headers, f"/loops/{loop.pk}/reassign", {"team": "back", "assignee": "charlie"})
    assert r.status_code == 200 and (r.json()["team"], r.json()["assignee"]) == ("back", "charlie")


def test_a_loop_is_not_moved_to_a_team_that_does_not_exist(client, headers, loop, team):
    r = post(client, headers, f"/loops/{loop.pk}/reassign", {"team": "nope"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": None, "field": "team", "reason": "no team with slug 'nope'"}
    ]
    assert Loop.objects.get(pk=loop.pk).team_id == team.pk
    assert not LoopEvent.objects.filter(loop=loop, kind="reassigned").exists()


def test_a_case_is_not_moved_to_a_team_that_does_not_exist(client, headers, case):
    team_before = case.team_id
    r = client.patch(
        f"/api/v1/cases/{case.ref}",
        json.dumps({"team": "nope"}),
        content_type="application/json",
        **headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": None, "field": "team", "reason": "no team with slug 'nope'"}
    ]
    case.refresh_from_db()
    assert case.team_id == team_before


def test_a_loop_is_not_given_to_an_agent_who_does_not_exist(client, headers, loop):
    r = post(client, headers, f"/loops/{loop.pk}/reassign", {"assignee": "nobody"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": None, "field": "assignee", "reason": "no agent 'nobody'"}
    ]
    assert Loop.objects.get(pk=loop.pk).assignee_id is None
    assert not LoopEvent.objects.filter(loop=loop, kind="reassigned").exists()
