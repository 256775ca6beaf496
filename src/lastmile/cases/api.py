"""API for cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate
from pydantic import Field

from lastmile.cases import services
from lastmile.cases.models import Case
from lastmile.cases.selectors import case_get, case_list
from lastmile.core.clock import utcnow
from lastmile.core.errors import PermissionDenied
from lastmile.customers.api import CustomerRef, resolve_ref
from lastmile.loops.api import LoopOut, loop_out, team_by_slug, user_by_username
from lastmile.loops.selectors import loop_list
from lastmile.people.selectors import visible_team_ids

router = Router(tags=["cases"])

Status = Literal["open", "pending", "solved", "closed"]
PriorityName = Literal["low", "normal", "high", "urgent"]


class CaseOut(Schema):
    ref: str
    subject: str
    status: str
    priority: str
    channel: str
    customer: int
    team: str | None
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    loops: list[LoopOut]


def case_out(case: Case, *, with_loops: bool = True) -> dict[str, Any]:
    now = utcnow()
    loops = loop_list(viewer=None, now=now, case=case) if with_loops else []
    return {
        "ref": case.ref,
        "subject": case.subject,
        "status": case.status,
        "priority": case.priority,
        "channel": case.channel,
        "customer": case.customer_id,
        "team": case.team.slug if case.team_id else None,
        "assignee": case.assignee.username if case.assignee_id else None,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "loops": [loop_out(lp, now=now) for lp in loops],
    }


def _check_team(viewer: Any, team: Any) -> None:
    teams = visible_team_ids(viewer) if viewer is not None else None
    if teams is not None and (team is None or team.pk not in teams):
        raise PermissionDenied("you can only file cases for your own teams")


class CaseIn(Schema):
    customer: CustomerRef
    subject: str = Field(min_length=1, max_length=300)
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)
    priority: PriorityName = "normal"
    channel: str = Field(default="", max_length=40)


@router.post("", response={201: CaseOut}, summary="Open a case")
def create_case(request: HttpRequest, payload: CaseIn) -> tuple[int, dict[str, Any]]:
    viewer = request.viewer  # type: ignore[attr-defined]
    now = utcnow()
    team = team_by_slug(payload.team)
    _check_team(viewer, team)
    assignee = user_by_username(payload.assignee)
    customer = resolve_ref(payload.customer, viewer=viewer, now=now)
    case = services.case_create(
        customer=customer, subject=payload.subject, team=team, assignee=assignee,
        priority=payload.priority, channel=payload.channel, actor=viewer, now=now,
    )
    return 201, case_out(case)


class CasesQuery(Schema):
    status: Status | None = None
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)


class CaseSummary(Schema):
    ref: str
    subject: str
    status: str
    priority: str
    customer: int
    team: str | None
    assignee: str | None
    updated_at: datetime


@router.get("", response=list[CaseSummary], summary="Cases, newest first")
@paginate(LimitOffsetPagination)
def list_cases(request: HttpRequest, filters: Query[CasesQuery]) -> Any:
    qs = case_list(viewer=request.viewer, status=filters.status, team=filters.team, assignee=filters.assignee)  # type: ignore[attr-defined]
    return _Summaries(qs)


class _Summaries:
    def __init__(self, qs: Any) -> None:
        self.qs = qs

    def __len__(self) -> int:
        return self.qs.count()

    def count(self) -> int:
        return self.qs.count()

    def __getitem__(self, item: slice) -> list[dict[str, Any]]:
        out = []
        for c in self.qs[item]:
            row = case_out(c, with_loops=False)
            row.pop("loops")
            out.append(row)
        return out


@router.get("/{ref}", response=CaseOut, summary="One case with its loops")
def get_case(request: HttpRequest, ref: str) -> dict[str, Any]:
    return case_out(case_get(ref=ref, viewer=request.viewer))  # type: ignore[attr-defined]


class CasePatch(Schema):
    status: Status | None = None
    subject: str | None = Field(default=None, min_length=1, max_length=300)
    priority: PriorityName | None = None
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)


@router.patch("/{ref}", response=CaseOut, summary="Change a case; solving with open loops is refused (409)")
def patch_case(request: HttpRequest, ref: str, payload: CasePatch) -> dict[str, Any]:
    viewer = request.viewer  # type: ignore[attr-defined]
    case = case_get(ref=ref, viewer=viewer)
    now = utcnow()
    fields = payload.model_dump(exclude_unset=True)
    team = team_by_slug(payload.team) if "team" in fields and payload.team else None
    assignee = user_by_username(payload.assignee) if payload.assignee else None
    if team is not None:
        _check_team(viewer, team)
    # Validate everything before the first write; then apply in one transaction.
    from django.db import transaction

    with transaction.atomic():
        if "subject" in fields or "priority" in fields:
            case = services.case_update(case=case, subject=payload.subject, priority=payload.priority, actor=viewer, now=now)
        if "team" in fields or "assignee" in fields:
            case = services.case_assign(case=case, team=team, assignee=assignee, actor=viewer, now=now)
        if payload.status is not None:
            case = services.case_set_status(case=case, status=payload.status, actor=viewer, now=now)
    return case_out(case_get(ref=case.ref, viewer=None))


