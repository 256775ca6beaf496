"""Reads of the knowledge base: ranked full-text search on the database's own engine.

``articles_search`` is the one entry point; it branches on the database:

- SQLite: FTS5 ``MATCH`` ranked by ``bm25`` (title counts 10×, tags 5×, body 1×).
- PostgreSQL: ``tsvector @@ tsquery`` ranked by ``ts_rank`` (weights A title, B tags, C body).

The user's words never reach either query language as syntax: the query is cut into
words (letters and digits), each word is quoted for FTS5 or passed as a bound parameter to
``plainto_tsquery``, so ``NEAR(``, ``"``, ``*``, ``:``, ``!`` or ``'`` are only ever text.

Agents read every article; customers (the portal) only public ones, through
``articles_public`` and ``article_get_public``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from lastmile.core.errors import NotFound
from lastmile.knowledge.models import Article
from lastmile.knowledge.rendering import excerpt
from lastmile.people.viewers import SYSTEM

MAX_TERMS = 32
MAX_TERM_LENGTH = 64
WORD = re.compile(r"\w+", re.UNICODE)

# Words too common to say what a case is about (PostgreSQL's English dictionary drops them
# itself; FTS5 has no stop words, so the suggestion query leaves them out).
_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can cannot could did do does doing down during
    each few for from further get got had has have having he her here hers him his how i if
    in into is it its just me more most my no nor not now of off on once only or other our
    ours out over own please same she should so some still such than thank thanks that the
    their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yes hi
    hello dear regards told said say says since ve ll re
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass
class ArticleHit:
    article: Article
    rank: float  # higher is better, on either database
    excerpt: str


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, in order, without repeats (at most 32)."""
    out: list[str] = []
    for word in WORD.findall((query or "").lower()):
        word = word.strip("_")[:MAX_TERM_LENGTH]
        if word and word not in out:
            out.append(word)
        if len(out) >= MAX_TERMS:
            break
    return out


def _fts5_query(terms: list[str], *, match: str) -> str:
    # Each word a quoted string (a double quote inside would be doubled; \w has none).
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    return (" OR " if match == "any" else " AND ").join(quoted)


def _ranked_ids(
    terms: list[str], *, match: str, public_only: bool, team_id: int | None, limit: int
) -> list[tuple[int, float]]:
    vendor = connection.vendor
    filters: list[str] = []
    params_after: list[Any] = []
    if public_only:
        filters.append("a.public = %s")
        params_after.append(True)
    if team_id is not None:
        filters.append("a.team_id = %s")
        params_after.append(team_id)
    where_more = "".join(f" AND {f}" for f in filters)
    if vendor == "sqlite":
        sql = (
            "SELECT a.id, bm25(knowledge_article_fts, 10.0, 1.0, 5.0) AS score "
            "FROM knowledge_article_fts JOIN knowledge_article a ON a.id = knowledge_article_fts.rowid "
            f"WHERE knowledge_article_fts MATCH %s{where_more} "
            "ORDER BY score, a.id LIMIT %s"
        )
        params: list[Any] = [_fts5_query(terms, match=match), *params_after, limit]
        with connection.cursor() as cur:
            cur.execute(sql, params)
            # bm25 is lower-is-better (negative); turn it round so higher is better everywhere.
            return [(row[0], -float(row[1])) for row in cur.fetchall()]
    if vendor == "postgresql":
        joiner = " || " if match == "any" else " && "
        tsquery = joiner.join(["plainto_tsquery('english', %s)"] * len(terms))
        sql = (
            "SELECT a.id, ts_rank(a.search, q.query) AS score "
            f"FROM knowledge_article a, (SELECT {tsquery} AS query) q "
            f"WHERE a.search @@ q.query{where_more} "
            "ORDER BY score DESC, a.id LIMIT %s"
        )
        with connection.cursor() as cur:
            cur.execute(sql, [*terms, *params_after, limit])
            return [(row[0], float(row[1])) for row in cur.fetchall()]
    raise NotImplementedError(f"full-text search is not set up for {vendor}")


def articles_search(
    query: str,
    *,
    public_only: bool = False,
    team: Any = None,
    limit: int = 10,
    match: str = "all",
) -> list[ArticleHit]:
    """Articles matching the query, best first, each with an excerpt around the match.

    ``match="all"`` needs every word (a search box); ``"any"`` ranks articles sharing any
    word (suggestions from a case's text). Words are stemmed, so "declined" finds "decline".
    """
    if match not in ("all", "any"):
        raise ValueError("match is 'all' or 'any'")
    terms = search_terms(query)
    # Stop words would make FTS5 (which keeps them) demand "how" and "my"; PostgreSQL drops
    # them itself. A query of nothing but stop words is searched as it is.
    terms = [t for t in terms if t not in STOP_WORDS] or terms
    if not terms or limit < 1:
        return []
    ranked = _ranked_ids(
        terms,
        match=match,
        public_only=public_only,
        team_id=team.pk if team is not None else None,
        limit=min(limit, 100),
    )
    articles = Article.objects.select_related("team").in_bulk([pk for pk, _ in ranked])
    return [
        ArticleHit(article=articles[pk], rank=score, excerpt=excerpt(articles[pk].body_md, terms))
        for pk, score in ranked
        if pk in articles
    ]


def article_list(
    *, public_only: bool = False, team: Any = None, tag: str | None = None
) -> QuerySet[Article]:
    """Articles, most recently updated first (browsing, not searching)."""
    qs = Article.objects.select_related("team").order_by("-updated_at", "-id")
    if public_only:
        qs = qs.filter(public=True)
    if team is not None:
        qs = qs.filter(team=team)
    if tag:
        # JSON containment is not on SQLite; a tag list is short, so filter by the text
        # and check exactly in Python.
        ids = [
            pk
            for pk, tags in qs.filter(tags__icontains=tag).values_list("id", "tags")
            if tag.lower() in (tags or [])
        ]
        qs = qs.filter(pk__in=ids)
    return qs


def article_get(*, slug: str) -> Article:
    """Any article, for agents (every agent may read the knowledge base)."""
    article = Article.objects.select_related("team", "updated_by").filter(slug=slug).first()
    if article is None:
        raise NotFound(f"article {slug}")
    return article


def tags_in_use(*, public_only: bool = False) -> list[tuple[str, int]]:
    """Every tag with how many articles carry it, most used first."""
    qs = Article.objects.all()
    if public_only:
        qs = qs.filter(public=True)
    counts: Counter[str] = Counter()
    for tags in qs.values_list("tags", flat=True):
        counts.update(tags or [])
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# --- for the portal (public articles only) ------------------------------------------------


def articles_public(query: str = "", *, tag: str | None = None, limit: int = 20) -> list[Article]:
    """Public articles for customers: ranked by the query when there is one, else newest."""
    limit = max(1, min(limit, 100))
    if query and search_terms(query):
        hits = articles_search(query, public_only=True, limit=limit)
        return [h.article for h in hits if not tag or tag.lower() in h.article.tags]
    return list(article_list(public_only=True, tag=tag)[:limit])


def article_get_public(slug: str) -> Article:
    """A public article by slug; an internal one is the same 404 as a missing one."""
    article = Article.objects.select_related("team").filter(slug=slug, public=True).first()
    if article is None:
        raise NotFound(f"article {slug}")
    return article


# --- suggestions for the case in hand ----------------------------------------------------


def suggestion_query(texts: list[str], *, max_terms: int = 24) -> str:
    """The words that say what a case is about: no stop words, no numbers, the most
    repeated first (ties in order of appearance)."""
    counts: Counter[str] = Counter()
    order: dict[str, int] = {}
    for text in texts:
        for word in WORD.findall((text or "").lower()):
            word = word.strip("_")
            if len(word) < 3 or word.isdigit() or word in STOP_WORDS:
                continue
            counts[word] += 1
            order.setdefault(word, len(order))
    best = sorted(counts, key=lambda w: (-counts[w], order[w]))[:max_terms]
    return " ".join(best)


def articles_suggest_for_case(
    case: Any, *, limit: int = 5, public_only: bool = False, thread: list[Any] | None = None
) -> list[ArticleHit]:
    """Articles for the case in hand, from its subject and its latest inbound messages.

    ``thread``: the case's interactions when the caller has them already (the case page).
    """
    if thread is None:
        from lastmile.customers.selectors import timeline

        # SYSTEM: the thread only makes the query (its inbound words); none of it is shown.
        page = timeline(customer=case.customer, viewer=SYSTEM, limit=50)
        thread = [i for i in page.items if i.case_id == case.pk]
    latest_first = sorted(thread, key=lambda i: (i.occurred_at, i.pk), reverse=True)
    inbound = [i.body for i in latest_first if i.direction == "inbound"][:3]
    # The subject counts twice: it is what the case is about, in few words.
    query = suggestion_query([case.subject, case.subject, *inbound])
    return articles_search(query, public_only=public_only, limit=limit, match="any")
