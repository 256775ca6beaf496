"""Which customers an agent sees follows the one case rule (``cases_visible``): a customer
with a case the agent may open, or a loop of the agent's teams."""

from __future__ import annotations

import pytest

from lastmile.customers.selectors import customer_get, customers_visible
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.services import loop_open
from lastmile.search.selectors import search
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def back_case_with_alices_note(other_team, alice, now):
    customer = CustomerFactory(display_name="Zebedee Quint")
    case = CaseFactory(customer=customer, team=other_team)
    interaction_record(
        customer=customer,
        channel="phone",
        direction="note",
        occurred_at=now,
        now=now,
        body="Called about the refund",
        case=case,
        actor=alice,
    )
    return case


def test_an_agent_sees_the_customer_of_a_case_they_may_open_by_a_note(
    client, alice, charlie, back_case_with_alices_note
):
    customer = back_case_with_alices_note.customer
    # alice's team owns no case and no loop of this customer, but she wrote on its case
    assert customer in customers_visible(viewer=alice)
    assert customer_get(customer_id=customer.pk, viewer=alice) == customer
    client.force_login(alice)
    assert client.get(f"/customers/{customer.pk}/").status_code == 200  # a 404 before
    assert customer.pk in {c.pk for c in search(viewer=alice, q="Zebedee Quint").customers}
    # the owning team sees the customer too
    assert customer in customers_visible(viewer=charlie)


def test_an_agent_does_not_see_a_customer_of_other_teams_only(client, alice, other_team, now):
    customer = CustomerFactory(display_name="Ottilie Marsh")
    CaseFactory(customer=customer, team=other_team)
    loop_open(customer=customer, kind="task", title="t", team=other_team, now=now)
    assert customer not in customers_visible(viewer=alice)
    client.force_login(alice)
    assert client.get(f"/customers/{customer.pk}/").status_code == 404


def test_a_loop_of_the_agents_team_shows_the_customer_once(alice, team, now):
    customer = CustomerFactory()
    for title in ("a", "b"):
        loop_open(customer=customer, kind="task", title=title, team=team, now=now)
    CaseFactory(customer=customer, team=team)
    CaseFactory(customer=customer, team=team)
    assert list(customers_visible(viewer=alice)) == [customer]


def test_merged_customers_are_not_listed(alice, team, now):
    kept = CustomerFactory()
    gone = CustomerFactory(merged_into=kept)
    CaseFactory(customer=gone, team=team)
    CaseFactory(customer=kept, team=team)
    assert list(customers_visible(viewer=alice)) == [kept]
