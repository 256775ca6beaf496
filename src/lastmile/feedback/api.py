"""The feedback API, under /api/v1/surveys, /api/v1/responses and /api/v1/feedback.

- ``POST /surveys`` creates a survey (admins, integrations, the team's leads);
- ``POST /surveys/{id}/invites`` asks a customer under the one contact budget: 201 with
  ``state`` queued or suppressed (and the rule's ``reason``) and the link's ``url``;
- ``POST /surveys/{id}/responses`` records an answer collected elsewhere (a kiosk, a call);
- ``GET /responses`` lists answers, paged as every list (``limit``, ``offset``);
- ``POST /responses/{id}/recovery`` closes a detractor's recovery loop with its outcome
  (called back, fixed, refunded, could not reach) and optionally asks again; a loop closed
  elsewhere without one (the console's "Mark done") still takes its outcome, once; the
  caller must see the loop itself (404 otherwise), a cancelled loop is a 409;
- ``GET /feedback/summary`` counts bands, the NPS with its 95 % interval, the response rate.

A score off the scale is a 422 naming ``score``; an invite answered already is a 409, a
suppressed or expired one a 410, both naming ``invite``; nothing is stored.
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
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.customers.api import CustomerRef, resolve_ref
from lastmile.feedback import services
from lastmile.feedback.models import Response, Survey
from lastmile.feedback.selectors import (
    feedback_summary,
    invite_get,
    response_get,
    response_recovery_get,
    responses_list,
    survey_get,
)
from lastmile.people.selectors import team_by_slug
from lastmile.people.viewers import actor_of

router = Router(tags=["feedback"])


class SurveyIn(StrictSchema):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["nps", "csat", "ces"]
    team: str = Field(min_length=1, max_length=50)
    trigger: Literal["manual", "case_solved", "loop_closed", "event", "schedule"] = "manual"
    trigger_loop_kind: str = Field(default="", max_length=16)
    trigger_event: str = Field(default="", max_length=200)
    every_days: int | None = Field(default=None, ge=1, le=3650)
    all_teams: bool = False
    channel: Literal["email", "sms", "portal", "link"] = "email"
    language: str = Field(default="en", min_length=2, max_length=10)
    wording: dict[str, dict[str, str]] = Field(default_factory=dict)
    comment_question: str = Field(default="What is the main reason for your score?", max_length=300)
    recovery_business_days: int = Field(default=2, ge=1, le=60)
    invite_days: int = Field(default=30, ge=1, le=365)
    remind_after_hours: int = Field(default=72, ge=0, le=8760)


class SurveyOut(Schema):
    id: int
    name: str
    kind: str
    scale: list[int]
    team: str
    trigger: str
    trigger_loop_kind: str
    trigger_event: str
    every_days: int | None
    channel: str
    remind_after_hours: int
    active: bool


def survey_out(s: Survey) -> dict[str, Any]:
    return {
        "id": s.pk,
        "name": s.name,
        "kind": s.kind,
        "scale": list(s.scale),
        "team": s.team.slug,
        "trigger": s.trigger,
        "trigger_loop_kind": s.trigger_loop_kind,
        "trigger_event": s.trigger_event,
        "every_days": s.every_days,
        "channel": s.channel,
        "remind_after_hours": s.remind_after_hours,
        "active": s.active,
    }


@router.post("/surveys", response={201: SurveyOut}, summary="Create a survey")
def create_survey(request: HttpRequest, payload: SurveyIn) -> Status:
    viewer = viewer_of(request)
    team = team_by_slug(payload.team)
    if Survey.objects.filter(name=payload.name).exists():
        raise InvalidInput(
            "a survey with this name exists", [FieldError("name", "taken by another survey")]
        )
    survey = services.survey_create(
        actor=actor_of(viewer), now=utcnow(), **{**payload.model_dump(), "team": team}
    )
    return Status(201, survey_out(survey))


@router.get("/surveys/{survey_id}", response=SurveyOut, summary="One survey")
def get_survey(request: HttpRequest, survey_id: int) -> dict[str, Any]:
    return survey_out(survey_get(survey_id=survey_id, viewer=viewer_of(request)))


class InviteIn(StrictSchema):
    customer: CustomerRef
    channel: Literal["email", "sms", "portal", "link"]
    case: str | None = Field(default=None, max_length=30)


class InviteOut(Schema):
    id: int
    state: str
    reason: str | None
    url: str | None


@router.post(
    "/surveys/{survey_id}/invites",
    response={201: InviteOut},
    summary="Ask a customer, under the contact rules",
)
def create_invite(request: HttpRequest, survey_id: int, payload: InviteIn) -> Status:
    viewer = viewer_of(request)
    now = utcnow()
    survey = survey_get(survey_id=survey_id, viewer=viewer)
    case = case_get(ref=payload.case, viewer=viewer) if payload.case else None
    customer = resolve_ref(payload.customer, viewer=viewer, now=now)
    invite, token = services.invite_create(
        survey=survey,
        customer=customer,
        channel=payload.channel,
        case=case,
        actor=actor_of(viewer),
        now=now,
    )
    suppressed = invite.state == "suppressed"
    return Status(
        201,
        {
            "id": invite.pk,
            "state": invite.state,
            "reason": invite.reason or None,
            "url": None if suppressed else services.invite_url(token),
        },
    )


class ResponseIn(StrictSchema):
    invite: int = Field(ge=1, le=2**62)
    score: int
    comment: str = Field(default="", max_length=5000)


class ResponseOut(Schema):
    id: int
    invite: int
    survey: int
    customer: int
    case: str | None
    score: int
    band: str
    comment: str
    reason: str | None
    detractor: bool
    loop: int | None
    recovery_outcome: str | None
    resurvey: int | None
    source: str
    at: datetime
    changed_at: datetime | None


def response_out(r: Response) -> dict[str, Any]:
    return {
        "id": r.pk,
        "invite": r.invite_id,
        "survey": r.survey_id,
        "customer": r.invite.customer_id,
        "case": r.invite.case.ref if r.invite.case is not None else None,
        "score": r.score,
        "band": r.band,
        "comment": r.comment,
        "reason": r.reason.name if r.reason is not None else None,
        "detractor": r.detractor,
        "loop": r.recovery_loop_id,
        "recovery_outcome": r.recovery_outcome or None,
        "resurvey": r.resurvey_id,
        "source": r.source,
        "at": r.at,
        "changed_at": r.changed_at,
    }


@router.post(
    "/surveys/{survey_id}/responses",
    response={201: ResponseOut},
    summary="Record an answer collected elsewhere (a kiosk, a call)",
)
def create_response(request: HttpRequest, survey_id: int, payload: ResponseIn) -> Status:
    viewer = viewer_of(request)
    survey = survey_get(survey_id=survey_id, viewer=viewer)
    invite = invite_get(invite_id=payload.invite, survey=survey)
    response = services.response_record(
        invite=invite, score=payload.score, comment=payload.comment, source="api", now=utcnow()
    )
    return Status(201, response_out(responses_list(viewer=viewer).get(pk=response.pk)))


class ResponsesQuery(Schema):
    survey: int | None = Field(default=None, ge=1, le=2**62)
    team: str | None = Field(default=None, max_length=50)
    from_: UtcDatetime | None = Field(default=None, alias="from")
    to: UtcDatetime | None = None
    band: Literal["promoter", "passive", "detractor"] | None = None
    customer: int | None = Field(default=None, ge=1, le=2**62)


@router.get("/responses", response=list[ResponseOut], summary="Responses, newest first")
@paginate(BoundedLimitOffset)
def list_responses(request: HttpRequest, filters: Query[ResponsesQuery]) -> Any:
    _range_check(filters.from_, filters.to)
    qs = responses_list(
        viewer=viewer_of(request),
        survey=filters.survey,
        team=filters.team,
        start=filters.from_,
        end=filters.to,
        band=filters.band,
        customer=filters.customer,
    )
    return LazyPage(qs, response_out)


class RecoveryIn(StrictSchema):
    outcome: Literal["called_back", "fixed", "refunded", "could_not_reach"]
    note: str = Field(default="", max_length=400)
    resurvey: bool = False
    channel: Literal["email", "sms", "portal", "link"] | None = None


class RecoveryOut(Schema):
    response: ResponseOut
    resurvey: InviteOut | None


@router.post(
    "/responses/{response_id}/recovery",
    response=RecoveryOut,
    summary="Close a detractor's recovery loop with its outcome, and optionally ask again",
)
def close_recovery(request: HttpRequest, response_id: int, payload: RecoveryIn) -> dict[str, Any]:
    viewer = viewer_of(request)
    response = response_recovery_get(response_id=response_id, viewer=viewer)
    done, invite, token = services.recovery_close(
        response=response,
        outcome=payload.outcome,
        note=payload.note,
        resurvey=payload.resurvey,
        channel=payload.channel or "",
        actor=actor_of(viewer),
        now=utcnow(),
    )
    asked = None
    if invite is not None:
        suppressed = invite.state == "suppressed"
        asked = {
            "id": invite.pk,
            "state": invite.state,
            "reason": invite.reason or None,
            "url": None if suppressed else services.invite_url(token),
        }
    return {
        "response": response_out(response_get(response_id=done.pk, viewer=viewer)),
        "resurvey": asked,
    }


class SummaryQuery(Schema):
    survey: int | None = Field(default=None, ge=1, le=2**62)
    team: str | None = Field(default=None, max_length=50)
    from_: UtcDatetime | None = Field(default=None, alias="from")
    to: UtcDatetime | None = None


class SummaryOut(Schema):
    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    nps_ci95: list[float] | None
    response_rate: float | None


def _range_check(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise InvalidInput("the range ends before it starts", [FieldError("to", "after from")])


@router.get(
    "/feedback/summary",
    response=SummaryOut,
    summary="Promoters, passives, detractors, the NPS and its 95 % interval, the response rate",
)
def summary(request: HttpRequest, filters: Query[SummaryQuery]) -> dict[str, Any]:
    viewer = viewer_of(request)
    _range_check(filters.from_, filters.to)
    if filters.survey is not None:
        survey_get(survey_id=filters.survey, viewer=viewer)  # 404 when not theirs
    if filters.team:
        team_by_slug(filters.team)  # 422 naming team when unknown
    s = feedback_summary(
        viewer=viewer, survey=filters.survey, team=filters.team, start=filters.from_, end=filters.to
    )
    n = s.nps
    return {
        "responses": n.responses,
        "promoters": n.promoters,
        "passives": n.passives,
        "detractors": n.detractors,
        "nps": None if n.nps is None else round(n.nps, 1),
        "nps_ci95": None if n.low is None else [round(n.low, 1), round(n.high or 0.0, 1)],
        "response_rate": None if s.response_rate is None else round(s.response_rate, 4),
    }
