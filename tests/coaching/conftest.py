"""Fixtures of the coaching tests: a lead, a QA scorecard, a solved conversation of Alice's
with the customer's details in it, and reviews written through the scorecards' service."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.people.selectors import agent_for
from lastmile.scorecards.models import QaCategory, QaScorecard
from lastmile.scorecards.services import ScoreIn, qa_review_create
from tests.api.client import Api
from tests.people.factories import team_lead
from tests.scorecards.qa_helpers import conversation


@pytest.fixture
def lena(team):  # type: ignore[no-untyped-def]
    """The front office's lead."""
    return team_lead(team, "lena", first_name="Lena", last_name="Berg")


@pytest.fixture
def card(db):  # type: ignore[no-untyped-def]
    """A global scorecard: tone 1..5 (weight 1), accuracy 0..10 (weight 3, critical)."""
    card = QaScorecard.objects.create(name="Service")
    QaCategory.objects.create(scorecard=card, name="Tone", weight=1, min_score=1, max_score=5)
    QaCategory.objects.create(
        scorecard=card, name="Accuracy", weight=3, min_score=0, max_score=10, critical=True
    )
    return card


@pytest.fixture
def priya(db, now):  # type: ignore[no-untyped-def]
    return customer_resolve(
        identities=[
            identity_normalize("email", "priya.raman@example.com"),
            identity_normalize("phone", "+447911123456"),
        ],
        display_name="Priya Raman",
        now=now,
    ).customer


@pytest.fixture
def solved(priya, team, alice, now):  # type: ignore[no-untyped-def]
    """Alice's case with Priya, answered and solved."""
    return conversation(
        priya,
        team,
        alice,
        at=now,
        parts=[
            ("in", "Hi, Priya Raman here (priya.raman@example.com). Where is my parcel?"),
            ("out", "Sorry Priya, it is late. Call us on 07911 123456 if needed."),
        ],
    )


def review(viewer, case, card, *, tone=5, accuracy=10, comment="", now, **extra):  # type: ignore[no-untyped-def]
    """A review by ``viewer`` through the scorecards' service."""
    tone_cat, accuracy_cat = card.categories.order_by("pk")
    return qa_review_create(
        viewer=viewer,
        case_ref=case.ref,
        scorecard_id=card.pk,
        scores=[ScoreIn(tone_cat.pk, tone), ScoreIn(accuracy_cat.pk, accuracy)],
        comment=comment,
        now=now + timedelta(hours=1),
        **extra,
    )


@pytest.fixture
def api_as(client, now):  # type: ignore[no-untyped-def]
    """The API as the agent ``user``'s token."""
    tokens: dict[int, str] = {}

    def make(user):  # type: ignore[no-untyped-def]
        if user.pk not in tokens:
            tokens[user.pk] = token_create(name=user.username, now=now, agent=agent_for(user))[1]
        return Api(client, tokens[user.pk])

    return make
