"""API for mentions, mounted at /api/v1/mentions: a batch ingest and a filtered list."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput, PermissionDenied
from lastmile.listening.models import Mention
from lastmile.listening.records import MentionIn, RowError, mention_in
from lastmile.listening.selectors import MentionFilters, mention_list
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.people.viewers import SYSTEM

router = Router(tags=["mentions"])

MAX_BATCH = 1000


class AuthorIn(StrictSchema):
    handle: str = Field(min_length=1, max_length=101)
    id: str | None = Field(default=None, max_length=100)
    name: str = Field(default="", max_length=200)
    followers: int | None = Field(default=None, ge=0, le=2**31 - 1)
    verified: bool | None = None


class MentionSchema(StrictSchema):
    network: str = Field(default="twitter", min_length=1, max_length=30)
    external_id: str = Field(min_length=1, max_length=100)
    author: AuthorIn
    text: str = Field(min_length=1, max_length=10_000)
    posted_at: UtcDatetime
    url: str = Field(default="", max_length=500)
    conversation_id: str | None = Field(default=None, max_length=100)
    in_reply_to_id: str | None = Field(default=None, max_length=100)
    in_reply_to_handle: str | None = Field(default=None, max_length=101)
    lang: str = Field(default="", max_length=16)
    likes: int = Field(default=0, ge=0, le=2**31 - 1)
    reposts: int = Field(default=0, ge=0, le=2**31 - 1)
    replies: int = Field(default=0, ge=0, le=2**31 - 1)
    impressions: int | None = Field(default=None, ge=0, le=2**62)
    from_brand: bool | None = Field(
        default=None, description="The brand's own post; omitted: decided by the watch terms."
    )
    to_brand: bool | None = Field(
        default=None, description="Addressed to a brand; omitted: decided by the watch terms."
    )

    def to_service(self) -> MentionIn:
        return mention_in(
            network=self.network,
            external_id=self.external_id,
            author_handle=self.author.handle,
            author_id=self.author.id or "",
            author_name=self.author.name,
            author_followers=self.author.followers,
            author_verified=self.author.verified,
            text=self.text,
            posted_at=self.posted_at,
            url=self.url,
            conversation_id=self.conversation_id or "",
            in_reply_to_id=self.in_reply_to_id or "",
            in_reply_to_handle=self.in_reply_to_handle or "",
            lang=self.lang,
            likes=self.likes,
            reposts=self.reposts,
            replies=self.replies,
            impressions=self.impressions,
            from_brand=self.from_brand,
            to_brand=self.to_brand,
        )


class BatchIn(StrictSchema):
    items: list[MentionSchema] = Field(min_length=1, max_length=MAX_BATCH)


class BatchOut(Schema):
    ids: list[int]
    created: int
    existing: int


def _service_items(items: list[MentionSchema]) -> list[MentionIn]:
    """Every item checked before anything is written: all errors at once, each with its index."""
    out: list[MentionIn] = []
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        try:
            out.append(item.to_service())
        except RowError as exc:
            errors.append(FieldError(exc.field, exc.reason, i))
    if errors:
        first = errors[0]
        raise InvalidInput(f"item {first.index}: {first.field}: {first.reason}", errors)
    return out


@router.post(
    "/batch",
    response=BatchOut,
    summary="Store up to 1,000 mentions atomically (idempotent on network + external_id)",
)
def post_batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    if viewer_of(request) is not SYSTEM:
        # Ingest finds and creates customers by handle, so it is for integrations.
        raise PermissionDenied(
            "mention ingest needs an integration token; this token acts as an agent"
        )
    result = mentions_ingest(items=_service_items(payload.items), now=utcnow())
    return {"ids": result.ids, "created": result.created, "existing": result.existing}


class MentionOut(Schema):
    id: int
    network: str
    external_id: str
    author: str
    author_influence: float
    text: str
    posted_at: datetime
    url: str
    conversation_id: str
    in_reply_to_id: str
    lang: str
    terms: list[str]
    is_brand: bool
    is_competitor: bool
    is_from_brand: bool
    sentiment: str
    sentiment_score: float
    pending: bool
    likes: int
    reposts: int
    replies: int
    case: str | None
    replied_at: datetime | None
    handled_at: datetime | None


def mention_out(m: Mention) -> dict[str, Any]:
    return {
        "id": m.pk,
        "network": m.network,
        "external_id": m.external_id,
        "author": m.author.handle,
        "author_influence": m.author.influence,
        "text": m.text,
        "posted_at": m.posted_at,
        "url": m.url,
        "conversation_id": m.conversation_id,
        "in_reply_to_id": m.in_reply_to_id,
        "lang": m.lang,
        "terms": [t.name for t in m.terms.all()],
        "is_brand": m.is_brand,
        "is_competitor": m.is_competitor,
        "is_from_brand": m.is_from_brand,
        "sentiment": m.sentiment_label,
        "sentiment_score": m.sentiment_score,
        # Imported from a file and not processed by the worker yet: no sentiment ("") and,
        # if addressed to a brand, not on a case yet.
        "pending": m.pending,
        "likes": m.likes,
        "reposts": m.reposts,
        "replies": m.replies,
        "case": m.case.ref if m.case is not None else None,
        "replied_at": m.replied_at,
        "handled_at": m.handled_at,
    }


class MentionsQuery(Schema):
    term: int | None = Field(default=None, ge=1, le=2**62)
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    scope: Literal["brand", "competitor", "from_brand"] | None = None
    network: str | None = Field(default=None, max_length=30)
    unanswered: bool = False
    author: int | None = Field(default=None, ge=1, le=2**62)


@router.get("", response=list[MentionOut], summary="Mentions, newest first, filtered")
@paginate(BoundedLimitOffset)
def list_mentions(request: HttpRequest, filters: Query[MentionsQuery]) -> Any:
    qs = mention_list(
        filters=MentionFilters(
            term=filters.term,
            sentiment=filters.sentiment or "",
            scope=filters.scope or "",
            network=filters.network or "",
            unanswered=filters.unanswered,
            author=filters.author,
        )
    )
    return _Rows(qs)


class _Rows:
    """The page ninja slices, serialised row by row."""

    def __init__(self, qs: Any) -> None:
        self.qs = qs

    def __len__(self) -> int:
        return self.qs.count()  # type: ignore[no-any-return]

    def count(self) -> int:
        return self.qs.count()  # type: ignore[no-any-return]

    def __getitem__(self, key: slice) -> list[dict[str, Any]]:
        return [mention_out(m) for m in self.qs[key]]
