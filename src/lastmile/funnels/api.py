"""The funnels API, under /api/v1/funnels: ad hoc queries, saved funnels, drop-offs.

Funnels are asked of the analytics copy (``services.analytics_engine``), which the worker
feeds from the event store; every answer says how fresh that copy is (``freshness``).
Every agent's token reads funnels and asks them; admins' and integration tokens save,
change and archive them (``funnel_services.may_write_funnels``). Bad input is a 422 whose
``errors`` name each field as the body spells it (``steps[1].within_seconds``, ``from``);
a rule across a step's fields names the step, its reason starting with the field
(``steps[1]``: "event: give exactly one of event, page or screen").

The freshness is read before the question is asked: every event up to its mark is in the
answer (later ones may be too, when a copy finished meanwhile).
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.funnels import funnel_services
from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.engines import Engine
from lastmile.funnels.funnel_selectors import (
    analytics_freshness,
    customer_names,
    funnel_definition,
    funnel_get,
    funnel_list,
    funnel_range,
)
from lastmile.funnels.funnel_services import definition_build
from lastmile.funnels.models import Funnel
from lastmile.funnels.results import DropoffCursor, FunnelResult
from lastmile.funnels.schemas import (
    DropoffsOut,
    DropoffsQuery,
    FunnelIn,
    FunnelOut,
    FunnelPatch,
    FunnelsQuery,
    QueryIn,
    QueryOut,
    SavedQueryIn,
    TrendOut,
    TrendQuery,
)
from lastmile.funnels.services import analytics_engine
from lastmile.people.selectors import team_by_slug
from lastmile.people.viewers import actor_of

router = Router(tags=["funnels"])


def funnel_out(funnel: Funnel) -> dict[str, Any]:
    d = funnel.definition
    return {
        "id": funnel.pk,
        "name": funnel.name,
        "description": funnel.description,
        "team": funnel.team.slug if funnel.team is not None else None,
        "mode": d["mode"],
        "window_seconds": d["window_seconds"],
        "steps": d["steps"],
        "exclusions": d.get("exclusions", []),
        "archived": funnel.archived,
        "created_by": funnel.created_by.username if funnel.created_by is not None else None,
        "created_at": funnel.created_at,
        "updated_at": funnel.updated_at,
    }


def steps_out(d: FunnelDefinition, result: FunnelResult) -> list[dict[str, Any]]:
    return [
        {
            "step": s.index + 1,
            "kind": d.steps[s.index].kind,
            "event": s.label,
            "count": s.count,
            "conversion_from_first": s.conversion_from_first,
            "conversion_from_previous": s.conversion_from_previous,
            "median_seconds_from_previous": s.median_seconds_from_previous,
            "p90_seconds_from_previous": s.p90_seconds_from_previous,
        }
        for s in result.steps
    ]


def freshness_out(engine: Engine) -> dict[str, Any]:
    fresh = analytics_freshness(engine=engine)
    return {"mark": fresh.mark, "copied_at": fresh.copied_at}


def query_out(d: FunnelDefinition, *, funnel: Funnel | None) -> dict[str, Any]:
    engine = analytics_engine()
    freshness = freshness_out(engine)
    result = engine.funnel(d)
    breakdown = None
    if result.breakdown is not None:
        breakdown = [
            {
                "value": b.value,
                "other": b.other,
                "people": b.people,
                "steps": steps_out(d, FunnelResult(steps=b.steps)),
            }
            for b in result.breakdown
        ]
    return {
        "funnel": funnel.pk if funnel is not None else None,
        "from": d.from_,
        "to": d.to,
        "mode": d.mode,
        "window_seconds": d.window_seconds,
        "people": result.people,
        "steps": steps_out(d, result),
        "breakdown": breakdown,
        "freshness": freshness,
    }


@router.post(
    "/query",
    response=QueryOut,
    by_alias=True,
    summary="Ask a funnel once: counts, conversions and times per step (not saved)",
)
def query(request: HttpRequest, payload: QueryIn) -> dict[str, Any]:
    viewer_of(request)
    start, end = funnel_range(from_=payload.from_, to=payload.to, now=utcnow())
    d = definition_build(
        definition={**payload.definition(), "breakdown": payload.breakdown}, from_=start, to=end
    )
    return query_out(d, funnel=None)


# --- saved funnels --------------------------------------------------------------------------


@router.get("", response=list[FunnelOut], summary="Saved funnels, by name")
@paginate(BoundedLimitOffset)
def list_funnels(request: HttpRequest, filters: Query[FunnelsQuery]) -> Any:
    qs = funnel_list(viewer=viewer_of(request), archived=filters.archived, search=filters.search)
    return LazyPage(qs, funnel_out)


@router.post(
    "", response={201: FunnelOut}, summary="Save a funnel (admins' and integration tokens)"
)
def create_funnel(request: HttpRequest, payload: FunnelIn) -> Status:
    funnel = funnel_services.funnel_create(
        name=payload.name,
        description=payload.description,
        definition=payload.definition(),
        team=team_by_slug(payload.team),
        actor=actor_of(viewer_of(request)),
        now=utcnow(),
    )
    return Status(201, funnel_out(funnel))


@router.get("/{funnel_id}", response=FunnelOut, summary="One saved funnel")
def get_funnel(request: HttpRequest, funnel_id: int) -> dict[str, Any]:
    return funnel_out(funnel_get(funnel_id=funnel_id, viewer=viewer_of(request)))


@router.put(
    "/{funnel_id}",
    response=FunnelOut,
    summary="Replace a saved funnel's name, description, team and definition",
)
def replace_funnel(request: HttpRequest, funnel_id: int, payload: FunnelIn) -> dict[str, Any]:
    viewer = viewer_of(request)
    funnel = funnel_services.funnel_update(
        funnel=funnel_get(funnel_id=funnel_id, viewer=viewer),
        name=payload.name,
        description=payload.description,
        definition=payload.definition(),
        team=team_by_slug(payload.team),
        actor=actor_of(viewer),
        now=utcnow(),
    )
    return funnel_out(funnel)


@router.patch(
    "/{funnel_id}",
    response=FunnelOut,
    summary="Change some of a saved funnel's fields (archived: false brings it back)",
)
def change_funnel(request: HttpRequest, funnel_id: int, payload: FunnelPatch) -> dict[str, Any]:
    viewer = viewer_of(request)
    actor = actor_of(viewer)
    now = utcnow()
    funnel = funnel_get(funnel_id=funnel_id, viewer=viewer)
    given = payload.model_fields_set
    definition = dict(funnel.definition)
    for key in ("mode", "window_seconds", "steps", "exclusions"):
        if key in given:
            definition[key] = getattr(payload, key)
    funnel = funnel_services.funnel_update(
        funnel=funnel,
        name=payload.name if payload.name is not None else funnel.name,
        description=payload.description if payload.description is not None else funnel.description,
        definition=definition,
        team=team_by_slug(payload.team) if "team" in given else funnel.team,
        actor=actor,
        now=now,
    )
    if payload.archived is not None:
        funnel = funnel_services.funnel_archive(
            funnel=funnel, archived=payload.archived, actor=actor, now=now
        )
    return funnel_out(funnel)


@router.delete(
    "/{funnel_id}",
    response=FunnelOut,
    summary="Archive a saved funnel (kept for the rules and links that name it)",
)
def archive_funnel(request: HttpRequest, funnel_id: int) -> dict[str, Any]:
    viewer = viewer_of(request)
    funnel = funnel_services.funnel_archive(
        funnel=funnel_get(funnel_id=funnel_id, viewer=viewer),
        actor=actor_of(viewer),
        now=utcnow(),
    )
    return funnel_out(funnel)


@router.post(
    "/{funnel_id}/query",
    response=QueryOut,
    by_alias=True,
    summary="Ask a saved funnel over a range (default: the last 30 days)",
)
def query_saved(request: HttpRequest, funnel_id: int, payload: SavedQueryIn) -> dict[str, Any]:
    funnel = funnel_get(funnel_id=funnel_id, viewer=viewer_of(request))
    d = funnel_definition(
        funnel=funnel,
        from_=payload.from_,
        to=payload.to,
        breakdown=payload.breakdown,
        now=utcnow(),
    )
    return query_out(d, funnel=funnel)


@router.get(
    "/{funnel_id}/trend",
    response=TrendOut,
    summary="Conversion by the UTC day or ISO week people entered (default: the last 30 days)",
)
def trend(request: HttpRequest, funnel_id: int, filters: Query[TrendQuery]) -> dict[str, Any]:
    funnel = funnel_get(funnel_id=funnel_id, viewer=viewer_of(request))
    d = funnel_definition(funnel=funnel, from_=filters.from_, to=filters.to, now=utcnow())
    engine = analytics_engine()
    freshness = freshness_out(engine)
    points = engine.trend(d, interval=filters.interval)
    return {
        "funnel": funnel.pk,
        "interval": filters.interval,
        "points": [
            {"start": p.start, "entered": p.entered, "converted": p.converted, "conversion": p.rate}
            for p in points
        ],
        "freshness": freshness,
    }


@router.get(
    "/{funnel_id}/dropoffs",
    response=DropoffsOut,
    summary="The people who dropped off before step k, newest first (by their last event), paged",
)
def dropoffs(request: HttpRequest, funnel_id: int, filters: Query[DropoffsQuery]) -> dict[str, Any]:
    viewer = viewer_of(request)
    now = utcnow()
    funnel = funnel_get(funnel_id=funnel_id, viewer=viewer)
    d = funnel_definition(funnel=funnel, from_=filters.from_, to=filters.to, now=now)
    if filters.step > len(d.steps):
        raise InvalidInput(
            f"step: this funnel has {len(d.steps)} steps",
            [FieldError("step", f"2 to {len(d.steps)} (the funnel's steps)")],
        )
    cursor = None
    if filters.after is not None:
        cursor = DropoffCursor.parse(filters.after)
        if cursor is None:
            raise InvalidInput(
                "after: not a page's next_after", [FieldError("after", "not a page's next_after")]
            )
    engine = analytics_engine()
    freshness = freshness_out(engine)
    page = engine.dropoffs(
        d,
        step=filters.step - 1,
        limit=filters.limit,
        now=now,
        newest_first=True,
        cursor=cursor,
    )
    names = customer_names(ids=page.people, viewer=viewer)
    return {
        "funnel": funnel.pk,
        "step": filters.step,
        "items": [
            {
                "id": p.customer_id,
                "display_name": names.get(p.customer_id),
                "last_event": p.last_event,
                "last_event_at": p.last_event_at,
                "window_open": p.window_open,
            }
            for p in page.details
        ],
        "next_after": page.next_cursor.text() if page.next_cursor is not None else None,
        "freshness": freshness,
    }
