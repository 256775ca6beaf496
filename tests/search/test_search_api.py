"""``GET /api/v1/search``: the answer's shape, its 422s, and a token's scope."""

from __future__ import annotations

import pytest

from lastmile.customers.models import Direction
from lastmile.search import selectors
from tests.cases.factories import CaseFactory
from tests.search.helpers import api_search, message

pytestmark = pytest.mark.django_db

GROUPS = {"cases", "customers", "interactions", "promises", "articles"}


@pytest.fixture
def front_message(case, now):
    return message(case, "Walrus sighting near the depot", now)


@pytest.fixture
def back_note(other_team, now):
    back = CaseFactory(team=other_team, subject="Walrus in the back yard")
    return message(back, "Walrus note for the back office", now, direction=Direction.NOTE)


def test_the_answer_holds_every_group(client, alice, case, front_message, now):
    r = api_search(client, alice, now, q="walrus")
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) >= GROUPS
    assert body["too_short"] is False
    [hit] = body["interactions"]
    assert hit["id"] == front_message.pk
    assert hit["case"] == case.ref
    assert hit["direction"] == "inbound"
    assert "Walrus" in hit["snippet"]


def test_kind_keeps_one_group(client, alice, case, front_message, now):
    case.subject = "Walrus case"
    case.save()
    body = api_search(client, alice, now, q="walrus", kind="cases").json()
    assert [c["ref"] for c in body["cases"]] == [case.ref]
    assert body["interactions"] == []


def test_an_agent_token_never_finds_what_its_agent_may_not_open(
    client, alice, charlie, front_message, back_note, now
):
    # Alice's token: her team's message, not the back office's case or note
    body = api_search(client, alice, now, q="walrus").json()
    assert [i["id"] for i in body["interactions"]] == [front_message.pk]
    assert body["cases"] == []
    # Charlie's token: the back office's, not the front office's
    body = api_search(client, charlie, now, q="walrus").json()
    assert [i["id"] for i in body["interactions"]] == [back_note.pk]
    assert [c["subject"] for c in body["cases"]] == ["Walrus in the back yard"]
    # An integration token (no agent) finds both
    body = api_search(client, None, now, q="walrus").json()
    assert {i["id"] for i in body["interactions"]} == {front_message.pk, back_note.pk}


def test_a_short_query_is_an_empty_answer_not_an_error(client, alice, now):
    r = api_search(client, alice, now, q="w")
    assert r.status_code == 200
    body = r.json()
    assert body["too_short"] is True
    assert all(body[g] == [] for g in GROUPS)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "tickets"}, "kind"),
        ({"limit": "0"}, "limit"),
        ({"limit": "51"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"q": "x" * 501}, "q"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(client, alice, now, params, field):
    r = api_search(client, alice, now, **{"q": "walrus", **params})
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "invalid"
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["reason"]


def test_without_a_token_it_is_401(client):
    assert client.get("/api/v1/search", {"q": "walrus"}).status_code == 401


def test_a_search_cut_short_says_more_may_exist(client, monkeypatch, alice, case, other_team, now):
    # Given alice's message, then a newer one of another team, and a scan of one match
    monkeypatch.setattr(selectors, "SCAN_CAP", 1)
    message(case, "Gazebo quote", now)
    message(CaseFactory(team=other_team), "Gazebo order", now)
    # When she searches the word
    body = api_search(client, alice, now, q="gazebo").json()
    # Then nothing she may open was looked at, and the answer says more may exist
    assert body["interactions"] == []
    assert body["capped"] is True
    # and a word more finds hers
    assert len(api_search(client, alice, now, q="gazebo quote").json()["interactions"]) == 1
