from __future__ import annotations

from decimal import Decimal

import pytest

from lastmile.api.services import token_create
from lastmile.people.selectors import agent_for
from lastmile.scorecards.models import PayPlan, PayPlanMetric, QaCategory, QaScorecard
from tests.api.client import Api
from tests.people.factories import team_lead


@pytest.fixture
def api(client, now):  # type: ignore[no-untyped-def]
    """The API as an integration (sees everyone)."""
    return Api(client, token_create(name="integration", now=now)[1])


@pytest.fixture
def api_as(client, now):  # type: ignore[no-untyped-def]
    """The API as the agent ``user``'s token."""

    tokens: dict[int, str] = {}

    def make(user):  # type: ignore[no-untyped-def]
        if user.pk not in tokens:
            tokens[user.pk] = token_create(name=user.username, now=now, agent=agent_for(user))[1]
        return Api(client, tokens[user.pk])

    return make


@pytest.fixture
def lena(team):  # type: ignore[no-untyped-def]
    """The front office's lead."""
    return team_lead(team, "lena")


# The pay tests' plan: on-time rate and loops closed, capped at 25 points overall.
PAY_METRICS = [("on_time_rate", 0.9, 10, 10), ("loops_closed", 4, 10, 12)]


def pay_plan_make(team, *, min_quality_gate=None, metrics=PAY_METRICS):  # type: ignore[no-untyped-def]
    """A pay plan "Front office 2026" for ``team`` with ``metrics`` as (metric, target,
    weight, cap), in that order."""
    plan = PayPlan.objects.create(
        team=team,
        name="Front office 2026",
        min_quality_gate=min_quality_gate,
        overall_cap=Decimal("25"),
    )
    for pos, (metric, target, weight, cap) in enumerate(metrics):
        PayPlanMetric.objects.create(
            plan=plan, metric=metric, target=target, weight=weight, cap=cap, position=pos
        )
    return plan


@pytest.fixture
def plan(team):  # type: ignore[no-untyped-def]
    """The front office's pay plan, without a quality gate."""
    return pay_plan_make(team)


@pytest.fixture
def card(db):  # type: ignore[no-untyped-def]
    """A global scorecard: tone 1..5 (weight 1), accuracy 0..10 (weight 3, critical)."""
    card = QaScorecard.objects.create(name="Service")
    QaCategory.objects.create(scorecard=card, name="Tone", weight=1, min_score=1, max_score=5)
    QaCategory.objects.create(
        scorecard=card, name="Accuracy", weight=3, min_score=0, max_score=10, critical=True
    )
    return card
