"""The search box's customer group and the merge picker find customers by one rule
(``customers.matching``): the same customers for the same words, for every viewer, but
for the ``#42`` form, which only the picker reads."""

from __future__ import annotations

import pytest

from lastmile.customers.matching import customers_matching
from lastmile.people.viewers import SYSTEM
from lastmile.search.selectors import search
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db

QUERIES = [
    "fernandes",
    "aya Fe",
    "ERNAND",
    "ya",
    "Maya.F@Example.com",
    "sam@example.com",
    "020 7946 0321",
    "+44 20 7946 0321",
    "@mayaf",
    "okafor",
    "nobody",
    "100%",
]


def test_search_finds_the_customers_the_picker_finds(alice, charlie, team, other_team):
    # Given customers of both teams, with names and identities that overlap
    maya = CustomerFactory(display_name="Maya Fernandes")
    IdentityFactory(customer=maya, kind="email", value="maya.f@example.com")
    IdentityFactory(customer=maya, kind="phone", value="+442079460321")
    IdentityFactory(customer=maya, kind="social", network="twitter", value="mayaf")
    CaseFactory(customer=maya, team=team)
    mayank = CustomerFactory(display_name="Mayank Fernandes")
    CaseFactory(customer=mayank, team=other_team)
    sam = CustomerFactory(display_name="Sam Okafor")
    IdentityFactory(customer=sam, kind="email", value="sam@example.com")
    CaseFactory(customer=sam, team=other_team)
    for viewer in (alice, charlie, SYSTEM):
        for q in QUERIES:
            # When each viewer types the same words in the search box and in the picker
            found = search(viewer=viewer, q=q, kind="customers", limit=8).customers
            # Then both find the same customers, newest first
            assert found == customers_matching(viewer=viewer, q=q, limit=8), (viewer, q)


def test_only_the_picker_reads_a_customer_number(team):
    maya = CustomerFactory(display_name="Maya Fernandes")
    CaseFactory(customer=maya, team=team)
    assert customers_matching(viewer=SYSTEM, q=f"#{maya.pk}") == [maya]
    assert search(viewer=SYSTEM, q=f"#{maya.pk}", kind="customers").customers == []
