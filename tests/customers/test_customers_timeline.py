"""Whose eyes a shared customer's timeline is for: an internal note is read only by those
who may open its case; another team sees that a note exists, and when, never what it says.

Alice and Bob (front office) own the case the note is on; Charlie (back office) has his own
case with the same customer, so he sees the customer and the timeline, but gets 404 on
the front office's case. Every view that shows a timeline is walked for every internal
kind of interaction, and the outsider's whole response must not contain the marker.
"""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import count

import pytest

from lastmile.api.services import token_create
from lastmile.cases.models import Case
from lastmile.customers.models import Direction
from lastmile.customers.selectors import INTERNAL_DIRECTIONS, timeline
from lastmile.customers.services.timeline import interaction_record
from lastmile.people.models import Agent
from lastmile.people.viewers import SYSTEM
from tests.cases.factories import CaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

MARKER = "zq-secret-7f3a"
_tokens = count()


@pytest.fixture
def back_case(customer, other_team):
    """Charlie's team's own case with the customer: he may see the customer."""
    return CaseFactory(customer=customer, team=other_team, subject="Card delivery")


def note_on(case: Case, at, *, direction: str = Direction.NOTE, actor=None):
    return interaction_record(
        customer=case.customer,
        case=case,
        channel="web",
        direction=direction,
        occurred_at=at,
        now=at,
        body=f"Customer is on a payment plan, do not mention arrears {MARKER}",
        data={"subject": f"Arrears {MARKER}", "attachments": [f"plan-{MARKER}.pdf"]},
        actor=actor,
    )


def api_get(client, user, path, **params):
    agent = Agent.objects.get(user=user) if user is not None else None
    now = params.pop("now")
    secret = token_create(name=f"t-{user or 'integration'}-{next(_tokens)}", now=now, agent=agent)[
        1
    ]
    return client.get(f"/api/v1{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


# --- the rule, in the selector -----------------------------------------------------------


def test_the_cases_team_reads_its_note_on_the_timeline(case, alice, bob, back_case, now):
    # Given a front-office note on the shared customer's timeline
    note = note_on(case, now - timedelta(hours=1), actor=alice)
    for reader in (alice, bob):
        # When its author or her teammate reads the timeline
        page = timeline(customer=case.customer, viewer=reader)
        # Then the note is there in full
        assert note.pk not in page.withheld
        assert MARKER in next(i.body for i in page.items if i.pk == note.pk)


def test_another_team_sees_that_a_note_exists_but_not_what_it_says(
    case, alice, charlie, back_case, now
):
    # Given a front-office note on the shared customer's timeline
    note = note_on(case, now - timedelta(hours=1), actor=alice)
    # When Charlie (back office) reads the timeline
    page = timeline(customer=case.customer, viewer=charlie)
    # Then he sees that there is a note on a front-office case, and when, and nothing more
    row = next(i for i in page.items if i.pk == note.pk)
    assert page.withheld[note.pk] == "Internal note on a case of Front office — not visible to you"
    assert (row.occurred_at, row.case_id, row.direction) == (note.occurred_at, case.pk, "note")
    assert (row.body, row.data, row.actor_id, row.source_id) == ("", None, None, None)
    assert page.open_cases == set()


def test_admins_and_integrations_read_every_note(case, alice, admin_user, back_case, now):
    note = note_on(case, now - timedelta(hours=1), actor=alice)
    for reader in (admin_user, SYSTEM):
        page = timeline(customer=case.customer, viewer=reader)
        assert page.withheld == {}
        assert MARKER in next(i.body for i in page.items if i.pk == note.pk)


def test_what_the_customer_wrote_and_was_sent_stays_visible_to_every_team(
    case, alice, charlie, back_case, now
):
    # Given the customer's message and the front office's reply on the front office's case
    said = interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now - timedelta(hours=2),
        now=now,
        body="Where is my new card?",
    )
    sent = interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="outbound",
        occurred_at=now - timedelta(hours=1),
        now=now,
        body="It was posted on Friday.",
        actor=alice,
    )
    # When Charlie reads the timeline, Then both are there as the customer knows them
    page = timeline(customer=case.customer, viewer=charlie)
    bodies = {i.pk: i.body for i in page.items}
    assert page.withheld == {}
    assert (bodies[said.pk], bodies[sent.pk]) == (
        "Where is my new card?",
        "It was posted on Friday.",
    )


def test_a_note_on_no_case_is_the_customers_for_everyone_who_sees_them(
    customer, case, charlie, back_case, now
):
    # Given a note an integration put on the customer, on no case
    note = interaction_record(
        customer=customer,
        channel="api",
        direction="note",
        occurred_at=now - timedelta(hours=1),
        now=now,
        body="Prefers email",
    )
    # Then every team that sees the customer reads it: there is no case to keep it inside
    page = timeline(customer=customer, viewer=charlie)
    assert note.pk not in page.withheld


def test_the_timeline_page_for_an_agent_costs_a_fixed_number_of_queries(
    case, charlie, back_case, now, django_assert_num_queries
):
    for i in range(5):
        note_on(case, now - timedelta(minutes=10 + i))
        note_on(back_case, now - timedelta(minutes=20 + i))
    charlie = type(charlie).objects.get(pk=charlie.pk)
    # The page, the agent, the viewer's teams (twice: the gate, then cases_visible), which
    # of the page's cases are open: none per row
    with django_assert_num_queries(5):
        page = timeline(customer=case.customer, viewer=charlie, limit=20)
    assert len(page.withheld) == 5


# --- the API -----------------------------------------------------------------------------


def test_the_api_timeline_withholds_another_teams_note(
    client, case, alice, bob, charlie, back_case, now
):
    note = note_on(case, now - timedelta(hours=1), actor=alice)
    path = f"/customers/{case.customer_id}/timeline"
    for reader in (alice, bob):
        item = next(i for i in api_get(client, reader, path, now=now).json()["items"])
        assert (item["id"], item["withheld"]) == (note.pk, None)
        assert MARKER in item["body"] and item["actor"] == "alice"
    response = api_get(client, charlie, path, now=now)
    assert response.status_code == 200
    assert MARKER not in response.content.decode()
    assert response.json()["items"] == [
        {
            "id": note.pk,
            "customer": case.customer_id,
            "channel": "web",
            "direction": "note",
            "occurred_at": "2026-11-23T09:00:00Z",
            "body": "",
            "case": case.ref,
            "source_id": None,
            "actor": None,
            "data": None,
            "sentiment": None,
            "withheld": "Internal note on a case of Front office — not visible to you",
        }
    ]
    # and the case itself is a 404 for him, as it was
    assert api_get(client, charlie, f"/cases/{case.ref}", now=now).status_code == 404


def test_the_api_timeline_shows_every_note_to_an_integration(client, case, alice, now):
    note_on(case, now - timedelta(hours=1), actor=alice)
    response = api_get(client, None, f"/customers/{case.customer_id}/timeline", now=now)
    assert MARKER in response.json()["items"][0]["body"]


# --- the class: every internal kind, through every view that shows a timeline ------------


def _timeline_views(case: Case, back_case: Case) -> list[tuple[str, str]]:
    """Every page and API answer that shows the shared customer's timeline to an agent."""
    cid = case.customer_id
    return [
        ("api", f"/customers/{cid}/timeline"),
        ("api", f"/interactions?customer={cid}"),
        ("api", f"/interactions?customer={cid}&direction=note"),
        ("console", f"/customers/{cid}/"),  # the customer page's panel
        ("console", f"/customers/{cid}/timeline/"),  # the htmx partial ("Older")
        ("console", f"/cases/{back_case.ref}/"),  # the customer panel beside his own case
    ]


@pytest.mark.parametrize("direction", sorted(INTERNAL_DIRECTIONS))
def test_no_view_of_the_timeline_shows_an_outsider_an_internal_interaction(
    client, direction, case, alice, bob, charlie, back_case, now
):
    # Given an internal interaction of this kind on the front office's case
    note = note_on(case, now - timedelta(hours=1), direction=direction, actor=alice)
    client.force_login(charlie)
    for kind, path in _timeline_views(case, back_case):
        # When Charlie opens each view that shows the timeline
        if kind == "api":
            response = api_get(client, charlie, path.split("?")[0], now=now, **_params(path))
        else:
            response = client.get(path)
        # Then it answers, says the note is there, and nowhere holds a word of it
        assert response.status_code == 200, path
        text = response.content.decode()
        assert MARKER not in text, path
        if kind == "api":
            assert note.pk in [i["id"] for i in json.loads(text)["items"]], path
        else:
            assert "Internal note on a case of Front office — not visible to you" in text, path
    # and its author and her teammate still read it through the same views
    for reader in (alice, bob):
        client.force_login(reader)
        for kind, path in _timeline_views(case, case):
            if kind == "api":
                response = api_get(client, reader, path.split("?")[0], now=now, **_params(path))
            else:
                response = client.get(path)
            assert response.status_code == 200, (reader, path)
            assert MARKER in response.content.decode(), (reader, path)


def _params(path: str) -> dict[str, str]:
    query = path.split("?", 1)[1] if "?" in path else ""
    return dict(p.split("=", 1) for p in query.split("&") if p)
