"""API of the webhooks app (mounted at /api/v1/webhooks).

- ``GET /deliveries``, ``GET /deliveries/{id}``, ``POST /deliveries/{id}/redeliver``: the
  event delivery log (admin-level tokens: an integration token, or an admin agent's);
- ``GET /subscriptions``, ``POST /subscriptions`` (the secret is in the answer, once);
- ``POST /messages``: reply on a case's messaging conversation (any token that sees the case).
"""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset
from lastmile.api.types import StrictSchema
from lastmile.cases.selectors import case_get
from lastmile.core.clock import utcnow
from lastmile.core.errors import NotFound, PermissionDenied
from lastmile.people.selectors import team_by_slug
from lastmile.people.viewers import actor_of
from lastmile.webhooks.models import Delivery, Subscription
from lastmile.webhooks.schemas import MediaSchema
from lastmile.webhooks.selectors import delivery_list
from lastmile.webhooks.services import integrations, subscriptions

router = Router(tags=["webhooks"])


def _admin_only(request: HttpRequest) -> None:
    """Deliveries and subscriptions concern every team: only a token that sees every team."""
    token = request.auth  # type: ignore[attr-defined]
    agent = getattr(token, "agent", None)
    if agent is not None and not agent.is_admin:
        raise PermissionDenied("only an admin's token or an integration token may do this")


def sees_responses(request: HttpRequest | None) -> bool:
    """Whether the caller may read what receivers answered: an integration token or an
    admin's. A receiver's answer may hold what only its operators should read (an internal
    service's page, had a target slipped through), so nobody else gets it, whichever
    endpoint a delivery shows up in."""
    token = getattr(request, "auth", None)
    if token is None:
        return False
    agent = getattr(token, "agent", None)
    return agent is None or bool(agent.is_admin)


def _excerpt(obj: Any, context: Any) -> str:
    request = (context or {}).get("request")
    return obj.response_excerpt if sees_responses(request) else ""


def _error(text: str, code: int | None, context: Any) -> str:
    """The error as stored ("HTTP 500: <the receiver's answer>"), or only its status line."""
    request = (context or {}).get("request")
    if sees_responses(request) or code is None:
        return text
    return f"HTTP {code}" if text else ""


class AttemptOut(Schema):
    number: int
    at: datetime
    response_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int

    @staticmethod
    def resolve_response_excerpt(obj: Any, context: Any) -> str:
        return _excerpt(obj, context)

    @staticmethod
    def resolve_error(obj: Any, context: Any) -> str:
        return _error(obj.error, obj.response_code, context)


class DeliveryOut(Schema):
    id: int
    uuid: UUID
    subscription: str
    event: str
    event_id: UUID
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    response_code: int | None
    response_excerpt: str
    last_error: str
    redelivered_at: datetime | None
    redelivered_by: str

    @staticmethod
    def resolve_subscription(obj: Delivery) -> str:
        return obj.subscription.name

    @staticmethod
    def resolve_response_excerpt(obj: Delivery, context: Any) -> str:
        return _excerpt(obj, context)

    @staticmethod
    def resolve_last_error(obj: Delivery, context: Any) -> str:
        return _error(obj.last_error, obj.response_code, context)


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, Any]
    log: list[AttemptOut]

    @staticmethod
    def resolve_log(obj: Delivery) -> list[Any]:
        return list(obj.log.all())


class DeliveryFilters(Schema):
    status: Literal["pending", "delivered", "failed"] | None = None
    event: str | None = Field(default=None, max_length=60)
    subscription: str | None = Field(default=None, max_length=100)


@router.get(
    "/deliveries",
    response=list[DeliveryOut],
    summary="The event delivery log, newest first",
)
@paginate(BoundedLimitOffset)
def list_deliveries(request: HttpRequest, filters: Query[DeliveryFilters]) -> Any:
    _admin_only(request)
    return delivery_list(
        status=filters.status, event=filters.event, subscription=filters.subscription
    )


def _delivery(delivery_id: int) -> Delivery:
    d = Delivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if d is None:
        raise NotFound(f"delivery {delivery_id}")
    return d


@router.get("/deliveries/{delivery_id}", response=DeliveryDetailOut, summary="One delivery")
def get_delivery(request: HttpRequest, delivery_id: int) -> Any:
    _admin_only(request)
    return _delivery(delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response=DeliveryOut,
    summary="Send a delivery again now (same delivery id, fresh retry schedule)",
)
def redeliver(request: HttpRequest, delivery_id: int) -> Any:
    _admin_only(request)
    token = request.auth  # type: ignore[attr-defined]
    subscriptions.delivery_redeliver(
        delivery=_delivery(delivery_id), now=utcnow(), actor=f"token:{token.name}"
    )
    return _delivery(delivery_id)


class SubscriptionIn(StrictSchema):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=500)
    events: list[str] = Field(min_length=1, max_length=50)
    team: str | None = Field(default=None, max_length=50)
    active: bool = True


class SubscriptionOut(Schema):
    id: int
    name: str
    url: str
    events: list[str]
    team: str | None
    active: bool
    secret_prefix: str
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown this once; sign checks use it.")


def subscription_out(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.pk,
        "name": s.name,
        "url": s.url,
        "events": s.events,
        "team": s.team.slug if s.team_id else None,
        "active": s.active,
        "secret_prefix": s.secret_prefix,
        "created_at": s.created_at,
    }


@router.get("/subscriptions", response=list[SubscriptionOut], summary="Event subscriptions")
def list_subscriptions(request: HttpRequest) -> Any:
    _admin_only(request)
    return [subscription_out(s) for s in Subscription.objects.select_related("team")]


@router.post(
    "/subscriptions",
    response={201: SubscriptionCreated},
    summary="Subscribe a URL to events; the signing secret is in this answer only",
)
def create_subscription(request: HttpRequest, payload: SubscriptionIn) -> Status:
    _admin_only(request)
    team = team_by_slug(payload.team)
    row, secret = subscriptions.subscription_create(
        name=payload.name,
        url=payload.url,
        events=payload.events,
        team=team,
        active=payload.active,
        now=utcnow(),
    )
    return Status(201, {**subscription_out(row), "secret": secret})


class MessageOut(Schema):
    interaction: int
    case: str
    integration: str
    channel: str
    to: str


class MediaIn(MediaSchema):
    """An attachment in our own API: as strict as every other body (the inbound form,
    written by a partner, ignores fields it does not know)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class SendIn(StrictSchema):
    case: str = Field(min_length=1, max_length=30)
    text: str = Field(default="", max_length=integrations.MAX_TEXT)
    media: list[MediaIn] = Field(default_factory=list, max_length=integrations.MAX_MEDIA)
    channel: Literal["sms", "whatsapp", "chat"] | None = None


@router.post(
    "/messages",
    response={201: MessageOut},
    summary="Reply on a case's messaging conversation (sent by the outbox, signed, retried)",
)
def send_message(request: HttpRequest, payload: SendIn) -> Status:
    viewer = viewer_of(request)
    case = case_get(ref=payload.case, viewer=viewer)
    interaction = integrations.message_send(
        case=case,
        text=payload.text,
        media=[integrations.Media(m.url, m.content_type) for m in payload.media],
        channel=payload.channel,
        actor=actor_of(viewer),
        now=utcnow(),
    )
    data = interaction.data or {}
    return Status(
        201,
        {
            "interaction": interaction.pk,
            "case": case.ref,
            "integration": data.get("integration", ""),
            "channel": interaction.channel,
            "to": data.get("to", ""),
        },
    )
