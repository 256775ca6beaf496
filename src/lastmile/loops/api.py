"""API for open loops."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.cases.selectors import case_get
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.customers.api import CustomerRef, resolve_ref
from lastmile.loops import services
from lastmile.loops.models import Loop
from lastmile.loops.selectors import loop_explain, loop_get, loop_list, loop_sla_state
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.people.viewers import SYSTEM, actor_of

router = Router(tags=["loops"])


class LoopOut(Schema):
    id: int
    kind: str
    title: str
    state: str
    customer: int | None  # None: a team's own loop (an alert's acknowledgement)
    case: str | None
    team: str | None
    assignee: str | None
    opened_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    paused: bool
    escalation_level: int
    breached: bool
    sla_state: str
    visible_to_customer: bool
    policy: str | None
    explanation: str


def loop_out(loop: Loop, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    sla_state = loop_sla_state(loop, now=now) if loop.state == "open" else loop.state
    return {
        "id": loop.pk,
        "kind": loop.kind,
        "title": loop.title,
        "state": loop.state,
        "customer": loop.customer_id,
        "case": loop.case.ref if loop.case_id else None,
        "team": loop.team.slug if loop.team_id else None,
        "assignee": loop.assignee.username if loop.assignee_id else None,
        "opened_at": loop.opened_at,
        "due_at": loop.due_at,
        "closed_at": loop.closed_at,
        "paused": loop.paused_at is not None,
        "escalation_level": loop.escalation_level,
        "breached": loop.breached_at is not None or sla_state == "breached",
        "sla_state": sla_state,
        "visible_to_customer": loop.visible_to_customer,
        "policy": loop.sla_policy.name if loop.sla_policy_id else None,
        "explanation": loop_explain(loop, now=now),
    }


class LoopIn(StrictSchema):
    kind: Literal["reply", "promise", "task", "visit", "recovery", "followup", "ack"]
    title: str = Field(min_length=1, max_length=300)
    case: str | None = Field(default=None, max_length=30)
    customer: CustomerRef | None = None
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)
    due_at: UtcDatetime | None = None
    visible_to_customer: bool = False


@router.post("", response={201: LoopOut}, summary="Open a loop on a case or for a customer")
def open_loop(request: HttpRequest, payload: LoopIn) -> Status:
    viewer = viewer_of(request)
    now = utcnow()
    if (payload.case is None) == (payload.customer is None):
        raise InvalidInput(
            "give either case or customer", [FieldError("case", "give either case or customer")]
        )
    case = case_get(ref=payload.case, viewer=viewer) if payload.case is not None else None
    team = team_by_slug(payload.team)
    assignee = user_by_username(payload.assignee)
    customer = case.customer if case else resolve_ref(payload.customer, viewer=viewer, now=now)  # type: ignore[arg-type]
    loop = services.loop_open(
        customer=customer,
        case=case,
        kind=payload.kind,
        title=payload.title,
        team=team,
        assignee=assignee,
        due_at=payload.due_at,
        visible_to_customer=payload.visible_to_customer,
        actor=actor_of(viewer),
        now=now,
    )
    return Status(201, loop_out(loop, now=now))


class LoopsQuery(Schema):
    state: Literal["open", "closed", "broken", "cancelled"] | None = None
    team: str | None = Field(default=None, max_length=50)
    kind: str | None = Field(default=None, max_length=16)
    due_before: UtcDatetime | None = None
    breached: bool | None = None
    customer: int | None = Field(default=None, ge=1, le=2**62)
    assignee: str | None = Field(default=None, max_length=150)
    # Breached while this agent held the loop, whoever holds it now (the scorecards' breaches).
    breached_by: str | None = Field(default=None, max_length=150)
    # Finished (closed, broken, cancelled) at or after / strictly before: a period's bounds.
    closed_after: UtcDatetime | None = None
    closed_before: UtcDatetime | None = None
    # A team's own loops (acknowledgements, coaching, pay disputes) only, or none of them.
    team_own: bool | None = None


@router.get("", response=list[LoopOut], summary="Loops, most urgent first")
@paginate(BoundedLimitOffset)
def list_loops(request: HttpRequest, filters: Query[LoopsQuery]) -> Any:
    now = utcnow()
    qs = loop_list(
        viewer=viewer_of(request),
        now=now,
        state=filters.state,
        team=filters.team,
        kind=filters.kind,
        due_before=filters.due_before,
        breached=filters.breached,
        customer=filters.customer,
        assignee=user_by_username(filters.assignee),
        breached_by=user_by_username(filters.breached_by, field="breached_by"),
        closed_after=filters.closed_after,
        closed_before=filters.closed_before,
        team_own=filters.team_own,
    )
    return LazyPage(qs, lambda lp: loop_out(lp, now=now))


@router.get("/{loop_id}", response=LoopOut, summary="One loop")
def get_loop(request: HttpRequest, loop_id: int) -> dict[str, Any]:
    return loop_out(loop_get(loop_id=loop_id, viewer=viewer_of(request)))


class ReasonIn(StrictSchema):
    reason: str = Field(default="", max_length=500)


class ReassignIn(StrictSchema):
    team: str | None = Field(default=None, max_length=50)
    assignee: str | None = Field(default=None, max_length=150)
    reason: str = Field(default="", max_length=500)


def _act(request: HttpRequest, loop_id: int, action: str, **kwargs: Any) -> dict[str, Any]:
    viewer = viewer_of(request)
    loop = loop_get(loop_id=loop_id, viewer=viewer)
    now = utcnow()
    done = getattr(services, f"loop_{action}")(loop=loop, actor=actor_of(viewer), now=now, **kwargs)
    return loop_out(loop_get(loop_id=done.pk, viewer=SYSTEM), now=now)


@router.post("/{loop_id}/close", response=LoopOut, summary="Close a loop")
def close_loop(
    request: HttpRequest, loop_id: int, payload: ReasonIn | None = None
) -> dict[str, Any]:
    return _act(request, loop_id, "close", reason=payload.reason if payload else "")


@router.post("/{loop_id}/pause", response=LoopOut, summary="Stop a loop's clock")
def pause_loop(
    request: HttpRequest, loop_id: int, payload: ReasonIn | None = None
) -> dict[str, Any]:
    return _act(request, loop_id, "pause", reason=payload.reason if payload else "")


@router.post("/{loop_id}/resume", response=LoopOut, summary="Restart a loop's clock")
def resume_loop(
    request: HttpRequest, loop_id: int, payload: ReasonIn | None = None
) -> dict[str, Any]:
    return _act(request, loop_id, "resume", reason=payload.reason if payload else "")


@router.post("/{loop_id}/cancel", response=LoopOut, summary="Cancel a loop (reason required)")
def cancel_loop(request: HttpRequest, loop_id: int, payload: ReasonIn) -> dict[str, Any]:
    return _act(request, loop_id, "cancel", reason=payload.reason)


@router.post(
    "/{loop_id}/reassign", response=LoopOut, summary="Give a loop to another team or agent"
)
def reassign_loop(request: HttpRequest, loop_id: int, payload: ReassignIn) -> dict[str, Any]:
    return _act(
        request,
        loop_id,
        "reassign",
        team=team_by_slug(payload.team),
        assignee=user_by_username(payload.assignee),
        reason=payload.reason,
    )
