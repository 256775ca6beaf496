"""API for journeys: templates as JSON or YAML, starting, completing steps, cancelling."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.cases.selectors import case_get
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.core.jsonbody import JsonBodyError, json_load
from lastmile.journeys import services
from lastmile.journeys.definitions import from_yaml, template_export, to_yaml
from lastmile.journeys.models import Journey, JourneyStep, JourneyTemplate
from lastmile.journeys.selectors import (
    journey_get,
    journey_list,
    journey_step_get,
    template_get,
    template_list,
)
from lastmile.loops.selectors import loop_get
from lastmile.people.viewers import SYSTEM, actor_of

router = Router(tags=["journeys"])

TEMPLATE_MAX_BYTES = 256 * 1024
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")

# The template document, for the OpenAPI description (the service checks it, with paths).
STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["key", "title"],
    "properties": {
        "key": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,49}$"},
        "title": {"type": "string", "maxLength": 200},
        "team": {"type": ["string", "null"], "description": "a team's slug; null: the case's team"},
        "sla_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": 525600},
        "depends_on": {"type": "array", "items": {"type": "string"}},
        "customer_visible": {"type": "boolean"},
        "customer_performs": {"type": "boolean"},
        "customer_action": {"enum": ["none", "upload", "choose_slot", "confirm"]},
        "instructions": {"type": "string", "maxLength": 5000},
        "due_by_slot": {
            "type": ["string", "null"],
            "description": "key of a choose_slot step this one waits for: due at the end of "
            "the window the customer chose there",
        },
    },
}
TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "steps"],
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,49}$"},
        "description": {"type": "string", "maxLength": 5000},
        "active": {"type": "boolean"},
        "steps": {"type": "array", "minItems": 1, "maxItems": 50, "items": STEP_SCHEMA},
    },
}


class StepTemplateOut(Schema):
    key: str
    title: str
    team: str | None
    sla_minutes: int | None
    depends_on: list[str]
    customer_visible: bool
    customer_performs: bool
    customer_action: str
    instructions: str
    due_by_slot: str | None = None


class TemplateOut(Schema):
    slug: str
    name: str
    description: str
    version: int
    active: bool
    updated_at: datetime
    steps: list[StepTemplateOut]


class TemplateSaved(Schema):
    outcome: Literal["created", "updated", "unchanged"]
    template: TemplateOut


def template_out(template: JourneyTemplate) -> dict[str, Any]:
    doc = template_export(template)
    return {
        "slug": template.slug,
        "name": template.name,
        "description": template.description,
        "version": template.version,
        "active": template.active,
        "updated_at": template.updated_at,
        "steps": doc["steps"],
    }


@router.get("/templates", response=list[TemplateOut], summary="Journey templates")
def list_templates(request: HttpRequest) -> list[dict[str, Any]]:
    return [template_out(t) for t in template_list()]


@router.get(
    "/templates/{slug}",
    response=TemplateOut,
    summary="One template (format=yaml: the YAML document to edit and send back)",
    openapi_extra={
        "responses": {
            # Both media types, each with the schema of what it carries: the YAML document is
            # the definition that POST /templates takes back, not an opaque string. The key is
            # the int ninja uses itself: a "200" string beside it is a duplicate key in JSON.
            200: {
                "description": "format=json: the template; format=yaml: its definition as YAML",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TemplateOut"}},
                    "application/yaml": {"schema": TEMPLATE_SCHEMA},
                },
            },
        }
    },
)
def get_template(
    request: HttpRequest, slug: str, fmt: Literal["json", "yaml"] = Query("json", alias="format")
) -> Any:
    template = template_get(slug=slug)
    if fmt == "yaml":
        return HttpResponse(
            to_yaml(template_export(template)), content_type="application/yaml; charset=utf-8"
        )
    return template_out(template)


def _definition(request: HttpRequest) -> Any:
    """The body as a document: JSON, or YAML when the Content-Type says so."""
    content_type = (request.content_type or "").lower()
    body = request.body
    if len(body) > TEMPLATE_MAX_BYTES:
        raise DomainError(
            detail=f"a template is at most {TEMPLATE_MAX_BYTES // 1024} KB",
            errors=[FieldError("body", "too large")],
            code=ErrorCode.TOO_LARGE,
            status=413,
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8", [FieldError("body", "not UTF-8")]) from None
    if content_type in YAML_TYPES:
        return from_yaml(text)
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json_load(text)
        except JsonBodyError as exc:
            raise DomainError(
                detail=f"malformed JSON: {exc.reason}",
                errors=[FieldError("body", "malformed JSON")],
                code=ErrorCode.BAD_REQUEST,
                status=400,
            ) from None
    raise DomainError(
        detail="send the template as application/json or application/yaml",
        errors=[FieldError("Content-Type", f"{content_type or 'none'} is not accepted")],
        code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        status=415,
    )


@router.post(
    "/templates",
    response={200: TemplateSaved, 201: TemplateSaved},
    summary="Create or replace a template from JSON or YAML (same slug: a new version)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": TEMPLATE_SCHEMA},
                "application/yaml": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "415": {
                "description": "Neither JSON nor YAML",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    },
)
def save_template(request: HttpRequest) -> Status:
    template, outcome = services.template_save(
        definition=_definition(request),
        actor=actor_of(viewer_of(request)),
        now=utcnow(),
    )
    return Status(
        201 if outcome == "created" else 200,
        {"outcome": outcome, "template": template_out(template)},
    )


# --- journeys --------------------------------------------------------------------------------


class WindowOut(Schema):
    start: datetime
    end: datetime


class StepOut(Schema):
    key: str
    title: str
    team: str | None
    state: str
    depends_on: list[str]
    customer_visible: bool
    customer_performs: bool
    customer_action: str
    instructions: str
    handoff_note: str
    note: str
    loop: int | None
    due_at: datetime | None
    opened_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    completed_by_customer: bool
    data: dict[str, Any]
    windows: list[WindowOut] = Field(description="choose_slot: the windows offered")
    chosen_window: WindowOut | None = Field(description="choose_slot: the window chosen")


class JourneyOut(Schema):
    id: int
    template: str
    template_version: int
    name: str
    case: str
    customer: int
    state: str
    started_at: datetime
    started_by: str | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_reason: str
    steps: list[StepOut]


def step_out(step: JourneyStep) -> dict[str, Any]:
    loop = step.loop
    return {
        "key": step.key,
        "title": step.title,
        "team": step.team.slug if step.team_id else None,
        "state": step.state,
        "depends_on": list(step.depends_on or []),
        "customer_visible": step.customer_visible,
        "customer_performs": step.customer_performs,
        "customer_action": step.customer_action,
        "instructions": step.instructions,
        "handoff_note": step.handoff_note,
        "note": step.note,
        "loop": step.loop_id,
        "due_at": loop.due_at if loop is not None and step.state == "open" else None,
        "opened_at": step.opened_at,
        "completed_at": step.completed_at,
        "completed_by": step.completed_by.username if step.completed_by_id else None,
        "completed_by_customer": step.completed_by_customer,
        "data": dict(step.data or {}),
        "windows": [{"start": a, "end": b} for a, b in services.step_windows(step)],
        "chosen_window": {"start": step.slot_starts_at, "end": step.slot_ends_at}
        if step.slot_starts_at is not None
        else None,
    }


def journey_out(journey: Journey) -> dict[str, Any]:
    return {
        "id": journey.pk,
        "template": journey.template.slug,
        "template_version": journey.template_version,
        "name": journey.name,
        "case": journey.case.ref,
        "customer": journey.case.customer_id,
        "state": journey.state,
        "started_at": journey.started_at,
        "started_by": journey.started_by.username if journey.started_by_id else None,
        "completed_at": journey.completed_at,
        "cancelled_at": journey.cancelled_at,
        "cancelled_reason": journey.cancelled_reason,
        "steps": [step_out(s) for s in journey.steps.all()],
    }


class StartIn(StrictSchema):
    template: str = Field(min_length=1, max_length=50, description="the template's slug")
    case: str = Field(min_length=1, max_length=30, description="the case's reference, e.g. LM-1042")
    linked: dict[str, int] = Field(
        default_factory=dict,
        description="step key → id of the task loop already doing that step on the case",
    )
    done_before: dict[str, str] = Field(
        default_factory=dict, description="step key → note on how it was done before"
    )


@router.post("/start", response={201: JourneyOut}, summary="Start a journey on a case")
def start_journey(request: HttpRequest, payload: StartIn) -> Status:
    viewer = viewer_of(request)
    case = case_get(ref=payload.case, viewer=viewer)
    template = template_get(slug=payload.template)
    linked = {}
    for key, loop_id in payload.linked.items():
        try:
            linked[key] = loop_get(loop_id=loop_id, viewer=SYSTEM)
        except DomainError:
            raise InvalidInput(
                f"no loop {loop_id}", [FieldError(f"linked.{key}", f"no loop {loop_id}")]
            ) from None
    journey = services.journey_start(
        template=template,
        case=case,
        actor=actor_of(viewer),
        linked=linked,
        done_before=payload.done_before,
        now=utcnow(),
    )
    return Status(201, journey_out(journey_get(journey_id=journey.pk, viewer=SYSTEM)))


class JourneysQuery(Schema):
    state: Literal["active", "completed", "cancelled"] | None = None
    case: str | None = Field(default=None, max_length=30)
    template: str | None = Field(default=None, max_length=50)


@router.get("", response=list[JourneyOut], summary="Journeys, newest first")
@paginate(BoundedLimitOffset)
def list_journeys(request: HttpRequest, filters: Query[JourneysQuery]) -> Any:
    viewer = viewer_of(request)
    case = case_get(ref=filters.case, viewer=viewer) if filters.case else None
    return LazyPage(
        journey_list(viewer=viewer, state=filters.state, case=case, template=filters.template),
        journey_out,
    )


@router.get("/{journey_id}", response=JourneyOut, summary="One journey with its steps")
def get_journey(request: HttpRequest, journey_id: int) -> dict[str, Any]:
    return journey_out(journey_get(journey_id=journey_id, viewer=viewer_of(request)))


class CompleteIn(StrictSchema):
    note: str = Field(default="", max_length=2000, description="the hand-off to the next team")
    data: dict[str, Any] = Field(default_factory=dict)


@router.post(
    "/{journey_id}/steps/{key}/complete",
    response=JourneyOut,
    summary="Complete an open step (its team); the steps waiting for it open",
)
def complete_step(
    request: HttpRequest, journey_id: int, key: str, payload: CompleteIn
) -> dict[str, Any]:
    viewer = viewer_of(request)
    journey = journey_get(journey_id=journey_id, viewer=viewer)
    services.step_complete(
        step=journey_step_get(journey=journey, key=key),
        actor=actor_of(viewer),
        note=payload.note,
        data=payload.data,
        now=utcnow(),
    )
    return journey_out(journey_get(journey_id=journey_id, viewer=SYSTEM))


class WindowIn(StrictSchema):
    start: UtcDatetime
    end: UtcDatetime


class WindowsIn(StrictSchema):
    windows: list[WindowIn] = Field(min_length=1, max_length=20)


@router.post(
    "/{journey_id}/steps/{key}/windows",
    response=JourneyOut,
    summary="Offer the windows the customer chooses from on a choose_slot step (its team)",
)
def offer_windows(
    request: HttpRequest, journey_id: int, key: str, payload: WindowsIn
) -> dict[str, Any]:
    viewer = viewer_of(request)
    journey = journey_get(journey_id=journey_id, viewer=viewer)
    services.step_windows_offer(
        step=journey_step_get(journey=journey, key=key),
        windows=[(w.start, w.end) for w in payload.windows],
        actor=actor_of(viewer),
        now=utcnow(),
    )
    return journey_out(journey_get(journey_id=journey_id, viewer=SYSTEM))


class CancelIn(StrictSchema):
    reason: str = Field(min_length=1, max_length=400)


@router.post(
    "/{journey_id}/cancel",
    response=JourneyOut,
    summary="Cancel a journey: its open steps' loops are cancelled with the reason",
)
def cancel_journey(request: HttpRequest, journey_id: int, payload: CancelIn) -> dict[str, Any]:
    viewer = viewer_of(request)
    journey = journey_get(journey_id=journey_id, viewer=viewer)
    services.journey_cancel(
        journey=journey, reason=payload.reason, actor=actor_of(viewer), now=utcnow()
    )
    return journey_out(journey_get(journey_id=journey_id, viewer=SYSTEM))
