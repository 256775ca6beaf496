"""API for alerts: list and read them, their chart series, acknowledge and resolve."""

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset
from lastmile.core.clock import utcnow
from lastmile.crisis import selectors
from lastmile.crisis.models import Alert
from lastmile.crisis.services import alerts
from lastmile.people.viewers import actor_of

router = Router(tags=["alerts"])


class AuthorOut(Schema):
    id: int
    handle: str
    network: str
    mentions: int
    influence: float


class AlertOut(Schema):
    id: int
    term: str
    term_kind: str
    team: str | None
    signal: str
    bucket_start: datetime
    bucket_end: datetime
    observed: float
    baseline: float | None
    score: float
    sensitivity: float
    threshold: float
    state: str
    raised_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    ack_loop: int | None
    ack_due_at: datetime | None
    top_mentions: list[int]
    top_authors: list[AuthorOut]
    details: dict[str, Any]

    @staticmethod
    def resolve_term(alert: Alert) -> str:
        return alert.term.name

    @staticmethod
    def resolve_term_kind(alert: Alert) -> str:
        return alert.term.kind

    @staticmethod
    def resolve_team(alert: Alert) -> str | None:
        return alert.team.slug if alert.team is not None else None

    @staticmethod
    def resolve_ack_loop(alert: Alert) -> int | None:
        return alert.ack_loop_id

    @staticmethod
    def resolve_ack_due_at(alert: Alert) -> datetime | None:
        return alert.ack_loop.due_at if alert.ack_loop is not None else None

    @staticmethod
    def resolve_top_mentions(alert: Alert) -> list[int]:
        return [int(i) for i in alert.top_mentions]

    @staticmethod
    def resolve_top_authors(alert: Alert) -> list[dict[str, Any]]:
        keys = ("id", "handle", "network", "mentions", "influence")
        return [{k: a.get(k) for k in keys} for a in alert.top_authors]


class AlertFilters(Schema):
    state: Literal["active", "open", "acknowledged", "resolved"] | None = None


@router.get("", response=list[AlertOut], summary="Alerts of my teams, newest first")
@paginate(BoundedLimitOffset)
def list_alerts(request: HttpRequest, filters: Query[AlertFilters]) -> QuerySet[Alert]:
    viewer = viewer_of(request)
    return selectors.alert_list(viewer=viewer, state=filters.state or "")


@router.get("/{alert_id}", response=AlertOut, summary="One alert: what fired and why")
def get_alert(request: HttpRequest, alert_id: int) -> Alert:
    viewer = viewer_of(request)
    return selectors.alert_get(alert_id=alert_id, viewer=viewer)


class SeriesOut(Schema):
    starts: list[str]
    volume: list[int]
    negative: list[int]
    alert_index: int | None


@router.get(
    "/{alert_id}/series",
    response=SeriesOut,
    summary="Mentions and negative mentions per 5-minute bucket around the alert",
)
def get_series(request: HttpRequest, alert_id: int) -> dict[str, Any]:
    viewer = viewer_of(request)
    alert = selectors.alert_get(alert_id=alert_id, viewer=viewer)
    data = selectors.alert_series(alert=alert, now=utcnow()).as_json()
    return {k: data[k] for k in ("starts", "volume", "negative", "alert_index")}


@router.post(
    "/{alert_id}/acknowledge",
    response=AlertOut,
    summary="Acknowledge an open alert (closes its acknowledgement loop)",
)
def acknowledge(request: HttpRequest, alert_id: int) -> Alert:
    viewer = viewer_of(request)
    alert = selectors.alert_get(alert_id=alert_id, viewer=viewer)
    alerts.alert_acknowledge(alert=alert, actor=actor_of(viewer), now=utcnow())
    return selectors.alert_get(alert_id=alert_id, viewer=viewer)


@router.post("/{alert_id}/resolve", response=AlertOut, summary="Resolve an alert")
def resolve(request: HttpRequest, alert_id: int) -> Alert:
    viewer = viewer_of(request)
    alert = selectors.alert_get(alert_id=alert_id, viewer=viewer)
    alerts.alert_resolve(alert=alert, actor=actor_of(viewer), now=utcnow())
    return selectors.alert_get(alert_id=alert_id, viewer=viewer)
