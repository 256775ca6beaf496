"""The pay API, under /api/v1/pay: monthly pay statements (JSON and CSV for payroll) and
adjustments by leads."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema
from lastmile.core.clock import utcnow
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.scorecards.models import ADJUSTMENT_LIMIT, PayAdjustment, PayDispute
from lastmile.scorecards.pay import (
    PayStatement,
    pay_adjustment_add,
    pay_dispute_answer,
    pay_dispute_get,
    pay_dispute_open,
    pay_disputes,
    pay_month_parse,
    pay_statements,
    statements_csv,
    statements_xlsx,
)

router = Router(tags=["pay"])


class PayLineOut(Schema):
    metric: str
    label: str
    value: float | None
    target: float
    higher_is_better: bool
    weight: float
    cap: float
    points: float
    capped: bool
    explanation: str


class AdjustmentOut(Schema):
    id: int
    agent: str
    month: str
    points: float
    reason: str
    created_by: str
    created_at: datetime


class GateOut(Schema):
    minimum: float | None
    qa_score: float | None
    passed: bool
    explanation: str


class PracticeGateOut(Schema):
    kind: str = Field(description='"path" (onboarding path complete) or "cases"')
    passed: bool
    path_done: int = Field(description="Steps of the agent's onboarding path scored by month end")
    path_total: int
    cases_at_target: int = Field(description="Practice cases scored at or above the target")
    cases_needed: int | None
    target: float | None
    explanation: str


class StatementOut(Schema):
    month: str
    agent: str
    name: str
    team: str
    plan: str
    lines: list[PayLineOut]
    gate: GateOut
    practice_gate: PracticeGateOut | None = Field(
        description="The plan's practice gate at the month's end; null: the plan has none"
    )
    metrics_points: float
    overall_cap: float
    metrics_total: float
    adjustments: list[AdjustmentOut]
    adjustments_total: float
    total: float
    explanation: list[str]
    disputes_open: int


class StatementsOut(Schema):
    month: str
    statements: list[StatementOut]


class StatementsQuery(Schema):
    month: str | None = Field(default=None, max_length=30, description="2026-11; none: this month")
    team: str | None = Field(default=None, max_length=50)
    agent: str | None = Field(default=None, max_length=150)


class AdjustmentIn(StrictSchema):
    agent: str = Field(max_length=150, description="The agent's username")
    month: str = Field(default="", max_length=30, description="2026-11")
    points: float = Field(
        description=f"Points to add (or take, below 0), 2 decimals, at most {ADJUSTMENT_LIMIT}"
    )
    reason: str = Field(default="", max_length=5000, description="Required: why")


def adjustment_dict(a: PayAdjustment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "agent": a.agent.username,
        "month": a.month,
        "points": float(a.points),
        "reason": a.reason,
        "created_by": a.created_by.username,
        "created_at": a.created_at,
    }


def statement_dict(s: PayStatement) -> dict[str, Any]:
    return {
        "month": s.month,
        "agent": s.agent,
        "name": s.name,
        "team": s.team,
        "plan": s.plan,
        "lines": [
            {
                "metric": line.metric,
                "label": line.label,
                "value": line.value,
                "target": line.target,
                "higher_is_better": line.higher_is_better,
                "weight": float(line.weight),
                "cap": float(line.cap),
                "points": float(line.points),
                "capped": line.capped,
                "explanation": line.explanation,
            }
            for line in s.lines
        ],
        "gate": {
            "minimum": s.gate_minimum,
            "qa_score": s.qa_score,
            "passed": s.gate_passed,
            "explanation": s.gate_explanation,
        },
        "practice_gate": (
            {
                "kind": s.practice_gate,
                "passed": s.practice_passed,
                "path_done": s.practice.path_done,
                "path_total": s.practice.path_total,
                "cases_at_target": s.practice.cases_at_target,
                "cases_needed": s.practice_cases_needed,
                "target": s.practice_target,
                "explanation": s.practice_explanation,
            }
            if s.practice_gate
            else None
        ),
        "metrics_points": float(s.metrics_points),
        "overall_cap": float(s.overall_cap),
        "metrics_total": float(s.metrics_total),
        "adjustments": [adjustment_dict(a) for a in s.adjustments],
        "adjustments_total": float(s.adjustments_total),
        "total": float(s.total),
        "explanation": s.explanation,
        "disputes_open": s.disputes_open,
    }


def _statements(request: HttpRequest, filters: StatementsQuery) -> tuple[str, list[PayStatement]]:
    viewer = viewer_of(request)
    period = pay_month_parse(filters.month, now=utcnow())
    found = pay_statements(
        viewer=viewer,
        period=period,
        team=team_by_slug(filters.team),
        agent=user_by_username(filters.agent, field="agent"),
    )
    return period.key, found


@router.get("/statements", response=StatementsOut, summary="Monthly pay statements")
def get_statements(request: HttpRequest, filters: Query[StatementsQuery]) -> dict[str, Any]:
    """One statement per agent with a pay plan (an active plan of one of their teams): each
    metric's value and points with a sentence saying why, the quality gate, the capped total,
    the adjustments and the total. An agent's token sees their own; a lead's their teams'
    agents'; an admin's or an integration's everyone's. 422 naming ``month`` unless YYYY-MM."""
    month, found = _statements(request, filters)
    return {"month": month, "statements": [statement_dict(s) for s in found]}


@router.get(
    "/statements.csv",
    response={200: str},
    summary="Monthly pay statements as CSV for payroll",
    openapi_extra={"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def get_statements_csv(request: HttpRequest, filters: Query[StatementsQuery]) -> HttpResponse:
    """The statements of ``GET /statements``, one row per agent and month: the totals, then
    each metric's ``_value`` and ``_points``."""
    month, found = _statements(request, filters)
    response = HttpResponse(statements_csv(found), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pay-{month}.csv"'
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/statements.xlsx",
    response={200: str},
    summary="Monthly pay statements as XLSX for payroll",
    openapi_extra={
        "responses": {200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}}
    },
)
def get_statements_xlsx(request: HttpRequest, filters: Query[StatementsQuery]) -> HttpResponse:
    """The rows of ``GET /statements.csv`` in a workbook: numbers as numbers, one sheet."""
    month, found = _statements(request, filters)
    response = HttpResponse(statements_xlsx(found, month=month), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="pay-{month}.xlsx"'
    return response


@router.post("/adjustments", response={201: AdjustmentOut}, summary="Adjust an agent's month")
def create_adjustment(request: HttpRequest, payload: AdjustmentIn) -> Status:
    """A lead of one of the agent's teams or an admin adds (or takes) points for a month,
    with a reason; 422 naming the field for a missing reason, a bad month or points out of
    bounds; 403 for anyone else (an agent, another team's lead, an integration token).
    Adjustments are never changed: a correction is a new one."""
    adjustment = pay_adjustment_add(
        viewer=viewer_of(request),
        agent=user_by_username(payload.agent, field="agent"),  # type: ignore[arg-type]
        month=payload.month,
        points=payload.points,
        reason=payload.reason,
        now=utcnow(),
    )
    return Status(201, adjustment_dict(adjustment))


# --- disputes ---------------------------------------------------------------------------------


class DisputeIn(StrictSchema):
    month: str = Field(default="", max_length=30, description="2026-11")
    line: str = Field(
        default="",
        max_length=60,
        description="The metric of the line disputed (on_time_rate …); empty: the whole statement",
    )
    reason: str = Field(default="", max_length=5000, description="Required: what is wrong")


class DisputeAnswerIn(StrictSchema):
    answer: str = Field(default="", max_length=5000, description="Required: the lead's answer")
    points: float | None = Field(
        default=None,
        description=(
            "Optional: points to add (or take, below 0) in answer, 2 decimals, at most "
            f"{ADJUSTMENT_LIMIT}; made as an adjustment whose reason is the answer"
        ),
    )


class DisputeOut(Schema):
    id: int
    agent: str
    month: str
    line: str
    line_label: str
    team: str | None
    reason: str
    state: str
    loop: int | None
    answer: str
    answered_by: str | None
    answered_at: datetime | None
    adjustment: AdjustmentOut | None
    created_at: datetime


class DisputesQuery(Schema):
    month: str | None = Field(default=None, max_length=30, description="2026-11")
    agent: str | None = Field(default=None, max_length=150)
    state: Literal["open", "answered"] | None = None


def dispute_dict(d: PayDispute) -> dict[str, Any]:
    return {
        "id": d.pk,
        "agent": d.agent.username,
        "month": d.month,
        "line": d.line,
        "line_label": d.line_label,
        "team": d.team.slug if d.team is not None else None,
        "reason": d.reason,
        "state": d.state,
        "loop": d.loop_id,
        "answer": d.answer,
        "answered_by": d.answered_by.username if d.answered_by is not None else None,
        "answered_at": d.answered_at,
        "adjustment": adjustment_dict(d.adjustment) if d.adjustment is not None else None,
        "created_at": d.created_at,
    }


@router.post("/disputes", response={201: DisputeOut}, summary="Dispute my month's statement")
def create_dispute(request: HttpRequest, payload: DisputeIn) -> Status:
    """The agent whose token it is disputes a line of their statement for a month (``line``,
    a metric of it) or the whole statement (``line`` empty): a ``dispute`` loop opens for the
    lead of the plan's team. 422 naming ``month`` (bad, not begun, or no statement that
    month), ``line`` or ``reason``; 409 while a dispute on the same line and month is open;
    403 for an integration token (a dispute is a person's)."""
    dispute = pay_dispute_open(
        viewer=viewer_of(request),
        month=payload.month,
        line=payload.line,
        reason=payload.reason,
        now=utcnow(),
    )
    return Status(201, dispute_dict(dispute))


@router.get("/disputes", response=list[DisputeOut], summary="Pay disputes, newest first")
@paginate(BoundedLimitOffset)
def list_disputes(request: HttpRequest, filters: Query[DisputesQuery]) -> LazyPage:
    """An agent's token sees their own disputes; a lead's their teams' agents'; an admin's or
    an integration's everyone's. 422 naming ``month`` unless YYYY-MM."""
    viewer = viewer_of(request)
    month = pay_month_parse(filters.month, now=utcnow()).key if filters.month else None
    qs = pay_disputes(
        viewer=viewer,
        month=month,
        agent=user_by_username(filters.agent, field="agent"),
        state=filters.state,
    )
    return LazyPage(qs, dispute_dict)


@router.get("/disputes/{dispute_id}", response=DisputeOut, summary="One pay dispute")
def get_dispute(request: HttpRequest, dispute_id: int) -> dict[str, Any]:
    """404 for a dispute the token may not read, as for one that does not exist."""
    return dispute_dict(pay_dispute_get(viewer=viewer_of(request), dispute_id=dispute_id))


@router.post("/disputes/{dispute_id}/answer", response=DisputeOut, summary="Answer a pay dispute")
def answer_dispute(request: HttpRequest, dispute_id: int, payload: DisputeAnswerIn) -> Any:
    """A lead of the agent's team or an admin answers (the dispute loop closes), optionally
    with ``points`` made into an adjustment. 404 outside the token's scope; 403 for the agent
    themselves or an integration; 422 naming ``answer`` or ``points``; 409 once answered."""
    viewer = viewer_of(request)
    dispute = pay_dispute_get(viewer=viewer, dispute_id=dispute_id)
    return dispute_dict(
        pay_dispute_answer(
            viewer=viewer,
            dispute=dispute,
            answer=payload.answer,
            points=payload.points,
            now=utcnow(),
        )
    )
