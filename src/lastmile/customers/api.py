"""API for customers, identity resolution, the timeline and interaction ingest."""

import re
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, field_validator, model_validator

from lastmile.api.auth import viewer_of
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.core.clock import utcnow
from lastmile.core.errors import PermissionDenied
from lastmile.customers.identities import IdentityError, IdentityKey, identity_normalize
from lastmile.customers.merge_selectors import (
    merge_get,
    merge_list,
    merge_pair,
    merge_undo_allowed,
    merge_undo_check,
)
from lastmile.customers.models import Channel, Customer, CustomerMerge, Interaction
from lastmile.customers.selectors import Page, customer_get, interactions_list, timeline
from lastmile.customers.services.customers import (
    customer_merge,
    customer_resolve,
    customer_unmerge,
)
from lastmile.customers.services.ingest import InteractionIn, interactions_ingest
from lastmile.people.viewers import SYSTEM, Viewer, actor_of

router = Router(tags=["customers"])
interactions_router = Router(tags=["interactions"])

CHANNEL_RE = re.compile(
    r"^(?:" + "|".join(c for c in Channel.values if c != "social") + r"|social:[a-z0-9_.-]{1,30})$"
)


class Input(StrictSchema):
    """Request bodies are plain pydantic models: ``ninja.Schema`` wraps every nested model in
    a validator that reads attributes through Django-aware getters (for ORM objects going
    out), which on a batch of 1,000 interactions was half of the validation time."""


class IdentitySchema(Input):
    kind: Literal["email", "phone", "social", "external", "anonymous"]
    value: str = Field(min_length=1, max_length=320)
    network: str | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _normalise(self) -> "IdentitySchema":
        try:
            key = identity_normalize(self.kind, self.value, self.network or "")
        except IdentityError as exc:
            raise ValueError(f"{exc.field}: {exc.reason}") from None
        self.value, self.network = key.value, key.network or None
        return self

    def key(self) -> IdentityKey:
        return IdentityKey(self.kind, self.network or "", self.value)


class CustomerRef(Input):
    """Either ``{"id": …}`` or ``{"identities": [...]}``."""

    id: int | None = Field(default=None, ge=1, le=2**62)
    identities: list[IdentitySchema] | None = Field(default=None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _one_of(self) -> "CustomerRef":
        if (self.id is None) == (self.identities is None):
            raise ValueError("give either id or identities")
        return self


class ResolveIn(Input):
    identities: list[IdentitySchema] = Field(min_length=1, max_length=20)
    display_name: str = Field(default="", max_length=200)


class CustomerOut(Schema):
    id: int
    display_name: str
    identities: list[dict[str, str]]
    merged_from: list[int] = []


def customer_out(customer: Customer, merged_from: list[int] | None = None) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "display_name": customer.display_name,
        "identities": [
            IdentityKey(i.kind, i.network, i.value).as_dict()
            for i in customer.identities.order_by("pk")
        ],
        "merged_from": merged_from or [],
    }


def resolve_ref(ref: CustomerRef, *, viewer: Viewer, now: datetime) -> Customer:
    if ref.id is not None:
        return customer_get(customer_id=ref.id, viewer=viewer)
    assert ref.identities is not None
    _integration_only(viewer, "finding customers by identity")
    return customer_resolve(identities=[i.key() for i in ref.identities], now=now).customer


@router.post(
    "/resolve",
    response={200: CustomerOut},
    summary="Find, create or merge the customer for these identities",
)
def resolve(request: HttpRequest, payload: ResolveIn) -> dict[str, Any]:
    _integration_only(viewer_of(request), "resolving identities")
    resolved = customer_resolve(
        identities=[i.key() for i in payload.identities],
        display_name=payload.display_name,
        now=utcnow(),
    )
    return customer_out(resolved.customer, resolved.merged_from)


@router.get("/{customer_id}", response=CustomerOut, summary="One customer")
def get_customer(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    return customer_out(customer_get(customer_id=customer_id, viewer=viewer_of(request)))


SentimentLabel = Literal["negative", "neutral", "positive"]


class SentimentOut(Schema):
    label: SentimentLabel
    score: float = Field(description="p(positive) - p(negative), in [-1, 1]")


class InteractionOut(Schema):
    id: int
    customer: int
    channel: str
    direction: str
    occurred_at: datetime
    body: str
    case: str | None
    source_id: str | None
    actor: str | None
    data: Any = None
    sentiment: SentimentOut | None = Field(
        default=None,
        description="inbound messages in the customer's words, once scored (one sent in a "
        "batch is scored by the worker, within seconds); null otherwise",
    )
    withheld: str | None = Field(
        default=None,
        description="set on an internal note on a case the caller cannot open: what it is "
        "(body and data empty, actor and source_id null); null otherwise",
    )


def interaction_out(row: Interaction, withheld: str | None = None) -> dict[str, Any]:
    return {
        "id": row.pk,
        "customer": row.customer_id,
        "channel": row.channel,
        "direction": row.direction,
        "occurred_at": row.occurred_at,
        "body": row.body,
        "case": row.case.ref if row.case_id else None,
        "source_id": row.source_id,
        "actor": row.actor.username if row.actor_id else None,
        "data": row.data,
        "sentiment": (
            {"label": row.sentiment_label, "score": row.sentiment_score}
            if row.sentiment_label is not None
            else None
        ),
        "withheld": withheld,
    }


def page_out(page: Page) -> dict[str, Any]:
    return {
        "items": [interaction_out(r, page.withheld.get(r.pk)) for r in page.items],
        "next": page.next,
    }


class TimelineOut(Schema):
    items: list[InteractionOut]
    next: str | None


class TimelineQuery(Schema):
    before: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)
    sentiment: SentimentLabel | None = None


@router.get(
    "/{customer_id}/timeline", response=TimelineOut, summary="The customer's timeline, newest first"
)
def get_timeline(request: HttpRequest, customer_id: int, q: Query[TimelineQuery]) -> dict[str, Any]:
    customer = customer_get(customer_id=customer_id, viewer=viewer_of(request))
    page = timeline(
        customer=customer,
        viewer=viewer_of(request),
        before=q.before,
        limit=q.limit,
        sentiment=q.sentiment,
    )
    return page_out(page)


class InteractionsQuery(TimelineQuery):
    customer: int | None = Field(default=None, ge=1, le=2**62)
    channel: str | None = Field(default=None, max_length=40)
    direction: Literal["inbound", "outbound", "note"] | None = None


@interactions_router.get(
    "",
    response=TimelineOut,
    summary="Interactions across customers, newest first (by sentiment, or one customer's)",
)
def list_interactions(request: HttpRequest, q: Query[InteractionsQuery]) -> dict[str, Any]:
    viewer = viewer_of(request)
    customer = customer_get(customer_id=q.customer, viewer=viewer) if q.customer else None
    page = interactions_list(
        viewer=viewer,
        sentiment=q.sentiment,
        customer=customer,
        channel=q.channel,
        direction=q.direction,
        before=q.before,
        limit=q.limit,
    )
    return page_out(page)


class InteractionSchema(Input):
    source_id: str | None = Field(default=None, min_length=1, max_length=200)
    channel: str = Field(max_length=40)
    direction: Literal["inbound", "outbound", "note"]
    occurred_at: UtcDatetime
    customer: CustomerRef
    body: str = Field(default="", max_length=100_000)
    case: str | None = Field(default=None, max_length=30)
    data: dict[str, Any] | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if not CHANNEL_RE.match(v):
            raise ValueError(
                "one of "
                + ", ".join(c for c in Channel.values if c != "social")
                + " or social:<network>"
            )
        return v

    def to_service(self) -> InteractionIn:
        return InteractionIn(
            channel=self.channel,
            direction=self.direction,
            occurred_at=self.occurred_at,
            body=self.body,
            source_id=self.source_id,
            customer_id=self.customer.id,
            identities=[i.key() for i in self.customer.identities or []],
            case_ref=self.case,
            data=self.data,
        )


class BatchIn(Input):
    items: list[InteractionSchema] = Field(min_length=1, max_length=1000)


class IdsOut(Schema):
    ids: list[int]


def _integration_only(viewer: Viewer, what: str) -> None:
    """Resolution can find (and merge) any customer, so it is for integration tokens only
    (``SYSTEM``); a token acting as an agent refers to customers it can see by id."""
    if viewer is not SYSTEM:
        raise PermissionDenied(f"{what} needs an integration token; this token acts as an agent")


def _ingest(request: HttpRequest, items: list[InteractionSchema]) -> dict[str, Any]:
    _integration_only(viewer_of(request), "ingest")
    return {"ids": interactions_ingest(items=[i.to_service() for i in items], now=utcnow())}


@interactions_router.post(
    "", response=IdsOut, summary="Record one interaction (idempotent on channel + source_id)"
)
def post_interaction(request: HttpRequest, payload: InteractionSchema) -> dict[str, Any]:
    return _ingest(request, [payload])


@interactions_router.post(
    "/batch", response=IdsOut, summary="Record up to 1,000 interactions atomically"
)
def post_batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    return _ingest(request, payload.items)


class MergeIn(Input):
    into: int = Field(ge=1, le=2**62, description="the customer to keep")
    reason: str = Field(default="", max_length=200)


class MergeOut(Schema):
    id: int
    merged: int = Field(description="the customer merged away (now part of ``survivor``)")
    survivor: int
    reason: str
    actor: str | None
    merged_at: datetime
    undone_at: datetime | None
    moved: dict[str, int] = Field(description="rows moved to the survivor, by model.field")
    may_undo: bool


def merge_out(merge: CustomerMerge, viewer: Viewer) -> dict[str, Any]:
    return {
        "id": merge.pk,
        "merged": merge.merged_id,
        "survivor": merge.survivor_id,
        "reason": merge.reason,
        "actor": merge.actor.username if merge.actor is not None else None,
        "merged_at": merge.merged_at,
        "undone_at": merge.undone_at,
        "moved": {k: len(v) for k, v in (merge.moved or {}).items()},
        "may_undo": merge.undone_at is None and merge_undo_allowed(merge=merge, viewer=viewer),
    }


@router.post(
    "/{customer_id}/merge",
    response={201: MergeOut},
    summary="Merge this customer into another (undo with /customers/merges/{id}/undo)",
)
def merge_customer(request: HttpRequest, customer_id: int, payload: MergeIn) -> Status:
    viewer = viewer_of(request)
    merged, survivor = merge_pair(customer_id=customer_id, into_id=payload.into, viewer=viewer)
    merge = customer_merge(
        survivor=survivor,
        merged=merged,
        actor=actor_of(viewer),
        now=utcnow(),
        reason=payload.reason,
    )
    return Status(201, merge_out(merge, viewer))


@router.get(
    "/{customer_id}/merges",
    response=list[MergeOut],
    summary="Merges into and out of this customer, newest first",
)
def list_merges(request: HttpRequest, customer_id: int) -> list[dict[str, Any]]:
    viewer = viewer_of(request)
    customer = customer_get(customer_id=customer_id, viewer=viewer)
    return [merge_out(m, viewer) for m in merge_list(customer=customer, viewer=viewer)]


@router.post(
    "/merges/{merge_id}/undo",
    response=MergeOut,
    summary="Undo a merge: what it moved goes back to the merged customer",
)
def undo_merge(request: HttpRequest, merge_id: int) -> dict[str, Any]:
    viewer = viewer_of(request)
    merge = merge_get(merge_id=merge_id, viewer=viewer)
    merge_undo_check(merge=merge, viewer=viewer)
    customer_unmerge(merge=merge, actor=actor_of(viewer), now=utcnow())
    merge.refresh_from_db()
    return merge_out(merge, viewer)
