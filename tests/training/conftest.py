"""Practice fixtures: the front office's lead Lena, a closed conversation of Alice's with a
customer who gave her name, e-mail and phone, a QA scorecard, a refund policy and an
article about late deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.customers.models import Customer
from lastmile.knowledge.services import article_create
from lastmile.people.selectors import agent_for
from lastmile.promises.services import policy_create
from lastmile.scorecards.models import QaCategory, QaScorecard
from lastmile.training import services
from tests.api.client import Api
from tests.people.factories import AgentFactory, team_lead
from tests.scorecards.qa_helpers import conversation

CUSTOMER_WROTE = (
    "Hi, this is Margaret Oduya, my parcel is three days late. Call me on +447700900123 "
    "or write to margaret.oduya@example.com. I want a refund of the delivery charge."
)


@pytest.fixture
def lena(team):  # type: ignore[no-untyped-def]
    """The front office's lead."""
    return team_lead(team, "lena")


@pytest.fixture
def nina(team):  # type: ignore[no-untyped-def]
    """A new agent of the front office."""
    return AgentFactory(user__username="nina", teams=[team]).user


@pytest.fixture
def card(db):  # type: ignore[no-untyped-def]
    """A QA scorecard of three categories, one critical."""
    sc = QaScorecard.objects.create(name="Front office QA")
    QaCategory.objects.create(
        scorecard=sc, name="Answered", weight=3, min_score=0, max_score=4, critical=True, position=0
    )
    QaCategory.objects.create(
        scorecard=sc, name="Tone", weight=1, min_score=1, max_score=5, position=1
    )
    QaCategory.objects.create(
        scorecard=sc, name="Next step", weight=2, min_score=0, max_score=2, position=2
    )
    return sc


@pytest.fixture
def closed_case(team, alice, now):  # type: ignore[no-untyped-def]
    customer = Customer.objects.create(display_name="Margaret Oduya", created_at=now)
    return conversation(
        customer,
        team,
        alice,
        at=now - timedelta(days=3),
        parts=[
            ("in", CUSTOMER_WROTE),
            ("out", "Sorry Margaret, we'll refund the delivery charge today."),
        ],
    )


@pytest.fixture
def refund_policy(now):  # type: ignore[no-untyped-def]
    return policy_create(
        key="delivery-refund",
        title="Delivery refunds up to 30",
        applies_when="has(terms.refund_amount)",
        rule="double(terms.refund_amount) <= 30.0",
        severity="warn",
        text="Refund at most 30 of a delivery charge without a lead.",
        now=now - timedelta(days=1),
    )


@pytest.fixture
def late_article(now):  # type: ignore[no-untyped-def]
    return article_create(
        title="Late parcels and delivery refunds",
        body_md="When a parcel is late, apologise and refund the delivery charge.",
        now=now,
    )


@pytest.fixture
def practice(lena, closed_case, card, now):  # type: ignore[no-untyped-def]
    return services.practice_case_create(
        viewer=lena,
        case_ref=closed_case.ref,
        title="A late parcel",
        guidance="Apologise; refund within policy; say when.",
        scorecard_id=card.pk,
        now=now,
    )


@pytest.fixture
def api_as(client, now):  # type: ignore[no-untyped-def]
    tokens: dict[int, str] = {}

    def make(user):  # type: ignore[no-untyped-def]
        if user.pk not in tokens:
            tokens[user.pk] = token_create(name=user.username, now=now, agent=agent_for(user))[1]
        return Api(client, tokens[user.pk])

    return make
