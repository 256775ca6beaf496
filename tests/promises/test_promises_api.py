"""The promises API and POST /api/v1/policies/check, through the test client."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.customers.models import Customer
from lastmile.loops.models import Loop
from lastmile.people.models import Agent
from lastmile.promises.models import Promise
from lastmile.promises.services import policy_create
from tests.api.client import Api
from tests.people.factories import AgentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def policies(occupancy, refund_limit, now):
    """The occupancy and refund policies, and upgrades for Gold members only."""
    policy_create(
        key="gold-upgrade",
        title="Upgrades for Gold",
        applies_when="has(terms.upgrade)",
        rule='customer.tier == "Gold"',
        severity="warn",
        text="Only Gold members get upgrades.",
        now=now - timedelta(days=1),
    )


def api_for(client, now, user=None):
    agent = Agent.objects.get(user=user) if user is not None else None
    return Api(client, token_create(name=f"t-{user or 'integration'}", now=now, agent=agent)[1])


@pytest.fixture
def as_alice(client, alice, now):
    return api_for(client, now, alice)


@pytest.fixture
def as_charlie(client, charlie, now):
    return api_for(client, now, charlie)


def body(on_case, now, **kw):
    base = {
        "case": on_case.ref if on_case is not None else None,
        "text": "Two extra beds",
        "terms": {"adults": 4, "extra_beds": 2, "room_type": "deluxe"},
        "team": "back",
        "channel": "phone",
        "due_at": (now + timedelta(days=2)).isoformat(),
    }
    base.update(kw)
    return base


# --- policies/check ------------------------------------------------------------------------


def test_check_returns_every_applicable_verdict(as_alice, policies):
    r = as_alice.post(
        "/policies/check",
        {
            "terms": {"adults": 4, "room_type": "deluxe", "refund_amount": 100, "upgrade": "suite"},
            "customer": {"tier": "Gold"},
        },
    )
    assert r.status_code == 200, r.content
    assert [
        (v["policy"], v["version"], v["severity"], v["result"]) for v in r.json()["verdicts"]
    ] == [
        ("goodwill-refund", 1, "block", "pass"),
        ("gold-upgrade", 1, "warn", "pass"),
        ("occupancy-deluxe", 1, "warn", "fail"),
    ]
    assert r.json()["verdicts"][2]["text"] == "A deluxe room takes at most 3 adults."


def test_check_without_the_customer_reports_customer_rules_as_errors(as_alice, policies):
    r = as_alice.post("/policies/check", {"terms": {"upgrade": "suite"}})
    [verdict] = r.json()["verdicts"]
    assert verdict["result"] == "error" and "tier" in verdict["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"terms": [1, 2]}, "terms"),
        ({"terms": "adults=4"}, "terms"),
        ({}, "terms"),
        ({"terms": {}, "customer": [1]}, "customer"),
        ({"terms": {"bad key": 1}}, "terms.bad key"),
    ],
)
def test_check_refuses_terms_that_are_not_an_object(as_alice, policies, payload, field):
    r = as_alice.post("/policies/check", payload)
    assert r.status_code == 422, r.content
    assert r.json()["errors"][0]["field"] == field


def test_check_refuses_non_finite_numbers(as_alice, policies):
    r = as_alice.post("/policies/check", raw='{"terms": {"adults": NaN}}')
    # Refused while decoding the body (lastmile.core.jsonbody), before any schema: a 400.
    assert r.status_code == 400 and "NaN is not a JSON number" in r.json()["detail"]


def test_check_needs_a_token(client, policies):
    r = client.post("/api/v1/policies/check", "{}", content_type="application/json")
    assert r.status_code == 401


def test_policies_are_listed_with_their_current_version(as_alice, policies):
    r = as_alice.get("/policies")
    assert r.status_code == 200
    assert {p["key"]: p["version"] for p in r.json()} == {
        "gold-upgrade": 1,
        "goodwill-refund": 1,
        "occupancy-deluxe": 1,
    }


# --- recording ----------------------------------------------------------------------------


def test_recording_with_an_unconfirmed_warning_is_a_409_naming_the_policy(
    as_alice, case, other_team, policies, now
):
    r = as_alice.post("/promises", body(case, now))
    assert r.status_code == 409, r.content
    data = r.json()
    assert data["code"] == "policy_warning"
    assert data["errors"][0]["field"] == "policies.occupancy-deluxe"
    assert data["errors"][0]["reason"].startswith("warn fail (v1)")
    assert not Promise.objects.exists() and not Loop.objects.exists()


def test_recording_with_the_warning_confirmed(as_alice, alice, case, other_team, policies, now):
    r = as_alice.post("/promises", body(case, now, confirm_warnings=True))
    assert r.status_code == 201, r.content
    data = r.json()
    assert (data["made_by"], data["made_by_team"], data["channel"], data["team"]) == (
        "alice",
        "front",
        "phone",
        "back",
    )
    assert data["warnings_confirmed_by"] == "alice" and data["case"] == case.ref
    assert data["verdicts"][0]["result"] == "fail" and data["state"] == "open"
    loop = Loop.objects.get(pk=data["loop"])
    assert loop.kind == "promise" and loop.team == other_team


def test_a_block_without_authority_is_a_409_unless_the_agent_asks_for_the_exception(
    as_alice, case, other_team, policies, now
):
    r = as_alice.post("/promises", body(case, now, terms={"refund_amount": 3000}))
    assert r.status_code == 409 and r.json()["code"] == "policy_blocked"
    r = as_alice.post("/promises", body(case, now, terms={"refund_amount": 3000}, override=True))
    assert r.status_code == 201 and r.json()["state"] == "awaiting" and r.json()["loop"] is None


def test_a_lead_with_authority_overrides_a_block(client, case, other_team, policies, now):
    lead = AgentFactory(
        user__username="lena",
        role="lead",
        teams=[case.team],
        authority={"limits": {"refund_amount": 5000}},
    ).user
    r = api_for(client, now, lead).post(
        "/promises", body(case, now, terms={"refund_amount": 3000}, override=True)
    )
    assert r.status_code == 201, r.content
    assert r.json()["overridden_by"] == "lena"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"terms": ["adults"]}, "terms"),
        ({"due_at": "2026-11-25T10:00:00"}, "due_at"),
        ({"team": "nope"}, "team"),
        ({"channel": "pigeon"}, "channel"),
        ({"text": ""}, "text"),
        ({"made_by": "nobody"}, "made_by"),
        ({"case": None}, "case"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(as_alice, case, other_team, now, change, field):
    r = as_alice.post("/promises", body(case, now, **change))
    assert r.status_code == 422, r.content
    assert r.json()["errors"][0]["field"] == field
    assert not Promise.objects.exists()


def test_an_outsider_cannot_promise_on_a_case_they_cannot_see(as_charlie, case, policies, now):
    r = as_charlie.post("/promises", body(case, now, team="front"))
    assert r.status_code == 404


def test_an_integration_records_for_a_named_agent_by_customer(client, alice, customer, team, now):
    api = api_for(client, now)
    payload = body(None, now, case=None, customer={"id": customer.pk}, team="front", terms={})
    r = api.post("/promises", payload)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "made_by"
    r = api.post("/promises", {**payload, "made_by": "alice", "external_id": "bot-1"})
    assert r.status_code == 201, r.content
    again = api.post("/promises", {**payload, "made_by": "alice", "external_id": "bot-1"})
    assert again.json()["id"] == r.json()["id"] and Promise.objects.count() == 1
    assert Promise.objects.get().recorded_via == "api:t-integration"
    assert r.json()["customer"] == customer.pk and r.json()["case"] is None


# --- reading and outcomes -----------------------------------------------------------------


@pytest.fixture
def promise(as_alice, case, other_team, now):
    r = as_alice.post("/promises", body(case, now, terms={"extra_beds": 1}))
    assert r.status_code == 201, r.content
    return r.json()


def test_list_and_get_are_scoped_to_the_teams_involved(client, as_alice, as_charlie, promise, now):
    assert [p["id"] for p in as_alice.get("/promises").json()["items"]] == [promise["id"]]
    assert as_charlie.get(f"/promises/{promise['id']}").status_code == 200
    outsider = AgentFactory(user__username="olga").user
    as_olga = api_for(client, now, outsider)
    assert as_olga.get(f"/promises/{promise['id']}").status_code == 404
    assert as_olga.get("/promises").json()["count"] == 0
    assert as_alice.get("/promises", state="kept").json()["count"] == 0


def test_only_the_keeping_team_keeps_a_promise(as_alice, as_charlie, promise):
    r = as_alice.post(f"/promises/{promise['id']}/keep")
    assert r.status_code == 403
    assert Promise.objects.get().state == "open"
    r = as_charlie.post(f"/promises/{promise['id']}/keep", {"note": "beds in the room"})
    assert r.status_code == 200 and r.json()["state"] == "kept"
    assert r.json()["outcome_by"] == "charlie"
    assert as_charlie.post(f"/promises/{promise['id']}/keep").status_code == 409


def test_breaking_needs_a_reason_and_opens_a_followup(as_charlie, promise):
    assert as_charlie.post(f"/promises/{promise['id']}/break", {}).status_code == 422
    r = as_charlie.post(f"/promises/{promise['id']}/break", {"reason": "hotel full"})
    assert r.status_code == 200 and r.json()["state"] == "broken"
    assert Loop.objects.get(pk=r.json()["followup_loop"]).kind == "followup"


def test_renegotiating_returns_the_new_promise(as_alice, promise, now):
    r = as_alice.post(
        f"/promises/{promise['id']}/renegotiate",
        {
            "text": "Two beds after all",
            "terms": {"extra_beds": 2},
            "due_at": (now + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["replaces"] == promise["id"]
    old = as_alice.get(f"/promises/{promise['id']}").json()
    assert old["state"] == "renegotiated" and old["replaced_by"] == r.json()["id"]


def test_the_customer_is_unchanged_by_a_refused_promise(as_alice, case, policies, now):
    before = Customer.objects.count()
    as_alice.post("/promises", body(case, now))
    assert Customer.objects.count() == before


def test_the_list_costs_the_same_queries_for_one_promise_or_many(
    as_alice, case, now, django_assert_max_num_queries
):
    def made(n):
        for i in range(n):
            r = as_alice.post("/promises", body(case, now, team="front", terms={}, text=f"P{i}"))
            assert r.status_code == 201

    made(1)
    with django_assert_max_num_queries(100) as ctx:
        assert as_alice.get("/promises").json()["count"] == 1
    one = len(ctx.captured_queries)
    made(10)
    with django_assert_max_num_queries(one):
        assert as_alice.get("/promises").json()["count"] == 11
