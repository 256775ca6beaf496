"""Customer merge and undo through the API: POST /customers/{id}/merge and
POST /customers/merges/{id}/undo, one write path each (the customers services)."""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.customers.models import Customer, CustomerMerge, Identity
from lastmile.people.models import Agent
from tests.api.client import Api
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db


def as_agent(client, user, now):  # type: ignore[no-untyped-def]
    return Api(
        client, token_create(name=user.username, agent=Agent.objects.get(user=user), now=now)[1]
    )


@pytest.fixture
def pair(team):  # type: ignore[no-untyped-def]
    """Two customers of the front office: a duplicate and the one to keep."""
    dup = CustomerFactory(display_name="Ana (dup)")
    keep = CustomerFactory(display_name="Ana Silva")
    IdentityFactory(customer=dup, value="ana@work.example")
    IdentityFactory(customer=keep, value="ana@home.example")
    CaseFactory(customer=dup, team=team)
    CaseFactory(customer=keep, team=team)
    return dup, keep


def test_an_agent_merges_a_duplicate_and_its_identities_move(client, alice, pair, now):
    # Given two customers of Alice's team
    dup, keep = pair
    api = as_agent(client, alice, now)
    # When she merges the duplicate into the other
    r = api.post(f"/customers/{dup.pk}/merge", {"into": keep.pk, "reason": "same person"})
    # Then the merge is recorded with her name, and the identities moved
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["merged"] == dup.pk and body["survivor"] == keep.pk
    assert body["actor"] == "alice" and body["reason"] == "same person"
    assert body["undone_at"] is None and body["may_undo"] is True
    assert body["moved"]["customers.Identity.customer"] == 1
    assert set(Identity.objects.filter(customer=keep).values_list("value", flat=True)) == {
        "ana@work.example",
        "ana@home.example",
    }
    assert Customer.objects.get(pk=dup.pk).merged_into_id == keep.pk
    # and the survivor's history lists it
    assert [m["id"] for m in api.get(f"/customers/{keep.pk}/merges").json()] == [body["id"]]


def test_undo_puts_everything_back(client, alice, pair, now):
    dup, keep = pair
    api = as_agent(client, alice, now)
    merge_id = api.post(f"/customers/{dup.pk}/merge", {"into": keep.pk}).json()["id"]
    # When she undoes it
    r = api.post(f"/customers/merges/{merge_id}/undo")
    # Then the duplicate stands alone again with its identity and case
    assert r.status_code == 200, r.content
    assert r.json()["undone_at"] is not None and r.json()["may_undo"] is False
    dup.refresh_from_db()
    assert dup.merged_into_id is None
    assert list(Identity.objects.filter(customer=dup).values_list("value", flat=True)) == [
        "ana@work.example"
    ]
    assert dup.cases.count() == 1


def test_undoing_an_undone_merge_is_a_409_naming_the_merge(client, alice, pair, now):
    dup, keep = pair
    api = as_agent(client, alice, now)
    merge_id = api.post(f"/customers/{dup.pk}/merge", {"into": keep.pk}).json()["id"]
    api.post(f"/customers/merges/{merge_id}/undo")
    r = api.post(f"/customers/merges/{merge_id}/undo")
    assert r.status_code == 409
    assert r.json()["code"] == "already_undone"
    assert r.json()["errors"][0]["field"] == "merge"


def test_merging_a_customer_into_itself_is_refused(client, alice, pair, now):
    dup, _ = pair
    r = as_agent(client, alice, now).post(f"/customers/{dup.pk}/merge", {"into": dup.pk})
    assert r.status_code == 409
    assert r.json()["code"] == "merge_self"
    assert r.json()["errors"] == [
        {"index": None, "field": "into", "reason": "must be another customer"}
    ]
    assert not CustomerMerge.objects.exists()


def test_merging_an_already_merged_customer_is_refused(client, alice, pair, team, now):
    dup, keep = pair
    third = CustomerFactory()
    CaseFactory(customer=third, team=team)
    api = as_agent(client, alice, now)
    api.post(f"/customers/{dup.pk}/merge", {"into": keep.pk})
    # The merged one, in the address or as the one to keep
    again = api.post(f"/customers/{dup.pk}/merge", {"into": third.pk})
    assert again.status_code == 409 and again.json()["code"] == "already_merged"
    assert again.json()["errors"][0]["field"] == "customer"
    into = api.post(f"/customers/{third.pk}/merge", {"into": dup.pk})
    assert into.status_code == 409 and into.json()["errors"][0]["field"] == "into"
    assert CustomerMerge.objects.count() == 1


def test_an_unknown_customer_to_keep_is_a_422_on_into(client, alice, pair, now):
    dup, _ = pair
    r = as_agent(client, alice, now).post(f"/customers/{dup.pk}/merge", {"into": 987654})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"index": None, "field": "into", "reason": "no such customer"}]


def test_an_unknown_customer_in_the_address_is_a_404(client, alice, pair, now):
    _, keep = pair
    r = as_agent(client, alice, now).post("/customers/987654/merge", {"into": keep.pk})
    assert r.status_code == 404


def test_a_missing_into_is_a_422(client, alice, pair, now):
    dup, _ = pair
    r = as_agent(client, alice, now).post(f"/customers/{dup.pk}/merge", {"reason": "x"})
    assert r.status_code == 422
    assert any("into" in str(e["field"]) for e in r.json()["errors"])


def test_an_outsider_cannot_merge_customers_of_another_team(client, charlie, pair, now):
    # Given Charlie, of the back office, who sees neither customer
    dup, keep = pair
    r = as_agent(client, charlie, now).post(f"/customers/{dup.pk}/merge", {"into": keep.pk})
    assert r.status_code == 404
    assert Customer.objects.get(pk=dup.pk).merged_into_id is None


def test_a_teammate_may_not_undo_a_merge_but_an_admin_may(
    client, alice, bob, admin_user, pair, now
):
    # Given Alice's merge
    dup, keep = pair
    merge_id = (
        as_agent(client, alice, now)
        .post(f"/customers/{dup.pk}/merge", {"into": keep.pk})
        .json()["id"]
    )
    # When Bob, her teammate, tries to undo it: refused, nothing changes
    bob_api = as_agent(client, bob, now)
    assert bob_api.get(f"/customers/{keep.pk}/merges").json()[0]["may_undo"] is False
    r = bob_api.post(f"/customers/merges/{merge_id}/undo")
    assert r.status_code == 403
    assert CustomerMerge.objects.get(pk=merge_id).undone_at is None
    # When the outsider tries: the merge does not exist for him
    # and when an admin does, it is undone
    r = as_agent(client, admin_user, now).post(f"/customers/merges/{merge_id}/undo")
    assert r.status_code == 200
    assert Customer.objects.get(pk=dup.pk).merged_into_id is None


def test_an_outsider_sees_no_merge(client, alice, charlie, pair, now):
    dup, keep = pair
    merge_id = (
        as_agent(client, alice, now)
        .post(f"/customers/{dup.pk}/merge", {"into": keep.pk})
        .json()["id"]
    )
    r = as_agent(client, charlie, now).post(f"/customers/merges/{merge_id}/undo")
    assert r.status_code == 404
    assert CustomerMerge.objects.get(pk=merge_id).undone_at is None


def test_an_integration_token_merges_and_undoes_with_no_person_as_actor(client, pair, now):
    dup, keep = pair
    api = Api(client, token_create(name="crm", now=now)[1])
    r = api.post(f"/customers/{dup.pk}/merge", {"into": keep.pk})
    assert r.status_code == 201 and r.json()["actor"] is None
    assert api.post(f"/customers/merges/{r.json()['id']}/undo").status_code == 200


def test_a_merge_whose_survivor_was_merged_later_waits_for_that_undo(
    client, alice, pair, team, now
):
    dup, keep = pair
    third = CustomerFactory()
    CaseFactory(customer=third, team=team)
    api = as_agent(client, alice, now)
    first = api.post(f"/customers/{dup.pk}/merge", {"into": keep.pk}).json()["id"]
    second = api.post(f"/customers/{keep.pk}/merge", {"into": third.pk}).json()["id"]
    r = api.post(f"/customers/merges/{first}/undo")
    assert r.status_code == 409 and r.json()["code"] == "merge_order"
    assert r.json()["errors"][0] == {
        "index": None,
        "field": "merge",
        "reason": f"undo merge {second} first",
    }
    assert CustomerMerge.objects.get(pk=first).undone_at is None
