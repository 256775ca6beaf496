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
    assert f'hx-get="/customers/{dup.pk}/merge/find/"' in part and "No merges" in part


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


# --- the picker: find the customer to keep, see who goes into whom, then merge -----------


@pytest.fixture
def crowd(team, other_team, pair):  # type: ignore[no-untyped-def]
    """Besides the pair: a phone customer of the front office, and one of the back office
    only (not Alice's to see)."""
    phone = CustomerFactory(display_name="Bruno Costa")
    IdentityFactory(customer=phone, kind="phone", value="+351912345678")
    CaseFactory(customer=phone, team=team)
    hidden = CustomerFactory(display_name="Ana Hidden")
    CaseFactory(customer=hidden, team=other_team)
    return phone, hidden


def find(client, customer, q):  # type: ignore[no-untyped-def]
    r = client.get(f"/customers/{customer.pk}/merge/find/", {"q": q})
    assert r.status_code == 200
    return r.content.decode()


def test_the_picker_finds_visible_customers_by_name_but_not_the_customer_itself(
    client, alice, pair, crowd
):
    # Given Alice on the duplicate's page
    dup, keep = pair
    _, hidden = crowd
    client.force_login(alice)
    # When she types part of a name
    part = find(client, dup, "ana")
    # Then the customer to keep is offered, with its email, as a button loading the confirmation
    assert f'hx-get="/customers/{dup.pk}/merge/confirm/?into={keep.pk}"' in part
    assert "Ana Silva" in part and f"#{keep.pk}" in part
    # and neither the page's own customer nor one of another team
    assert f"?into={dup.pk}" not in part
    assert "Ana Hidden" not in part and f"?into={hidden.pk}" not in part


def test_the_picker_finds_by_email_phone_in_another_format_and_number(client, alice, pair, crowd):
    dup, keep = pair
    phone, _ = crowd
    IdentityFactory(customer=keep, value="ana@home.example")
    client.force_login(alice)
    assert f"?into={keep.pk}" in find(client, dup, "ANA@home.example")
    assert f"?into={phone.pk}" in find(client, dup, "+351 912 345 678")
    by_number = find(client, dup, f"#{phone.pk}")
    assert f"?into={phone.pk}" in by_number and f"?into={keep.pk}" not in by_number


def test_the_picker_asks_for_two_characters_and_says_when_nothing_matches(client, alice, pair):
    dup, _ = pair
    client.force_login(alice)
    assert "Type two characters or more." in find(client, dup, "a")
    assert "No customer you can see matches “zzz”." in find(client, dup, "zzz")


def test_the_confirmation_names_who_goes_into_whom_and_posts_the_merge(client, alice, pair):
    # Given Alice picked the customer to keep
    dup, keep = pair
    client.force_login(alice)
    part = client.get(f"/customers/{dup.pk}/merge/confirm/", {"into": keep.pk}).content.decode()
    # Then the confirmation names both, and its form carries the pick
    assert f'Ana (dup)</span> <span class="subtle">(#{dup.pk})</span> will be merged into' in part
    assert f'Ana Silva</span> <span class="subtle">(#{keep.pk})</span>.' in part
    assert f'name="into" value="{keep.pk}"' in part
    assert f'action="/customers/{dup.pk}/merge/"' in part
    # and nothing is merged until it is posted
    assert not CustomerMerge.objects.exists()


def test_the_confirmation_says_why_a_pair_cannot_be_merged(client, alice, pair, team):
    dup, keep = pair
    third = CustomerFactory(display_name="Ana S.")
    CaseFactory(customer=third, team=team)
    client.force_login(alice)
    client.post(f"/customers/{keep.pk}/merge/", {"into": str(third.pk)})
    part = client.get(f"/customers/{dup.pk}/merge/confirm/", {"into": keep.pk}).content.decode()
    assert f"Cannot merge: customer {keep.pk} is already merged into {third.pk}." in part
    assert 'name="into"' not in part
    part = client.get(f"/customers/{dup.pk}/merge/confirm/", {"into": "x"}).content.decode()
    assert "Cannot merge: give the number of the customer to keep" in part


def test_an_outsider_cannot_use_the_picker(client, charlie, pair):
    dup, keep = pair
    client.force_login(charlie)
    assert client.get(f"/customers/{dup.pk}/merge/find/", {"q": "ana"}).status_code == 404
    r = client.get(f"/customers/{dup.pk}/merge/confirm/", {"into": keep.pk})
    assert r.status_code == 404


def test_the_pickers_queries_do_not_grow_with_the_matches(
    client, alice, pair, team, django_assert_max_num_queries
):
    dup, _ = pair
    client.force_login(alice)
    find(client, dup, "ana")  # the session and the user, read once
    # The session, the user, the customer, the viewer's teams (read by each visibility check:
    # people.selectors), the matches and their identities; none per match.
    with django_assert_max_num_queries(12) as few:
        assert find(client, dup, "ana").count("data-merge-pick=") == 1
    for n in range(6):
        other = CustomerFactory(display_name=f"Ana {n}")
        IdentityFactory(customer=other)
        CaseFactory(customer=other, team=team)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert find(client, dup, "ana").count("data-merge-pick=") == 7
