"""``GET /api/v1/search``: the search box for API clients, scoped to the token's agent."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.search.selectors import MAX_QUERY_LENGTH, InteractionHit, search

router = Router(tags=["search"])


class SearchQuery(Schema):
    q: str = Field(default="", max_length=MAX_QUERY_LENGTH)
    # Checked by the selector (one list of kinds, one range), which names the field.
    kind: str | None = Field(default=None, max_length=20)
    limit: int = 20


class CaseHitOut(Schema):
    ref: str
    subject: str
    status: str
    priority: str
    team: str | None
    customer_id: int
    updated_at: datetime


class CustomerHitOut(Schema):
    id: int
    display_name: str
    created_at: datetime


class InteractionHitOut(Schema):
    id: int
    customer_id: int
    case: str | None
    channel: str
    direction: str
    occurred_at: datetime
    snippet: str


class PromiseHitOut(Schema):
    id: int
    text: str
    state: str
    customer_id: int
    case: str | None
    made_at: datetime
    due_at: datetime


class ArticleHitOut(Schema):
    slug: str
    title: str
    updated_at: datetime


class SearchOut(Schema):
    q: str
    too_short: bool
    # More results may exist: more messages matched than a team-scoped search looks at (the
    # newest ``SCAN_CAP``, 2,000), and the viewer's were not all among them; refine the query.
    capped: bool
    cases: list[CaseHitOut]
    customers: list[CustomerHitOut]
    interactions: list[InteractionHitOut]
    promises: list[PromiseHitOut]
    articles: list[ArticleHitOut]


def _interaction_out(hit: InteractionHit) -> dict[str, Any]:
    row = hit.interaction
    return {
        "id": row.pk,
        "customer_id": row.customer_id,
        "case": row.case.ref if row.case_id else None,
        "channel": row.channel,
        "direction": row.direction,
        "occurred_at": row.occurred_at,
        "snippet": hit.snippet_text,
    }


@router.get(
    "",
    response=SearchOut,
    summary="Cases, customers, messages, promises and articles matching q, newest first",
)
def search_all(request: HttpRequest, params: Query[SearchQuery]) -> dict[str, Any]:
    """Each group holds at most ``limit`` (1 to 50) hits the token's agent may open;
    ``kind`` keeps one group (the others are empty). A ``q`` under two characters is not
    searched (``too_short``)."""
    found = search(viewer=viewer_of(request), q=params.q, kind=params.kind, limit=params.limit)
    return {
        "q": found.q,
        "too_short": found.too_short,
        "capped": found.capped,
        "cases": [
            {
                "ref": c.ref,
                "subject": c.subject,
                "status": c.status,
                "priority": c.priority,
                "team": c.team.slug if c.team_id else None,
                "customer_id": c.customer_id,
                "updated_at": c.updated_at,
            }
            for c in found.cases
        ],
        "customers": [
            {"id": c.pk, "display_name": str(c), "created_at": c.created_at}
            for c in found.customers
        ],
        "interactions": [_interaction_out(h) for h in found.interactions],
        "promises": [
            {
                "id": p.pk,
                "text": p.text,
                "state": p.state,
                "customer_id": p.customer_id,
                "case": p.case.ref if p.case_id else None,
                "made_at": p.made_at,
                "due_at": p.due_at,
            }
            for p in found.promises
        ],
        "articles": [
            {"slug": a.slug, "title": a.title, "updated_at": a.updated_at} for a in found.articles
        ],
    }
