"""Fixtures shared by the promises tests: the two policies most promises meet, and Olga."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.promises.services import policy_create
from tests.people.factories import AgentFactory, TeamFactory

DELUXE = 'has(terms.room_type) && terms.room_type == "deluxe"'


@pytest.fixture
def occupancy(now):
    return policy_create(
        key="occupancy-deluxe",
        title="Deluxe rooms sleep three adults",
        applies_when=DELUXE,
        rule="terms.adults <= 3",
        severity="warn",
        text="A deluxe room takes at most 3 adults.",
        now=now - timedelta(days=1),
    )


@pytest.fixture
def refund_limit(now):
    return policy_create(
        key="goodwill-refund",
        title="Goodwill refunds above 2,000",
        applies_when="has(terms.refund_amount)",
        rule="double(terms.refund_amount) <= 2000.0",
        severity="block",
        text="Refunds above 2,000 need a lead with refund authority.",
        authority_term="refund_amount",
        now=now - timedelta(days=1),
    )


@pytest.fixture
def olga(db):
    """An agent of the cards team: an outsider to all of the promise's work."""
    return AgentFactory(user__username="olga", teams=[TeamFactory(slug="cards")]).user
