"""API for the promise ledger, at /api/v1/promises.

Recording runs the same policy check as the console: a warning not confirmed, or a block
not overridden by an agent whose authority covers it, is a 409 whose ``errors`` name each
policy (``policies.<key>``) with its verdict and text; an agent overriding a block beyond
their authority records it ``awaiting`` approval, which ``/approve`` or ``/reject``
decides. ``POST /api/v1/policies/check`` asks the same question without recording anything
(``policies_api.py``).
"""

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
from lastmile.core.errors import FieldError, InvalidInput, PermissionDenied
from lastmile.customers.api import CustomerRef, resolve_ref
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.people.viewers import SYSTEM, actor_of
from lastmile.promises import services
from lastmile.promises.models import Promise
from lastmile.promises.selectors import promise_actions, promise_get, promise_list

router = Router(tags=["promises"])


class VerdictOut(Schema):
    policy: str
    title: str
    version: int
    severity: Literal["warn", "block"]
    result: Literal["pass", "fail", "error"]
    text: str
    detail: str


class PromiseOut(Schema):
    id: int
    state: str
    text: str
    terms: dict[str, Any]
    customer: int
    case: str | None
    team: str
    channel: str
    made_by: str | None
    made_by_name: str
    made_by_team: str | None
    made_at: datetime
    due_at: datetime
    visible_to_customer: bool
    loop: int | None
    verdicts: list[VerdictOut]
    warnings_confirmed_by: str | None
    warnings_confirmed_at: datetime | None
    overridden_by: str | None
    overridden_at: datetime | None
    replaces: int | None
    replaced_by: int | None
    outcome_at: datetime | None
    outcome_by: str | None
    outcome_reason: str
    followup_loop: int | None
    external_id: str | None
    approval_loop: int | None = Field(
        description="state awaiting: the task asking a lead to approve the exception"
    )
    approval_by: str | None
    approval_at: datetime | None
    approval_reason: str


def _username(user: Any) -> str | None:
    return user.username if user is not None else None


def promise_out(promise: Promise) -> dict[str, Any]:
    try:
        replaced_by: int | None = promise.replaced_by.pk  # joined by the selectors
    except Promise.DoesNotExist:
        replaced_by = None
    return {
        "id": promise.pk,
        "state": promise.state,
        "text": promise.text,
        "terms": promise.terms,
        "customer": promise.customer_id,
        "case": promise.case.ref if promise.case is not None else None,
        "team": promise.team.slug,
        "channel": promise.channel,
        "made_by": _username(promise.made_by),
        "made_by_name": promise.made_by_name,
        "made_by_team": promise.made_by_team.slug if promise.made_by_team is not None else None,
        "made_at": promise.made_at,
        "due_at": promise.due_at,
        "visible_to_customer": promise.visible_to_customer,
        "loop": promise.loop_id,
        "verdicts": promise.verdicts,
        "warnings_confirmed_by": _username(promise.warnings_confirmed_by),
        "warnings_confirmed_at": promise.warnings_confirmed_at,
        "overridden_by": _username(promise.overridden_by),
        "overridden_at": promise.overridden_at,
        "replaces": promise.replaces_id,
        "replaced_by": replaced_by,
        "outcome_at": promise.outcome_at,
        "outcome_by": _username(promise.outcome_by),
        "outcome_reason": promise.outcome_reason,
        "followup_loop": promise.followup_loop_id,
        "external_id": promise.external_id,
        "approval_loop": promise.approval_loop_id,
        "approval_by": _username(promise.approval_by),
        "approval_at": promise.approval_at,
        "approval_reason": promise.approval_reason,
    }


def _via(request: HttpRequest) -> str:
    token = getattr(request, "auth", None)
    return f"api:{getattr(token, 'name', 'token')}"[:100]


class PromiseIn(StrictSchema):
    case: str | None = Field(default=None, max_length=30)
    customer: CustomerRef | None = None
    text: str = Field(min_length=1, max_length=2000)
    terms: dict[str, Any] = Field(default_factory=dict)
    team: str = Field(max_length=50, description="Slug of the team that must keep it.")
    channel: str = Field(max_length=40, description="Where the promise was made: email, phone…")
    due_at: UtcDatetime
    made_by: str | None = Field(
        default=None, max_length=150, description="Username; default: the token's agent."
    )
    confirm_warnings: bool = False
    override: bool = False
    visible_to_customer: bool = True
    external_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="The same id twice: one promise."
    )


@router.post(
    "",
    response={201: PromiseOut},
    summary="Record a promise (checked against every policy; 409 with the verdicts if refused; "
    "a block overridden beyond the agent's authority is recorded awaiting a lead's approval)",
)
def record_promise(request: HttpRequest, payload: PromiseIn) -> Status:
    viewer = viewer_of(request)
    now = utcnow()
    if (payload.case is None) == (payload.customer is None):
        raise InvalidInput(
            "give either case or customer", [FieldError("case", "give either case or customer")]
        )
    case = case_get(ref=payload.case, viewer=viewer) if payload.case is not None else None
    customer = (
        case.customer if case else resolve_ref(payload.customer, viewer=viewer, now=now)  # type: ignore[arg-type]
    )
    promise = services.promise_record(
        case=case,
        customer=customer,
        text=payload.text,
        terms=payload.terms,
        due_at=payload.due_at,
        team=team_by_slug(payload.team),
        channel=payload.channel,
        made_by=user_by_username(payload.made_by, field="made_by"),
        actor=actor_of(viewer),
        confirm_warnings=payload.confirm_warnings,
        override=payload.override,
        visible_to_customer=payload.visible_to_customer,
        recorded_via=_via(request),
        external_id=payload.external_id,
        now=now,
    )
    return Status(201, promise_out(promise_get(promise_id=promise.pk, viewer=SYSTEM)))


class PromisesQuery(Schema):
    state: Literal["open", "kept", "broken", "renegotiated", "withdrawn"] | None = None
    team: str | None = Field(default=None, max_length=50)
    customer: int | None = Field(default=None, ge=1, le=2**62)
    case: str | None = Field(default=None, max_length=30)
    made_by: str | None = Field(
        default=None, max_length=150, description="Username of the agent who made them."
    )
    # Made at or after / strictly before: a scorecard period's bounds.
    made_after: UtcDatetime | None = None
    made_before: UtcDatetime | None = None


@router.get("", response=list[PromiseOut], summary="Promises: open ones soonest due first")
@paginate(BoundedLimitOffset)
def list_promises(request: HttpRequest, filters: Query[PromisesQuery]) -> Any:
    viewer = viewer_of(request)
    case = case_get(ref=filters.case, viewer=viewer) if filters.case else None
    qs = promise_list(
        viewer=viewer,
        state=filters.state,
        team=filters.team,
        customer=filters.customer,
        case=case,
        made_by=user_by_username(filters.made_by, field="made_by"),
        made_after=filters.made_after,
        made_before=filters.made_before,
    )
    return LazyPage(qs, promise_out)


@router.get("/{promise_id}", response=PromiseOut, summary="One promise")
def get_promise(request: HttpRequest, promise_id: int) -> dict[str, Any]:
    return promise_out(promise_get(promise_id=promise_id, viewer=viewer_of(request)))


def _for_action(request: HttpRequest, promise_id: int, action: str) -> Promise:
    viewer = viewer_of(request)
    promise = promise_get(promise_id=promise_id, viewer=viewer)
    if promise.is_open and action not in promise_actions(promise=promise, viewer=viewer):
        raise PermissionDenied(f"only the team that keeps this promise may {action} it")
    return promise


class KeepIn(StrictSchema):
    note: str = Field(default="", max_length=500)


class BreakIn(StrictSchema):
    reason: str = Field(min_length=1, max_length=500)


class RenegotiateIn(StrictSchema):
    text: str = Field(min_length=1, max_length=2000)
    terms: dict[str, Any] = Field(default_factory=dict)
    due_at: UtcDatetime
    team: str | None = Field(default=None, max_length=50)
    channel: str | None = Field(default=None, max_length=40)
    made_by: str | None = Field(default=None, max_length=150)
    reason: str = Field(default="", max_length=500)
    confirm_warnings: bool = False
    override: bool = False


@router.post("/{promise_id}/keep", response=PromiseOut, summary="The promise was kept")
def keep_promise(
    request: HttpRequest, promise_id: int, payload: KeepIn | None = None
) -> dict[str, Any]:
    promise = _for_action(request, promise_id, "keep")
    done = services.promise_keep(
        promise=promise,
        actor=actor_of(viewer_of(request)),
        note=payload.note if payload else "",
        now=utcnow(),
        via="api",
    )
    return promise_out(promise_get(promise_id=done.pk, viewer=SYSTEM))


@router.post(
    "/{promise_id}/break",
    response=PromiseOut,
    summary="The promise will not be kept (reason required; opens a follow-up for the lead)",
)
def break_promise(request: HttpRequest, promise_id: int, payload: BreakIn) -> dict[str, Any]:
    promise = _for_action(request, promise_id, "break")
    done = services.promise_break(
        promise=promise,
        actor=actor_of(viewer_of(request)),
        reason=payload.reason,
        now=utcnow(),
        via="api",
    )
    return promise_out(promise_get(promise_id=done.pk, viewer=SYSTEM))


@router.post(
    "/{promise_id}/renegotiate",
    response={201: PromiseOut},
    summary="Replace the promise with a new one (checked like a new promise); returns the new one",
)
def renegotiate_promise(request: HttpRequest, promise_id: int, payload: RenegotiateIn) -> Status:
    promise = _for_action(request, promise_id, "renegotiate")
    new = services.promise_renegotiate(
        promise=promise,
        text=payload.text,
        terms=payload.terms,
        due_at=payload.due_at,
        team=team_by_slug(payload.team),
        channel=payload.channel,
        made_by=user_by_username(payload.made_by, field="made_by"),
        actor=actor_of(viewer_of(request)),
        confirm_warnings=payload.confirm_warnings,
        override=payload.override,
        reason=payload.reason,
        recorded_via=_via(request),
        now=utcnow(),
    )
    return Status(201, promise_out(promise_get(promise_id=new.pk, viewer=SYSTEM)))


class ExceptionDecisionIn(StrictSchema):
    reason: str = Field(default="", max_length=500, description="Required to reject.")


def _decide(
    request: HttpRequest, promise_id: int, payload: ExceptionDecisionIn | None, verdict: str
) -> dict[str, Any]:
    viewer = viewer_of(request)
    promise = promise_get(promise_id=promise_id, viewer=viewer)
    decide = (
        services.promise_exception_approve
        if verdict == "approve"
        else services.promise_exception_reject
    )
    done = decide(
        promise=promise,
        actor=actor_of(viewer),
        reason=payload.reason if payload else "",
        now=utcnow(),
    )
    return promise_out(promise_get(promise_id=done.pk, viewer=SYSTEM))


@router.post(
    "/{promise_id}/approve",
    response=PromiseOut,
    summary="Approve an exception awaiting approval (another person whose authority covers it)",
)
def approve_exception(
    request: HttpRequest, promise_id: int, payload: ExceptionDecisionIn | None = None
) -> dict[str, Any]:
    return _decide(request, promise_id, payload, "approve")


@router.post(
    "/{promise_id}/reject",
    response=PromiseOut,
    summary="Reject an exception awaiting approval (reason required)",
)
def reject_exception(
    request: HttpRequest, promise_id: int, payload: ExceptionDecisionIn | None = None
) -> dict[str, Any]:
    return _decide(request, promise_id, payload, "reject")
