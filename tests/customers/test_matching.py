"""``customers.matching``: the one rule for finding a customer by what an agent types (the
merge picker's ``customers_matching``; the search box's customer group shares
``identity_matches``, see tests/search/test_search_customers_rule.py)."""

from __future__ import annotations

import pytest

from lastmile.customers.matching import customer_number, customers_matching, identity_matches
from lastmile.customers.models import Identity
from lastmile.people.viewers import SYSTEM
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("q", "kind"),
    [
        ("Maya.F@Example.com", "email"),
        ("+44 20 7946 0321", "phone"),
        ("(020) 7946-0321", "phone"),
        ("0044 20 7946 0321", "phone"),
        ("@MayaF", "social"),
        ("mayaf", "social"),
    ],
)
def test_a_query_finds_the_identity_it_normalises_to(q, kind):
    # Given a customer's identities, stored normalised
    maya = CustomerFactory(display_name="Maya Fernandes")
    IdentityFactory(customer=maya, kind="email", value="maya.f@example.com")
    IdentityFactory(customer=maya, kind="phone", value="+442079460321")
    IdentityFactory(customer=maya, kind="social", network="twitter", value="mayaf")
    # When the query is one of them in another form
    match = identity_matches(q)
    # Then it finds that one, and only that one
    assert match is not None
    assert list(Identity.objects.filter(match).values_list("kind", flat=True)) == [kind]


@pytest.mark.parametrize("q", ["Maya Fernandes", "@", "  "])
def test_words_with_spaces_or_nothing_are_no_identity(q):
    assert identity_matches(q) is None


@pytest.mark.parametrize(
    ("q", "number"), [("#42", 42), ("# 42 ", 42), ("42", None), ("#0", None), ("#x", None)]
)
def test_only_the_hash_form_is_a_customer_number(q, number):
    assert customer_number(q) == number


@pytest.mark.django_db
def test_customers_matching_finds_by_name_identity_and_number_newest_first(team):
    maya = CustomerFactory(display_name="Maya Fernandes")
    IdentityFactory(customer=maya, kind="email", value="maya.f@example.com")
    IdentityFactory(customer=maya, kind="phone", value="+442079460321")
    other = CustomerFactory(display_name="Mayank Fernandes")
    for customer in (maya, other):
        CaseFactory(customer=customer, team=team)
    assert customers_matching(viewer=SYSTEM, q="fernandes") == [other, maya]
    for q in ("MAYA.F@example.com", "020 7946 0321", f"#{maya.pk}"):
        assert customers_matching(viewer=SYSTEM, q=q) == [maya], q
    assert customers_matching(viewer=SYSTEM, q="m") == []
    assert Identity.objects.count() == 2
