"""API for cases, mounted at /api/v1/cases.

It lives in loops because a case is shown with its loops, and loops sit above cases in the
apps' order (tests/project/test_import_order.py). The operation ids are the ones the endpoints had
in ``lastmile.cases.api``, kept so the schema, and clients made from it, stay the same.
"""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema
from lastmile.cases.models import Case
from lastmile.cases.selectors import case_get, case_list
from lastmile.cases.services import case_change, case_create
from lastmile.core.clock import utcnow
from lastmile.core.errors import PermissionDenied
from lastmile.customers.api import CustomerRef, resolve_ref
from lastmile.loops.api import LoopOut, loop_out
from lastmile.loops.selectors import loop_list
from lastmile.people.selectors import team_by_slug, user_by_username, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, actor_of

router = Router(tags=["cases"])

StatusName = Literal["open", "pending", "solved", "closed"]
PriorityName = Literal["low", "normal", "high", "urgent"]


class CaseOut(Schema):
    ref: str
    subject: str
    customer_title: str = Field(description="the title the customer sees; empty: a neutral one")
    status: str
    priority: str
    channel: str
    customer: int
    team: str | None
    assignee: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    loops: list[LoopOut]


def case_out(case: Case, *, with_loops: bool = True) -> dict[str, Any]:
    now = utcnow()
    loops = loop_list(viewer=SYSTEM, now=now, case=case) if with_loops else []
    return {
        "ref": case.ref,
        "subject": case.subject,
        "customer_title": case.customer_title,
        "status": case.status,
        "priority": case.priority,
        "channel": case.channel,
        "customer": case.customer_id,
        "team": case.team.slug if case.team_id else None,
        "assignee": case.assignee.username if case.assignee_id else None,
        "tags": sorted(t.name for t in case.tags.all()),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "loops": [loop_out(lp, now=now) for lp in loops],
    }


def _check_team(viewer: Viewer, team: Any) -> None:
    teams = visible_team_ids(viewer)
    if teams is not None and (team is None or team.pk not in teams):
        raise PermissionDenied("you can only file cases for your own teams")


class CaseIn(StrictSchema):
    customer: CustomerRef
    subject: str = Field(min_length=1, max_length=300)
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)
    priority: PriorityName = "normal"
    channel: str = Field(default="", max_length=40)


@router.post(
    "",
    response={201: CaseOut},
    summary="Open a case",
    operation_id="lastmile_cases_api_create_case",
)
def create_case(request: HttpRequest, payload: CaseIn) -> Status:
    viewer = viewer_of(request)
    now = utcnow()
    team = team_by_slug(payload.team)
    _check_team(viewer, team)
    assignee = user_by_username(payload.assignee)
    customer = resolve_ref(payload.customer, viewer=viewer, now=now)
    case = case_create(
        customer=customer,
        subject=payload.subject,
        team=team,
        assignee=assignee,
        priority=payload.priority,
        channel=payload.channel,
        actor=actor_of(viewer),
        now=now,
    )
    return Status(201, case_out(case))


class CasesQuery(Schema):
    status: StatusName | None = None
    priority: PriorityName | None = None
    team: str | None = Field(default=None, max_length=50)
    tag: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)


class CaseSummary(Schema):
    ref: str
    subject: str
    status: str
    priority: str
    customer: int
    team: str | None
    assignee: str | None
    tags: list[str]
    updated_at: datetime


@router.get(
    "",
    response=list[CaseSummary],
    summary="Cases, newest first",
    operation_id="lastmile_cases_api_list_cases",
)
@paginate(BoundedLimitOffset)
def list_cases(request: HttpRequest, filters: Query[CasesQuery]) -> Any:
    qs = case_list(
        viewer=viewer_of(request),
        status=filters.status,
        priority=filters.priority,
        team=filters.team,
        tag=filters.tag,
        assignee=filters.assignee,
    ).prefetch_related("tags")
    return LazyPage(qs, _case_summary)


def _case_summary(case: Case) -> dict[str, Any]:
    row = case_out(case, with_loops=False)
    row.pop("loops")
    return row


@router.get(
    "/{ref}",
    response=CaseOut,
    summary="One case with its loops",
    operation_id="lastmile_cases_api_get_case",
)
def get_case(request: HttpRequest, ref: str) -> dict[str, Any]:
    return case_out(case_get(ref=ref, viewer=viewer_of(request)))


class CasePatch(StrictSchema):
    status: StatusName | None = None
    subject: str | None = Field(default=None, min_length=1, max_length=300)
    customer_title: str | None = Field(
        default=None, max_length=200, description="shown to the customer; empty: a neutral one"
    )
    priority: PriorityName | None = None
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)
    tags: list[str] | None = Field(
        default=None, max_length=20, description="the case's tags, all of them (replaces)"
    )


@router.patch(
    "/{ref}",
    response=CaseOut,
    summary="Change a case (tags: the whole list); solving with open loops is refused (409)",
    operation_id="lastmile_cases_api_patch_case",
)
def patch_case(request: HttpRequest, ref: str, payload: CasePatch) -> dict[str, Any]:
    viewer = viewer_of(request)
    case = case_get(ref=ref, viewer=viewer)
    now = utcnow()
    fields = payload.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "team" in fields:
        changes["team"] = team_by_slug(payload.team) if payload.team else None
        if changes["team"] is not None:
            _check_team(viewer, changes["team"])
    if "assignee" in fields:
        changes["assignee"] = user_by_username(payload.assignee) if payload.assignee else None
    case = case_change(
        case=case,
        now=now,
        actor=actor_of(viewer),
        subject=payload.subject,
        customer_title=payload.customer_title,
        priority=payload.priority,
        status=payload.status,
        tags=payload.tags,
        **changes,
    )
    return case_out(case_get(ref=case.ref, viewer=SYSTEM))
