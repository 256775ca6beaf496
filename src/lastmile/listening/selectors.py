"""Reads for listening: mention lists with filters, the unattended queue, influencers.

Mentions are public posts, so every agent can read them; the unattended queue — work owed
by a team — shows a viewer the mentions whose case belongs to one of their teams (or to no
team yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from lastmile.core.errors import NotFound
from lastmile.listening.models import Author, Mention, Sentiment, WatchTerm
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer

SCOPES = ("brand", "competitor", "from_brand")


@dataclass
class MentionFilters:
    term: int | None = None
    sentiment: str = ""
    scope: str = ""  # brand | competitor | from_brand
    network: str = ""
    unanswered: bool = False
    author: int | None = None

    def querystring(self) -> str:
        params: dict[str, Any] = {}
        if self.term:
            params["term"] = self.term
        for key in ("sentiment", "scope", "network"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        if self.unanswered:
            params["unanswered"] = "1"
        return urlencode(params)


def _unattended_q() -> Q:
    # A mention a file import left pending is not on a case yet, and its reply may be in the
    # same file: it joins the queue once the worker has processed it (within a minute).
    return Q(
        is_brand=True,
        is_from_brand=False,
        replied_at__isnull=True,
        handled_at__isnull=True,
        pending=False,
    )


def mention_list(*, filters: MentionFilters) -> QuerySet[Mention]:
    """Mentions matching the filters, newest first, with author and terms loaded."""
    qs = Mention.objects.select_related("author", "case").prefetch_related(
        Prefetch("terms", queryset=WatchTerm.objects.order_by("name"))
    )
    if filters.term:
        qs = qs.filter(terms__id=filters.term)
    if filters.sentiment in Sentiment.values:
        qs = qs.filter(sentiment_label=filters.sentiment)
    if filters.scope == "brand":
        qs = qs.filter(is_brand=True)
    elif filters.scope == "competitor":
        qs = qs.filter(is_competitor=True)
    elif filters.scope == "from_brand":
        qs = qs.filter(is_from_brand=True)
    if filters.network:
        qs = qs.filter(network=filters.network)
    if filters.unanswered:
        qs = qs.filter(_unattended_q())
    if filters.author:
        qs = qs.filter(author_id=filters.author)
    return qs.order_by("-posted_at", "-id")


def unattended(*, viewer: Viewer) -> QuerySet[Mention]:
    """Brand mentions nobody has answered or set aside, oldest first (the queue order)."""
    qs = Mention.objects.filter(_unattended_q()).select_related(
        "author", "case", "case__team", "reply_loop"
    )
    teams = visible_team_ids(viewer)
    if teams is not None:
        qs = qs.filter(Q(case__team_id__in=teams) | Q(case__team__isnull=True))
    return qs.order_by("posted_at", "id")


def mention_get(*, mention_id: int) -> Mention:
    row = (
        Mention.objects.select_related("author", "case", "reply_loop").filter(pk=mention_id).first()
    )
    if row is None:
        raise NotFound("mention")
    return row


def mention_actionable(*, mention: Mention, viewer: Viewer) -> bool:
    """Can ``viewer`` set this mention aside? The team owning its case can (anyone if none)."""
    teams = visible_team_ids(viewer)
    if teams is None:
        return True
    team_id = mention.case.team_id if mention.case_id and mention.case else None
    return team_id is None or team_id in teams


def age(mention: Mention, *, now: datetime) -> timedelta:
    return max(timedelta(0), now - mention.posted_at)


# --- authors ---------------------------------------------------------------------------------


@dataclass
class AuthorRow:
    author: Author
    recent: list[Mention]
    negative: int
    neutral: int
    positive: int


def _sentiment_counts(qs: QuerySet[Author]) -> QuerySet[Author]:
    return qs.annotate(
        n_negative=Count("mentions", filter=Q(mentions__sentiment_label="negative")),
        n_neutral=Count("mentions", filter=Q(mentions__sentiment_label="neutral")),
        n_positive=Count("mentions", filter=Q(mentions__sentiment_label="positive")),
    )


def influencers(*, limit: int = 50, recent: int = 3, network: str = "") -> list[AuthorRow]:
    """The most influential authors who mentioned a watched subject (brands' own accounts
    left out), each with their latest mentions and how those mentions felt."""
    qs = Author.objects.filter(mention_count__gt=0).exclude(mentions__is_from_brand=True)
    if network:
        qs = qs.filter(network=network)
    authors = list(_sentiment_counts(qs.order_by("-influence", "id"))[:limit])
    latest: dict[int, list[Mention]] = {a.pk: [] for a in authors}
    if authors:
        # One query for everyone's latest few: a row number per author, newest first.
        rank = Window(
            RowNumber(),
            partition_by=[F("author_id")],
            order_by=[F("posted_at").desc(), F("id").desc()],
        )
        for m in (
            Mention.objects.filter(author_id__in=latest)
            .only("id", "author_id", "text", "posted_at", "sentiment_label", "url", "is_brand")
            .annotate(rank=rank)
            .filter(rank__lte=recent)
            .order_by("author_id", "-posted_at", "-id")
        ):
            latest[m.author_id].append(m)
    return [
        AuthorRow(
            author=a,
            recent=latest[a.pk],
            negative=a.n_negative,  # type: ignore[attr-defined]
            neutral=a.n_neutral,  # type: ignore[attr-defined]
            positive=a.n_positive,  # type: ignore[attr-defined]
        )
        for a in authors
    ]


def author_get(*, author_id: int) -> AuthorRow:
    author = (
        _sentiment_counts(Author.objects.select_related("customer")).filter(pk=author_id).first()
    )
    if author is None:
        raise NotFound("author")
    return AuthorRow(
        author=author,
        recent=[],
        negative=author.n_negative,  # type: ignore[attr-defined]
        neutral=author.n_neutral,  # type: ignore[attr-defined]
        positive=author.n_positive,  # type: ignore[attr-defined]
    )


def watchterms() -> list[WatchTerm]:
    return list(WatchTerm.objects.select_related("team").order_by("kind", "name"))


def networks() -> list[str]:
    return list(Mention.objects.order_by().values_list("network", flat=True).distinct())
