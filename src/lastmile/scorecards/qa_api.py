"""The QA API, under /api/v1/qa: scorecards, reviews (list, create, override) and the
sample of conversations to review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.types import StrictSchema
from lastmile.cases.selectors import ref_number
from lastmile.core.clock import utcnow
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.scorecards.models import QaReview, QaScorecard
from lastmile.scorecards.selectors import PERIOD_HELP, period_parse, qa_review_list
from lastmile.scorecards.services import ScoreIn, qa_review_create, qa_sample

router = Router(tags=["qa"])

LIST_LIMIT = 500


class CategoryOut(Schema):
    id: int
    name: str
    weight: int
    min: int
    max: int
    critical: bool
    rule: str


class ScorecardOut(Schema):
    id: int
    name: str
    team: str | None
    active: bool
    automatic: bool
    categories: list[CategoryOut]


class ScoreOut(Schema):
    category: int
    name: str
    score: int
    percent: float
    weight: int
    critical: bool
    reason: str


class ReviewOut(Schema):
    id: int
    case: str
    interaction: int | None
    loop: int | None
    agent: str
    team: str | None
    reviewer: str | None
    automatic: bool
    scorecard: int
    scorecard_name: str
    score: float
    comment: str
    overrides: int | None
    effective: bool
    conversation_at: datetime
    created_at: datetime
    scores: list[ScoreOut]


class ReviewsOut(Schema):
    count: int
    limit: int
    items: list[ReviewOut]


class ReviewsQuery(Schema):
    period: str | None = Field(default=None, max_length=30, description=PERIOD_HELP)
    agent: str | None = Field(default=None, max_length=150)
    team: str | None = Field(default=None, max_length=50)
    case: str | None = Field(default=None, max_length=30, description="LM-1042")
    effective: bool | None = Field(
        default=None, description="true: only the reviews that count; false: the replaced ones"
    )


class ScoreBody(StrictSchema):
    category: int
    score: int


class ReviewIn(StrictSchema):
    case: str = Field(max_length=30, description="The case reference, LM-1042")
    scorecard: int
    scores: list[ScoreBody] = Field(max_length=100)
    comment: str = Field(default="", max_length=5000)
    overrides: int | None = Field(
        default=None, description="The automatic review this review overrides"
    )
    loop: int | None = Field(default=None, description="A loop of the case, if the review is of it")
    interaction: int | None = Field(
        default=None, description="A message of the case, if the review is of it"
    )


class SampleQuery(Schema):
    period: str | None = Field(default=None, max_length=30, description=PERIOD_HELP)
    team: str | None = Field(default=None, max_length=50)
    n: int = Field(default=5, description="cases per agent, 1 to 100")
    seed: int = Field(default=0, description="the same seed picks the same cases")


class SampleOut(Schema):
    period: str
    seed: int
    n: int
    agents: dict[str, list[str]]


def _card(card: QaScorecard) -> dict[str, Any]:
    return {
        "id": card.pk,
        "name": card.name,
        "team": card.team.slug if card.team else None,
        "active": card.active,
        "automatic": card.automatic,
        "categories": [
            {
                "id": c.pk,
                "name": c.name,
                "weight": c.weight,
                "min": c.min_score,
                "max": c.max_score,
                "critical": c.critical,
                "rule": c.rule,
            }
            for c in card.categories.all()
        ],
    }


def review_dict(r: QaReview) -> dict[str, Any]:
    """A review as the API and the drill-down page show it (``qa_review_list``'s rows)."""
    return {
        "id": r.pk,
        "case": r.case.ref,
        "interaction": r.interaction_id,
        "loop": r.loop_id,
        "agent": r.agent.username,
        "team": r.team.slug if r.team else None,
        "reviewer": r.reviewer.username if r.reviewer else None,
        "automatic": r.automatic,
        "scorecard": r.scorecard_id,
        "scorecard_name": r.scorecard.name,
        "score": r.score,
        "comment": r.comment,
        "overrides": r.overrides_id,
        "effective": not (getattr(r, "is_overridden", False) or getattr(r, "is_superseded", False)),
        "conversation_at": r.conversation_at,
        "created_at": r.created_at,
        "scores": [
            {
                "category": s.category_id,
                "name": s.category.name,
                "score": s.score,
                "percent": round(
                    100
                    * (s.score - s.category.min_score)
                    / (s.category.max_score - s.category.min_score),
                    2,
                ),
                "weight": s.category.weight,
                "critical": s.category.critical,
                "reason": s.reason,
            }
            for s in r.scores.all()
        ],
    }


@router.get("/scorecards", response=list[ScorecardOut], summary="QA scorecards and categories")
def list_scorecards(request: HttpRequest) -> list[dict[str, Any]]:
    """Every scorecard with its categories (the ids a review's ``scores`` name); the
    Automatic one's categories are the first pass's rules."""
    viewer_of(request)
    cards = QaScorecard.objects.select_related("team").prefetch_related("categories")
    return [_card(c) for c in cards.order_by("name")]


@router.get("/reviews", response=ReviewsOut, summary="QA reviews, by agent, team and period")
def list_reviews(request: HttpRequest, filters: Query[ReviewsQuery]) -> dict[str, Any]:
    """The reviews the token may read (an agent's: their own conversations'; a lead's: their
    teams'; an admin's or an integration's: all), newest conversation first; ``effective``
    says whether a review counts in ``qa_score`` (an overridden automatic review does not).
    Without ``period``, every period."""
    viewer = viewer_of(request)
    period = period_parse(filters.period, now=utcnow()) if filters.period else None
    qs = qa_review_list(
        viewer=viewer,
        period=period,
        agent=user_by_username(filters.agent, field="agent"),
        team=team_by_slug(filters.team),
        case_number=ref_number(filters.case) if filters.case else None,
        effective=filters.effective,
    )
    if filters.case and ref_number(filters.case) is None:
        qs = qs.none()
    rows = list(qs[:LIST_LIMIT])
    count = qs.count() if len(rows) == LIST_LIMIT else len(rows)
    return {"count": count, "limit": LIST_LIMIT, "items": [review_dict(r) for r in rows]}


@router.post("/reviews", response={201: ReviewOut}, summary="Review a conversation, or override")
def create_review(request: HttpRequest, payload: ReviewIn) -> Status:
    """A lead of the agent's team or an admin scores a case on a scorecard, every category
    once within its min..max (422 naming the field otherwise; an unknown case is a 422
    naming ``case``). With ``overrides``, the automatic review of the case this one
    replaces in ``qa_score``; the automatic review itself is never changed. 403 for anyone
    else (an agent, a lead of another team, an integration token)."""
    review = qa_review_create(
        viewer=viewer_of(request),
        case_ref=payload.case,
        scorecard_id=payload.scorecard,
        scores=[ScoreIn(category=s.category, score=s.score) for s in payload.scores],
        comment=payload.comment,
        overrides_id=payload.overrides,
        loop_id=payload.loop,
        interaction_id=payload.interaction,
        now=utcnow(),
    )
    row = qa_review_list(viewer=viewer_of(request)).get(pk=review.pk)
    return Status(201, review_dict(row))


@router.get("/sample", response=SampleOut, summary="Closed conversations to review, per agent")
def sample(request: HttpRequest, filters: Query[SampleQuery]) -> dict[str, Any]:
    """``n`` cases per agent solved in the period, picked at random with ``seed``: the same
    seed and period give the same cases. For leads (their teams' agents) and admins."""
    viewer = viewer_of(request)
    period = period_parse(filters.period, now=utcnow())
    picked = qa_sample(
        viewer=viewer,
        period=period,
        n=filters.n,
        seed=filters.seed,
        team=team_by_slug(filters.team),
    )
    return {
        "period": period.key,
        "seed": filters.seed,
        "n": filters.n,
        "agents": {name: [c.ref for c in cases] for name, cases in picked.items()},
    }
