"""Every write to the knowledge base.

Who may write: admins and integrations (``actor=None``) anywhere; an agent or lead only
articles owned by one of their teams (and they cannot give an article away to a team that
is not theirs). The search index follows every write by itself (see migration 0002).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput, PermissionDenied
from lastmile.core.events import event_emit
from lastmile.knowledge.models import Article
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Actor

TITLE_LIMIT = 200
BODY_LIMIT = 100_000
MAX_TAGS = 20
MAX_POLICIES = 20
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,119}")
TAG_RE = re.compile(r"[\w][\w-]{0,39}")
# The promises app's policy keys (people.authority.POLICY_KEY), kept as plain strings here.
POLICY_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass
class ArticleFields:
    title: str
    body_md: str
    tags: list[str]
    team: Any
    policy_keys: list[str]
    public: bool


def _storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def article_check(
    *,
    title: Any,
    body_md: Any,
    tags: Any = (),
    team: Any = None,
    policy_keys: Any = (),
    public: Any = False,
) -> ArticleFields:
    """The fields normalised (tags lower-cased, duplicates dropped); InvalidInput naming
    every bad field otherwise."""
    errors: list[FieldError] = []
    if not isinstance(title, str) or not title.strip():
        errors.append(FieldError("title", "must not be empty"))
        title = ""
    elif len(title.strip()) > TITLE_LIMIT or not _storable(title):
        errors.append(FieldError("title", f"1 to {TITLE_LIMIT} characters of text"))
    if not isinstance(body_md, str):
        errors.append(FieldError("body_md", "Markdown text"))
        body_md = ""
    elif len(body_md) > BODY_LIMIT or not _storable(body_md):
        errors.append(FieldError("body_md", f"at most {BODY_LIMIT:,} characters of text"))
    clean_tags = _words(tags, "tags", TAG_RE, MAX_TAGS, errors, lower=True, what="tag")
    keys = _words(policy_keys, "policy_keys", POLICY_KEY_RE, MAX_POLICIES, errors, what="key")
    if not isinstance(public, bool):
        errors.append(FieldError("public", "true or false"))
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    return ArticleFields(
        title=title.strip(),
        body_md=body_md,
        tags=clean_tags,
        team=team,
        policy_keys=keys,
        public=bool(public),
    )


def _words(
    value: Any,
    field: str,
    pattern: re.Pattern[str],
    limit: int,
    errors: list[FieldError],
    *,
    what: str,
    lower: bool = False,
) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        errors.append(FieldError(field, f"a list of {what}s"))
        return []
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            errors.append(FieldError(f"{field}[{i}]", f"a {what} is text"))
            continue
        word = item.strip().lower() if lower else item.strip()
        if not pattern.fullmatch(word):
            errors.append(
                FieldError(f"{field}[{i}]", f"{what} {item[:50]!r}: letters, digits, - and _")
            )
        elif word not in out:
            out.append(word)
    if len(out) > limit:
        errors.append(FieldError(field, f"at most {limit} {what}s"))
    return out


def _may_write(actor: Actor, *, teams: Iterable[Any]) -> None:
    """Raise unless ``actor`` may write an article owned by each of ``teams``."""
    if actor is None:
        return
    mine = visible_team_ids(actor)
    if mine is None:
        return
    for team in teams:
        if team is None:
            raise PermissionDenied("only an admin may write an article that no team owns")
        if team.pk not in mine:
            raise PermissionDenied(f"only {team.name} (or an admin) may write its articles")


def _slug_for(title: str) -> str:
    base = slugify(title)[:100].strip("-") or "article"
    slug, n = base, 2
    while Article.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _check_slug(slug: Any) -> str:
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidInput(
            "bad slug", [FieldError("slug", "1 to 120 of a-z, 0-9 and -, starting with a-z or 0-9")]
        )
    return slug


@transaction.atomic
def article_create(
    *,
    title: Any,
    body_md: Any,
    now: datetime,
    tags: Any = (),
    team: Any = None,
    policy_keys: Any = (),
    public: Any = False,
    slug: str | None = None,
    actor: Actor = None,
) -> Article:
    """A new article; the slug is made from the title unless given (a taken slug is a 409)."""
    fields = article_check(
        title=title, body_md=body_md, tags=tags, team=team, policy_keys=policy_keys, public=public
    )
    _may_write(actor, teams=[fields.team])
    slug = _check_slug(slug) if slug is not None else _slug_for(fields.title)
    try:
        with transaction.atomic():
            article = Article.objects.create(
                slug=slug,
                created_at=now,
                updated_at=now,
                updated_by=actor,
                **fields.__dict__,
            )
    except IntegrityError:
        raise Conflict(f"an article with slug {slug!r} exists", code=ErrorCode.SLUG_TAKEN) from None
    event_emit("article.created", _event(article), at=now)
    return article


@transaction.atomic
def article_update(
    *,
    article: Article,
    now: datetime,
    actor: Actor = None,
    **changes: Any,
) -> Article:
    """Change some of title, body_md, tags, team, policy_keys, public."""
    allowed = {"title", "body_md", "tags", "team", "policy_keys", "public"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(
            "unknown fields", [FieldError(k, "not a field of an article") for k in sorted(unknown)]
        )
    fresh = (
        Article.objects.select_for_update(of=("self",)).select_related("team").get(pk=article.pk)
    )
    current = {k: getattr(fresh, k) for k in allowed}
    fields = article_check(**{**current, **changes})
    _may_write(actor, teams={fresh.team, fields.team} if "team" in changes else [fresh.team])
    if {k: getattr(fields, k) for k in allowed} == current:
        return fresh
    for k in allowed:
        setattr(fresh, k, getattr(fields, k))
    fresh.updated_at = now
    fresh.updated_by = actor
    fresh.save()
    event_emit("article.updated", _event(fresh), at=now)
    return fresh


@transaction.atomic
def article_put(
    *, slug: str, now: datetime, actor: Actor = None, **fields: Any
) -> tuple[Article, bool]:
    """Create or replace the article at ``slug`` (idempotent); (article, created)."""
    slug = _check_slug(slug)
    existing = Article.objects.filter(slug=slug).first()
    if existing is None:
        return article_create(slug=slug, now=now, actor=actor, **fields), True
    full = {"tags": [], "team": None, "policy_keys": [], "public": False, **fields}
    return article_update(article=existing, now=now, actor=actor, **full), False


@transaction.atomic
def article_delete(*, article: Article, now: datetime, actor: Actor = None) -> None:
    _may_write(actor, teams=[article.team])
    data = _event(article)
    Article.objects.filter(pk=article.pk).delete()
    event_emit("article.deleted", data, at=now)


def _event(article: Article) -> dict[str, Any]:
    return {
        "article": article.pk,
        "slug": article.slug,
        "title": article.title,
        "public": article.public,
        "team": article.team_id,
        "policy_keys": list(article.policy_keys or []),
    }
