"""GET /api/v1/loops?customer=: one customer's loops, as the viewer may see them."""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.loops.services import loop_open
from tests.api.client import Api
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers_loops(customer, team, other_team, now):
    other = CustomerFactory()
    mine = loop_open(customer=customer, kind="task", title="Call back", team=team, now=now)
    theirs = loop_open(customer=customer, kind="task", title="Refund", team=other_team, now=now)
    elsewhere = loop_open(customer=other, kind="task", title="Other", team=team, now=now)
    return mine, theirs, elsewhere


def test_the_customer_filter_lists_only_that_customers_loops(
    client, customer, now, two_customers_loops
):
    mine, theirs, _ = two_customers_loops
    api = Api(client, token_create(name="integration", now=now)[1])
    r = api.get("/loops", customer=customer.pk)
    assert r.status_code == 200
    assert sorted(x["id"] for x in r.json()["items"]) == sorted([mine.pk, theirs.pk])
    assert r.json()["count"] == 2


def test_an_agent_sees_only_their_teams_loops_of_the_customer(
    client, customer, alice, now, two_customers_loops
):
    mine, _, _ = two_customers_loops
    from lastmile.people.selectors import agent_for

    api = Api(client, token_create(name="alice", now=now, agent=agent_for(alice))[1])
    r = api.get("/loops", customer=customer.pk)
    assert [x["id"] for x in r.json()["items"]] == [mine.pk]


def test_a_customer_with_no_loops_gets_an_empty_page(client, now, two_customers_loops):
    api = Api(client, token_create(name="integration", now=now)[1])
    nobody = CustomerFactory()
    assert api.get("/loops", customer=nobody.pk).json() == {"items": [], "count": 0}


@pytest.mark.parametrize("bad", ["0", "abc", "-3"])
def test_a_bad_customer_filter_is_a_422_naming_the_field(client, now, bad):
    api = Api(client, token_create(name="integration", now=now)[1])
    r = api.get("/loops", customer=bad)
    assert r.status_code == 422
    assert any("customer" in str(e.get("field", "")) for e in r.json()["errors"])
