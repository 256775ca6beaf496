"""The training API, under /api/v1/training: onboarding paths, practice cases, the dry-run
check while drafting, and attempts (draft, submit, score, return).

Scoped by the token's agent: an agent sees their teams' cases and paths and their own
attempts; a lead their teams' attempts too; an admin or an integration token everything.
Not yours is a 404; a wrong state is a 409; bad input a 422 naming the field."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.knowledge.selectors import ArticleHit
from lastmile.people.selectors import agent_authority, team_by_slug, user_by_username
from lastmile.people.viewers import SYSTEM
from lastmile.promises.terms import terms_validate
from lastmile.training import selectors, services
from lastmile.training.models import AttemptState, OnboardingPath, PracticeAttempt, PracticeCase

router = Router(tags=["training"])


# --- schemas ------------------------------------------------------------------------------


class PracticeStepOut(Schema):
    position: int
    case: int
    title: str
    active: bool


class PathOut(Schema):
    team: str
    updated_at: datetime
    steps: list[PracticeStepOut]


class PathIn(StrictSchema):
    cases: list[int] = Field(
        max_length=services.MAX_PATH, description="Practice case ids, in order"
    )


class PracticeMessageOut(Schema):
    at: str
    author: str
    text: str


class PracticeCaseSummary(Schema):
    id: int
    title: str
    team: str
    scorecard: int
    active: bool
    created_at: datetime


class CaseOut(PracticeCaseSummary):
    source: str | None = Field(description="The closed case it was made from (leads only)")
    guidance: str | None = Field(description="What a good answer covers (leads only)")
    conversation: list[PracticeMessageOut]


class PracticeCaseIn(StrictSchema):
    case: str = Field(max_length=30, description="The closed case, LM-1042")
    title: str = Field(max_length=200)
    guidance: str = Field(default="", max_length=services.MAX_TEXT)
    scorecard: int


class PracticeCasePatch(StrictSchema):
    title: str | None = Field(default=None, max_length=200)
    guidance: str | None = Field(default=None, max_length=services.MAX_TEXT)
    active: bool | None = None


class PracticeCasesQuery(Schema):
    team: str | None = Field(default=None, max_length=50)
    active: bool | None = None


class PracticePromiseIn(StrictSchema):
    text: str = Field(max_length=2000)
    terms: dict[str, Any] = Field(
        default_factory=dict, description='e.g. {"refund_amount": 20, "currency": "GBP"}'
    )
    due_at: UtcDatetime | None = None


class HandoffIn(StrictSchema):
    team: str = Field(max_length=50)
    note: str = Field(default="", max_length=2000)


class DraftIn(StrictSchema):
    reply: str = Field(default="", max_length=services.MAX_TEXT)
    promises: list[PracticePromiseIn] = Field(
        default_factory=list, max_length=services.MAX_PROMISES
    )
    handoff: HandoffIn | None = None


class PracticeCheckIn(StrictSchema):
    reply: str = Field(default="", max_length=services.MAX_TEXT)
    promises: list[PracticePromiseIn] = Field(
        default_factory=list, max_length=services.MAX_PROMISES
    )


class PracticeVerdictOut(Schema):
    policy: str
    title: str
    version: int
    severity: str
    result: str
    text: str
    detail: str


class PromiseCheckOut(Schema):
    index: int
    text: str
    terms: dict[str, Any] | None
    terms_error: str
    verdicts: list[PracticeVerdictOut]


class SuggestionOut(Schema):
    slug: str
    title: str
    excerpt: str


class PracticeCheckOut(Schema):
    promises: list[PromiseCheckOut]
    suggestions: list[SuggestionOut]


class PracticeScoreOut(Schema):
    category: int
    name: str
    score: int


class HandoffOut(Schema):
    team: str
    note: str


class PracticeAttemptOut(Schema):
    id: int
    case: int
    case_title: str
    agent: str
    team: str
    state: str
    reply: str
    promises: list[dict[str, Any]]
    handoff: HandoffOut | None
    checks: list[dict[str, Any]]
    score: float | None
    scores: list[PracticeScoreOut]
    comment: str
    scored_by: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    scored_at: datetime | None


class AttemptsQuery(Schema):
    state: AttemptState | None = None
    agent: str | None = Field(default=None, max_length=150)
    case: int | None = None
    team: str | None = Field(default=None, max_length=50)


class ScoreIn(StrictSchema):
    category: int
    score: int


class ScoringIn(StrictSchema):
    scores: list[ScoreIn] = Field(max_length=100)
    comment: str = Field(default="", max_length=services.MAX_TEXT)


class PracticeReturnIn(StrictSchema):
    comment: str = Field(max_length=services.MAX_TEXT)


# --- serialisers --------------------------------------------------------------------------


def path_out(path: OnboardingPath) -> dict[str, Any]:
    return {
        "team": path.team.slug,
        "updated_at": path.updated_at,
        "steps": [
            {
                "position": s.position,
                "case": s.practice_case_id,
                "title": s.practice_case.title,
                "active": s.practice_case.active,
            }
            for s in path.steps.all()
        ],
    }


def case_summary(case: PracticeCase) -> dict[str, Any]:
    return {
        "id": case.pk,
        "title": case.title,
        "team": case.team.slug,
        "scorecard": case.scorecard_id,
        "active": case.active,
        "created_at": case.created_at,
    }


def case_out(case: PracticeCase, *, lead: bool) -> dict[str, Any]:
    return {
        **case_summary(case),
        "source": case.source_ref if lead else None,
        "guidance": case.guidance if lead else None,
        "conversation": case.conversation,
    }


def attempt_out(a: PracticeAttempt) -> dict[str, Any]:
    return {
        "id": a.pk,
        "case": a.practice_case_id,
        "case_title": a.practice_case.title,
        "agent": a.agent.username,
        "team": a.team.slug,
        "state": a.state,
        "reply": a.reply,
        "promises": a.promises,
        "handoff": (
            {"team": a.handoff_team.slug, "note": a.handoff_note} if a.handoff_team else None
        ),
        "checks": a.checks,
        "score": a.score,
        "scores": [
            {"category": s.category_id, "name": s.category.name, "score": s.score}
            for s in a.scores.all()
        ]
        if a.state == AttemptState.SCORED
        else [],
        "comment": a.comment,
        "scored_by": a.scored_by.username if a.scored_by else None,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "submitted_at": a.submitted_at,
        "scored_at": a.scored_at,
    }


def hits_out(hits: list[ArticleHit]) -> list[dict[str, Any]]:
    return [{"slug": h.article.slug, "title": h.article.title, "excerpt": h.excerpt} for h in hits]


def _drafts(promises: list[PracticePromiseIn]) -> list[services.PromiseDraft]:
    return [services.PromiseDraft(text=p.text, terms=p.terms, due_at=p.due_at) for p in promises]


def _attempt(request: HttpRequest, attempt_id: int) -> PracticeAttempt:
    return selectors.attempt_get(viewer=viewer_of(request), attempt_id=attempt_id)


def _fresh(request: HttpRequest, attempt: PracticeAttempt) -> dict[str, Any]:
    return attempt_out(_attempt(request, attempt.pk))


# --- paths --------------------------------------------------------------------------------


@router.get("/paths", response=list[PathOut], summary="Onboarding paths of my teams")
def list_paths(request: HttpRequest) -> list[dict[str, Any]]:
    """Each team's onboarding path the token may see, its practice cases in order."""
    return [path_out(p) for p in selectors.paths_visible(viewer=viewer_of(request))]


@router.put("/paths/{team}", response=PathOut, summary="Arrange a team's onboarding path")
def arrange_path(request: HttpRequest, team: str, payload: PathIn) -> dict[str, Any]:
    """The team's path becomes these practice cases, in this order (a lead of the team or
    an admin; 422 ``cases[i]`` for a case not an active one of the team)."""
    viewer = viewer_of(request)
    found = team_by_slug(team)
    assert found is not None
    selectors.path_get(viewer=viewer, team=found)  # 404 outside the viewer's teams
    path = services.path_arrange(viewer=viewer, team=found, case_ids=payload.cases, now=utcnow())
    out = selectors.path_get(viewer=viewer, team=found)
    return path_out(out or path)


# --- practice cases -----------------------------------------------------------------------


@router.get("/cases", response=list[PracticeCaseSummary], summary="Practice cases, newest first")
@paginate(BoundedLimitOffset)
def list_cases(request: HttpRequest, filters: Query[PracticeCasesQuery]) -> Any:
    qs = selectors.practice_cases_visible(viewer=viewer_of(request), active=filters.active)
    team = team_by_slug(filters.team)
    if team is not None:
        qs = qs.filter(team=team)
    return LazyPage(qs, case_summary)


@router.post("/cases", response={201: CaseOut}, summary="Make a practice case from a closed case")
def create_case(request: HttpRequest, payload: PracticeCaseIn) -> Status:
    """A lead turns a closed case of their team into practice: its conversation is masked
    and frozen now. 422 ``case`` when it is unknown, not closed, or not the token's to see;
    422 ``scorecard``, ``title``; 403 for a non-lead."""
    case = services.practice_case_create(
        viewer=viewer_of(request),
        case_ref=payload.case,
        title=payload.title,
        guidance=payload.guidance,
        scorecard_id=payload.scorecard,
        now=utcnow(),
    )
    return Status(201, case_out(case, lead=True))


@router.get("/cases/{case_id}", response=CaseOut, summary="A practice case and its conversation")
def get_case(request: HttpRequest, case_id: int) -> dict[str, Any]:
    """The masked conversation; the guidance and the source case only for its team's
    leads (an agent practises without the answer)."""
    viewer = viewer_of(request)
    case = selectors.practice_case_get(viewer=viewer, case_id=case_id)
    return case_out(case, lead=selectors.training_scope(viewer).leads(case.team_id))


@router.patch("/cases/{case_id}", response=CaseOut, summary="Rename, re-guide or retire a case")
def patch_case(request: HttpRequest, case_id: int, payload: PracticeCasePatch) -> dict[str, Any]:
    viewer = viewer_of(request)
    case = selectors.practice_case_get(viewer=viewer, case_id=case_id)
    case = services.practice_case_update(
        viewer=viewer,
        practice_case=case,
        title=payload.title,
        guidance=payload.guidance,
        active=payload.active,
    )
    return case_out(case, lead=True)


@router.post(
    "/cases/{case_id}/check", response=PracticeCheckOut, summary="Dry-run the policy check"
)
def check(request: HttpRequest, case_id: int, payload: PracticeCheckIn) -> dict[str, Any]:
    """Each drafted promise's policy verdicts and the articles for the conversation and the
    reply, as the practice page shows them while the agent types. Records nothing."""
    viewer = viewer_of(request)
    case = selectors.practice_case_get(viewer=viewer, case_id=case_id)
    promises: list[tuple[str, dict[str, Any] | None, str]] = []
    for p in payload.promises:
        try:
            promises.append((p.text, terms_validate(p.terms), ""))
        except InvalidInput as exc:
            promises.append((p.text, None, exc.errors[0].reason if exc.errors else exc.detail))
    result = selectors.practice_check(
        practice_case=case,
        reply=payload.reply,
        promises=promises,
        authority=None if viewer is SYSTEM else agent_authority(viewer),
        now=utcnow(),
    )
    return {
        "promises": [p.as_dict() for p in result.promises],
        "suggestions": hits_out(result.suggestions),
    }


@router.post(
    "/cases/{case_id}/draft", response=PracticeAttemptOut, summary="Save my draft at a case"
)
def save_draft(request: HttpRequest, case_id: int, payload: DraftIn) -> dict[str, Any]:
    """The token's agent's open attempt at the case, written (made on the first save). 409
    while it waits for the lead or when the case is retired."""
    viewer = viewer_of(request)
    case = selectors.practice_case_get(viewer=viewer, case_id=case_id)
    attempt = services.attempt_save(
        viewer=viewer,
        practice_case=case,
        reply=payload.reply,
        promises=_drafts(payload.promises),
        handoff_team=payload.handoff.team if payload.handoff else None,
        handoff_note=payload.handoff.note if payload.handoff else "",
        now=utcnow(),
    )
    return _fresh(request, attempt)


# --- attempts -----------------------------------------------------------------------------


@router.get(
    "/attempts", response=list[PracticeAttemptOut], summary="Practice attempts, newest first"
)
@paginate(BoundedLimitOffset)
def list_attempts(request: HttpRequest, filters: Query[AttemptsQuery]) -> Any:
    """An agent's own; a lead's teams'; ``state=submitted``: those waiting for a score."""
    agent = user_by_username(filters.agent, field="agent")
    team = team_by_slug(filters.team)
    qs = selectors.attempt_list(
        viewer=viewer_of(request),
        state=filters.state,
        agent_id=agent.pk if agent else None,
        practice_case_id=filters.case,
        team_id=team.pk if team else None,
    ).prefetch_related("scores__category")
    return LazyPage(qs, attempt_out)


@router.get("/attempts/{attempt_id}", response=PracticeAttemptOut, summary="One practice attempt")
def get_attempt(request: HttpRequest, attempt_id: int) -> dict[str, Any]:
    return attempt_out(_attempt(request, attempt_id))


@router.post(
    "/attempts/{attempt_id}/submit", response=PracticeAttemptOut, summary="Submit my draft"
)
def submit(request: HttpRequest, attempt_id: int) -> dict[str, Any]:
    """Draft or returned -> submitted, for the lead to score (409 otherwise)."""
    attempt = _attempt(request, attempt_id)
    services.attempt_submit(viewer=viewer_of(request), attempt=attempt, now=utcnow())
    return _fresh(request, attempt)


@router.post(
    "/attempts/{attempt_id}/score", response=PracticeAttemptOut, summary="Score an attempt"
)
def score(request: HttpRequest, attempt_id: int, payload: ScoringIn) -> dict[str, Any]:
    """A lead scores every category of the case's QA scorecard; ``score`` is the QA formula's
    total. 409 unless submitted; 403 for the agent or a non-lead."""
    attempt = _attempt(request, attempt_id)
    services.attempt_score(
        viewer=viewer_of(request),
        attempt=attempt,
        scores=[services.ScoreIn(category=s.category, score=s.score) for s in payload.scores],
        comment=payload.comment,
        now=utcnow(),
    )
    return _fresh(request, attempt)


@router.post("/attempts/{attempt_id}/return", response=PracticeAttemptOut, summary="Return to redo")
def return_(request: HttpRequest, attempt_id: int, payload: PracticeReturnIn) -> dict[str, Any]:
    """A lead sends a submitted attempt back with a comment saying what to redo."""
    attempt = _attempt(request, attempt_id)
    services.attempt_return(
        viewer=viewer_of(request), attempt=attempt, comment=payload.comment, now=utcnow()
    )
    return _fresh(request, attempt)
