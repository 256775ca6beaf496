"""Customer merge and undo from the console's customer page (console/merge_views.py)."""

from __future__ import annotations

import pytest

from lastmile.customers.models import Customer, CustomerMerge, Identity
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(team):  # type: ignore[no-untyped-def]
    dup = CustomerFactory(display_name="Ana (dup)")
    keep = CustomerFactory(display_name="Ana Silva")
    IdentityFactory(customer=dup, value="ana@work.example")
    CaseFactory(customer=dup, team=team)
    CaseFactory(customer=keep, team=team)
    return dup, keep


def test_the_customer_page_loads_the_merge_form(client, alice, pair):
    dup, _ = pair
    client.force_login(alice)
    page = client.get(f"/customers/{dup.pk}/").content.decode()
    assert f'hx-get="/customers/{dup.pk}/merges/"' in page
    part = client.get(f"/customers/{dup.pk}/merges/").content.decode()
    assert f'action="/customers/{dup.pk}/merge/"' in part and "No merges" in part


def test_an_agent_merges_from_the_console_and_lands_on_the_survivor(client, alice, pair):
    # Given Alice on the duplicate's page
    dup, keep = pair
    client.force_login(alice)
    # When she merges it into the customer kept, typed as on their page
    r = client.post(f"/customers/{dup.pk}/merge/", {"into": f"#{keep.pk}", "reason": "same"})
    # Then she lands on the survivor, which has the identity and lists the merge with Undo
    assert r.status_code == 302 and r.url == f"/customers/{keep.pk}/"
    assert Identity.objects.get(value="ana@work.example").customer_id == keep.pk
    merge = CustomerMerge.objects.get()
    assert merge.actor == alice and merge.reason == "same"
    page = client.get(r.url).content.decode()
    assert "merged into Ana Silva" in page
    part = client.get(f"/customers/{keep.pk}/merges/").content.decode()
    assert f'action="/customers/merges/{merge.pk}/undo/"' in part
    assert "Ana (dup)" in part and "alice" in part.lower()


def test_undo_from_the_console_brings_the_customer_back(client, alice, pair):
    dup, keep = pair
    client.force_login(alice)
    client.post(f"/customers/{dup.pk}/merge/", {"into": str(keep.pk)})
    merge = CustomerMerge.objects.get()
    r = client.post(f"/customers/merges/{merge.pk}/undo/")
    assert r.status_code == 302 and r.url == f"/customers/{dup.pk}/"
    assert Customer.objects.get(pk=dup.pk).merged_into_id is None
    part = client.get(f"/customers/{keep.pk}/merges/").content.decode()
    assert "undone" in part and "/undo/" not in part


def test_a_refused_merge_says_why_once_and_changes_nothing(client, alice, pair):
    dup, _ = pair
    client.force_login(alice)
    r = client.post(f"/customers/{dup.pk}/merge/", {"into": str(dup.pk)}, follow=True)
    page = r.content.decode()
    assert page.count("Not merged: a customer cannot be merged into itself.") == 1
    assert not CustomerMerge.objects.exists()
    r = client.post(f"/customers/{dup.pk}/merge/", {"into": "nobody"}, follow=True)
    assert "Not merged: give the number of the customer to keep" in r.content.decode()
    r = client.post(f"/customers/{dup.pk}/merge/", {"into": "99999"}, follow=True)
    assert "Not merged: customer 99999 not found." in r.content.decode()


def test_a_teammate_sees_no_undo_button_and_cannot_undo(client, alice, bob, pair):
    dup, keep = pair
    client.force_login(alice)
    client.post(f"/customers/{dup.pk}/merge/", {"into": str(keep.pk)})
    merge = CustomerMerge.objects.get()
    client.force_login(bob)
    assert "/undo/" not in client.get(f"/customers/{keep.pk}/merges/").content.decode()
    r = client.post(f"/customers/merges/{merge.pk}/undo/", follow=True)
    assert (
        "Not undone: only the agent who made a merge, or an admin, may undo it."
        in r.content.decode()
    )
    assert CustomerMerge.objects.get().undone_at is None


def test_an_outsider_can_neither_see_nor_merge(client, charlie, pair):
    dup, keep = pair
    client.force_login(charlie)
    assert client.get(f"/customers/{dup.pk}/merges/").status_code == 404
    assert client.post(f"/customers/{dup.pk}/merge/", {"into": str(keep.pk)}).status_code == 404
    assert not CustomerMerge.objects.exists()
