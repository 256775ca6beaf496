"""The scorecards API, under /api/v1/scorecards."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.core.clock import utcnow
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.scorecards.selectors import METRICS, PERIOD_HELP, Scorecard, period_parse, scorecards

router = Router(tags=["scorecards"])


class PeriodOut(Schema):
    key: str
    kind: str
    start: datetime
    end: datetime
    timezone: str
    note: str


class AmountOut(Schema):
    currency: str = Field(description="ISO 4217; empty when the event named none")
    amount: Decimal


class ScorecardOut(Schema):
    """One row: the metrics of ``definitions``, by name, and the drill-down ``links``."""

    name: str
    team: str | None
    teams: list[str]
    loops_closed: int
    loops_closed_with_deadline: int
    loops_closed_on_time: int
    on_time_rate: float | None
    breaches: int
    first_reply_median_business_minutes: float | None
    first_replies: int
    reopened_cases: int
    reassignments_away: int
    first_contact_resolution: float | None
    cases_solved: int
    first_contact_resolved: int
    promises_made: int
    promises_kept: int
    promises_broken: int
    csat: float | None
    csat_responses: int
    nps: float | None
    nps_responses: int
    recovered: int
    revenue_recovered: list[AmountOut] = Field(description="per currency, never converted")
    qa_score: float | None
    qa_reviews: int
    links: dict[str, str]


class AgentScorecardOut(ScorecardOut):
    agent: str


class TeamScorecardOut(ScorecardOut):
    slug: str


class ScorecardsOut(Schema):
    period: PeriodOut
    definitions: dict[str, str]
    agents: list[AgentScorecardOut]
    teams: list[TeamScorecardOut]


class ScorecardsQuery(Schema):
    period: str | None = Field(default=None, max_length=30, description=PERIOD_HELP)
    team: str | None = Field(default=None, max_length=50)
    agent: str | None = Field(default=None, max_length=150)


def _row(card: Scorecard, key: str) -> dict[str, Any]:
    return {
        key: card.key,
        "name": card.name,
        "team": card.team,
        "teams": card.teams,
        **card.metrics,
        "links": card.links,
    }


@router.get(
    "",
    response=ScorecardsOut,
    summary="Scorecards of agents and teams for a week, a month or a range of days",
)
def get_scorecards(request: HttpRequest, filters: Query[ScorecardsQuery]) -> dict[str, Any]:
    """An agent's token sees their own row; a lead's their teams' agents and teams; an
    admin's or an integration's everyone's. Each metric's definition is in ``definitions``;
    each row's ``links`` are the loops API queries its loop counts come from."""
    viewer = viewer_of(request)
    period = period_parse(filters.period, now=utcnow())
    cards = scorecards(
        viewer=viewer,
        period=period,
        team=team_by_slug(filters.team),
        agent=user_by_username(filters.agent, field="agent"),
    )
    return {
        "period": period.as_dict(),
        "definitions": METRICS,
        "agents": [_row(c, "agent") for c in cards.agents],
        "teams": [_row(c, "slug") for c in cards.teams],
    }
