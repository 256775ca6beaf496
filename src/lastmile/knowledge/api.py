"""API for the knowledge base: articles, ranked search, suggestions for a case."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema
from lastmile.cases.selectors import case_get
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.knowledge import services
from lastmile.knowledge.models import Article
from lastmile.knowledge.rendering import markdown_html
from lastmile.knowledge.selectors import (
    ArticleHit,
    article_get,
    article_list,
    articles_search,
    articles_suggest_for_case,
)
from lastmile.people.selectors import team_by_slug
from lastmile.people.viewers import actor_of

router = Router(tags=["knowledge"])


class ArticleSummary(Schema):
    slug: str
    title: str
    tags: list[str]
    team: str | None
    policy_keys: list[str]
    public: bool
    updated_at: datetime


class ArticleOut(ArticleSummary):
    body_md: str
    body_html: str
    created_at: datetime
    updated_by: str | None


class HitOut(ArticleSummary):
    rank: float
    excerpt: str


def summary_out(article: Article) -> dict[str, Any]:
    return {
        "slug": article.slug,
        "title": article.title,
        "tags": list(article.tags or []),
        "team": article.team.slug if article.team_id else None,
        "policy_keys": list(article.policy_keys or []),
        "public": article.public,
        "updated_at": article.updated_at,
    }


def article_out(article: Article) -> dict[str, Any]:
    return {
        **summary_out(article),
        "body_md": article.body_md,
        "body_html": str(markdown_html(article.body_md)),
        "created_at": article.created_at,
        "updated_by": article.updated_by.username if article.updated_by_id else None,
    }


def hit_out(hit: ArticleHit) -> dict[str, Any]:
    return {**summary_out(hit.article), "rank": hit.rank, "excerpt": hit.excerpt}


class ArticleIn(StrictSchema):
    title: str = Field(min_length=1, max_length=200)
    body_md: str = Field(default="", max_length=100_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    team: str | None = Field(default=None, max_length=50)
    policy_keys: list[str] = Field(default_factory=list, max_length=20)
    public: bool = False


class ArticleCreateIn(ArticleIn):
    slug: str | None = Field(default=None, max_length=120)


class ArticlePatch(StrictSchema):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body_md: str | None = Field(default=None, max_length=100_000)
    tags: list[str] | None = Field(default=None, max_length=20)
    team: str | None = Field(default=None, max_length=50)
    policy_keys: list[str] | None = Field(default=None, max_length=20)
    public: bool | None = None


class ArticlesQuery(Schema):
    tag: str | None = Field(default=None, max_length=40)
    team: str | None = Field(default=None, max_length=50)
    public: bool | None = None


class SearchQuery(Schema):
    q: str = Field(min_length=1, max_length=500)
    public_only: bool = False
    team: str | None = Field(default=None, max_length=50)
    limit: int = Field(default=10, ge=1, le=50)


@router.get("/articles", response=list[ArticleSummary], summary="Articles, newest first")
@paginate(BoundedLimitOffset)
def list_articles(request: HttpRequest, filters: Query[ArticlesQuery]) -> Any:
    qs = article_list(team=team_by_slug(filters.team), tag=filters.tag)
    if filters.public is not None:
        qs = qs.filter(public=filters.public)
    return LazyPage(qs, summary_out)


@router.get("/search", response=list[HitOut], summary="Full-text search, best match first")
def search(request: HttpRequest, params: Query[SearchQuery]) -> list[dict[str, Any]]:
    hits = articles_search(
        params.q, public_only=params.public_only, team=team_by_slug(params.team), limit=params.limit
    )
    return [hit_out(h) for h in hits]


@router.get("/suggest", response=list[HitOut], summary="Articles for the case in hand")
def suggest(
    request: HttpRequest, case: str = Query(..., max_length=30), limit: int = Query(5, ge=1, le=20)
) -> list[dict[str, Any]]:
    found = case_get(ref=case, viewer=viewer_of(request))
    return [hit_out(h) for h in articles_suggest_for_case(found, limit=limit)]


@router.get("/articles/{slug}", response=ArticleOut, summary="One article, with its HTML")
def get_article(request: HttpRequest, slug: str) -> dict[str, Any]:
    return article_out(article_get(slug=slug))


@router.post("/articles", response={201: ArticleOut}, summary="Write an article")
def create_article(request: HttpRequest, payload: ArticleCreateIn) -> Status:
    article = services.article_create(
        title=payload.title,
        body_md=payload.body_md,
        tags=payload.tags,
        team=team_by_slug(payload.team),
        policy_keys=payload.policy_keys,
        public=payload.public,
        slug=payload.slug,
        actor=actor_of(viewer_of(request)),
        now=utcnow(),
    )
    return Status(201, article_out(article))


@router.put(
    "/articles/{slug}",
    response={200: ArticleOut, 201: ArticleOut},
    summary="Create or replace the article at this slug (sending it twice changes nothing)",
)
def put_article(request: HttpRequest, slug: str, payload: ArticleIn) -> Status:
    article, created = services.article_put(
        slug=slug,
        title=payload.title,
        body_md=payload.body_md,
        tags=payload.tags,
        team=team_by_slug(payload.team),
        policy_keys=payload.policy_keys,
        public=payload.public,
        actor=actor_of(viewer_of(request)),
        now=utcnow(),
    )
    return Status(201 if created else 200, article_out(article))


@router.patch("/articles/{slug}", response=ArticleOut, summary="Change some fields")
def patch_article(request: HttpRequest, slug: str, payload: ArticlePatch) -> dict[str, Any]:
    changes = payload.model_dump(exclude_unset=True)
    if "team" in changes:
        changes["team"] = team_by_slug(changes["team"])
    for name in ("title", "body_md", "tags", "policy_keys", "public"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be null", [FieldError(name, "cannot be null")])
    article = services.article_update(
        article=article_get(slug=slug),
        actor=actor_of(viewer_of(request)),
        now=utcnow(),
        **changes,
    )
    return article_out(article)


@router.delete("/articles/{slug}", response={204: None}, summary="Delete an article")
def delete_article(request: HttpRequest, slug: str) -> HttpResponse:
    services.article_delete(
        article=article_get(slug=slug),
        actor=actor_of(viewer_of(request)),
        now=utcnow(),
    )
    return HttpResponse(status=204)
