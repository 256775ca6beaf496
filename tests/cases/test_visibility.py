"""Which cases a team may open: the one rule of ``cases_visible``, each of its three ways,
and not more."""

from __future__ import annotations

import pytest

from lastmile.cases.selectors import case_get, cases_visible
from lastmile.core.errors import NotFound
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import LoopKind
from lastmile.loops.services import loop_open, loop_reassign
from tests.cases.factories import CaseFactory
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing(db):
    return TeamFactory(name="Billing", slug="billing")


@pytest.fixture
def dora(billing):
    """An agent of a third team, which has nothing to do with the case."""
    return AgentFactory(user__username="dora", teams=[billing]).user


def _opens(viewer, case) -> bool:
    return cases_visible(viewer=viewer).filter(pk=case.pk).exists()


def test_a_team_opens_the_case_it_owns_and_nobody_else_does(case, alice, bob, charlie):
    # given a front-office case (alice and bob's team)
    # then the owning team opens it, an outsider does not
    assert _opens(alice, case) and _opens(bob, case)
    assert not _opens(charlie, case)
    with pytest.raises(NotFound):
        case_get(ref=case.ref, viewer=charlie)


def test_a_team_opens_a_case_on_which_it_owns_a_loop(case, charlie, other_team, now):
    # given a task on the front office's case handed to the back office
    loop_open(
        customer=case.customer,
        kind=LoopKind.TASK,
        title="Refund",
        case=case,
        team=other_team,
        now=now,
    )
    # then the back office opens the case behind it
    assert _opens(charlie, case)


def test_a_team_opens_a_case_on_which_it_owned_a_loop_before_a_reassignment(
    case, charlie, dora, other_team, billing, now
):
    # given a task of the back office, reassigned to billing
    loop = loop_open(
        customer=case.customer,
        kind=LoopKind.TASK,
        title="Refund",
        case=case,
        team=other_team,
        now=now,
    )
    loop_reassign(loop=loop, team=billing, now=now)
    # then both the back office (owned it) and billing (owns it) open the case
    assert _opens(charlie, case)
    assert _opens(dora, case)


def test_front_office_opens_the_case_where_its_call_notes_are(
    customer, other_team, alice, bob, charlie, dora, now
):
    # given a back-office case on which alice (front office) logged a call
    case = CaseFactory(customer=customer, team=other_team)
    interaction_record(
        customer=customer,
        channel="phone",
        direction="note",
        occurred_at=now,
        now=now,
        body="Called: customer asked about the refund",
        case=case,
        actor=alice,
    )
    # then alice's whole team opens it (fails before the customers grant)
    assert case_get(ref=case.ref, viewer=alice).pk == case.pk
    assert _opens(bob, case)
    # and the owning team still does, and a third team does not
    assert _opens(charlie, case)
    assert not _opens(dora, case)


def test_a_customer_writing_or_a_system_note_grants_nobody(customer, other_team, alice, now):
    # given a back-office case with an inbound message and a note by no person
    case = CaseFactory(customer=customer, team=other_team)
    interaction_record(
        customer=customer,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="Where is my refund?",
        case=case,
    )
    # then the front office still may not open it
    assert not _opens(alice, case)


def test_a_loop_or_a_note_on_another_case_of_the_customer_grants_nothing_here(
    customer, team, other_team, alice, now
):
    # given the front office works on one case of the customer
    mine = CaseFactory(customer=customer, team=team)
    interaction_record(
        customer=customer,
        channel="phone",
        direction="note",
        occurred_at=now,
        now=now,
        body="Call",
        case=mine,
        actor=alice,
    )
    loop_open(customer=customer, kind=LoopKind.TASK, title="Check", case=mine, team=team, now=now)
    # then a back-office case of the same customer stays closed to it
    theirs = CaseFactory(customer=customer, team=other_team)
    assert not _opens(alice, theirs)


def test_an_admin_opens_every_case_and_a_user_in_no_team_none(case, admin_user):
    nobody = AgentFactory(user__username="nobody").user
    assert _opens(admin_user, case)
    assert not _opens(nobody, case)
