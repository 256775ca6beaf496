"""The search box: one query over cases, customers, messages, promises and knowledge
articles, grouped by kind, newest first, scoped to what the viewer may open.

What each group finds, and who may find it:

- cases: the exact reference (``LM-1042``, or its number), and subjects containing the
  query; among ``cases_visible`` (the cases app's one rule, the case page's 404).
- customers: names containing the query, and the exact identity the query normalises to
  (an email, a phone number in any format ``phonenumbers`` parses, a social handle with or
  without ``@``); among ``customers_visible`` (the customer page's rule).
- interactions: the message text, full-text (the index of migration 0001: FTS5 on SQLite,
  a GIN ``tsvector`` index on PostgreSQL). A message on a case is found by those who may
  open the case (an internal note included, as on the case page); one on no case by those
  who may see its customer.
- promises: the promise's words and its terms, among ``promises_visible``.
- articles: every agent reads the knowledge base (``articles_search``).

The user's words never reach a query language as syntax: the query is cut into words
(letters and digits); each word is a quoted FTS5 string, or the words go as one bound
parameter to ``plainto_tsquery``. Quotes, ``*``, ``-``, ``OR``, ``NEAR(`` are only text.

"Newest first" for messages is the order they were recorded in (the interaction's id): the
one order both indexes walk without reading and sorting every match, which is what keeps a
common word fast over a million messages (``LIMIT`` stops the walk).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from lastmile.cases.models import Case
from lastmile.cases.selectors import cases_visible, ref_number
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.customers.identities import IdentityError, identity_normalize
from lastmile.customers.models import Customer, Identity, IdentityKind, Interaction
from lastmile.customers.selectors import customers_visible
from lastmile.knowledge.models import Article
from lastmile.knowledge.selectors import articles_search
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer, viewer_check
from lastmile.promises.models import Promise
from lastmile.promises.selectors import promises_visible

KINDS = ("cases", "customers", "interactions", "promises", "articles")
MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 500
MAX_LIMIT = 50
MAX_TERMS = 16
MAX_TERM_LENGTH = 64
WORD = re.compile(r"\w+", re.UNICODE)
FTS_TABLE = "search_interaction_fts"
SNIPPET_CHARS = 180
# How many of the newest messages matching the words a team-scoped search looks at.
SCAN_CAP = 2000


@dataclass
class InteractionHit:
    """A message that matched, with the part of its text around the first matching word:
    ``snippet`` is ``[(text, matched), ...]``, plain text (the page escapes it, and marks
    the matched pieces)."""

    interaction: Interaction
    snippet: list[tuple[str, bool]]

    @property
    def snippet_text(self) -> str:
        return "".join(text for text, _ in self.snippet)


@dataclass
class SearchResults:
    """What ``search`` found, per kind, newest first; ``more[kind]`` is True when that kind
    had more hits than ``limit``. ``too_short`` says the query was not searched at all."""

    q: str
    limit: int
    too_short: bool = False
    exact_case: Case | None = None
    cases: list[Case] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    interactions: list[InteractionHit] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    more: dict[str, bool] = field(default_factory=dict)
    # Messages only: more messages matched than were looked at (``SCAN_CAP``); older ones
    # the viewer may open may be missing, and more words would find them.
    capped: bool = False

    @property
    def total(self) -> int:
        return sum(len(getattr(self, kind)) for kind in KINDS)

    def groups(self) -> list[tuple[str, list[Any]]]:
        return [(kind, getattr(self, kind)) for kind in KINDS]


def query_words(q: str) -> list[str]:
    """The words of the query, lower-cased, in order, without repeats (at most 16)."""
    out: list[str] = []
    for word in WORD.findall((q or "").lower()):
        word = word.strip("_")[:MAX_TERM_LENGTH]
        if word and word not in out:
            out.append(word)
        if len(out) >= MAX_TERMS:
            break
    return out


def search_params_check(*, kind: str | None, limit: int) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(
            f"unknown kind {kind!r}", [FieldError("kind", f"one of {', '.join(KINDS)}")]
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            "limit out of range", [FieldError("limit", f"between 1 and {MAX_LIMIT}")]
        )


def search(*, viewer: Viewer, q: str, kind: str | None = None, limit: int = 20) -> SearchResults:
    """Everything ``viewer`` may open that matches ``q``, grouped by kind, newest first.

    ``kind`` keeps one group; ``limit`` caps each group (1 to 50; ``InvalidInput`` naming
    the field otherwise). A query under two characters (after trimming) is not searched:
    the answer is empty with ``too_short`` set. Each group is one or two indexed queries
    with a ``LIMIT``; nothing counts every match.
    """
    viewer_check(viewer)
    search_params_check(kind=kind, limit=limit)
    q = (q or "").strip()[:MAX_QUERY_LENGTH]
    results = SearchResults(q=q, limit=limit)
    if len(q) < MIN_QUERY_LENGTH:
        results.too_short = True
        return results
    kinds = (kind,) if kind else KINDS
    if "cases" in kinds:
        results.exact_case, results.cases = _cases(viewer, q, limit)
    if "customers" in kinds:
        results.customers = _customers(viewer, q, limit)
    words = query_words(q)
    if "interactions" in kinds and words:
        results.interactions, results.capped = _interactions(viewer, words, limit)
    if "promises" in kinds:
        results.promises = _promises(viewer, q, limit)
    if "articles" in kinds and words:
        results.articles = _articles(q, limit)
    for name in kinds:
        found = getattr(results, name)
        results.more[name] = len(found) > limit
        setattr(results, name, found[:limit])
    return results


# --- cases -------------------------------------------------------------------------------


def _cases(viewer: Viewer, q: str, limit: int) -> tuple[Case | None, list[Case]]:
    visible = cases_visible(viewer=viewer)
    number = ref_number(q)
    if number is None and q.isdigit() and len(q) <= 15:
        number = int(q)
    exact = visible.filter(number=number).first() if number is not None else None
    if exact is not None and not q.isdigit():
        # A reference typed in full names one case; no subject holds it.
        return exact, [exact]
    found = list(visible.filter(subject__icontains=q).order_by("-number")[: limit + 1])
    if exact is not None:
        found = [exact, *(c for c in found if c.pk != exact.pk)]
    return exact, found


# --- customers ---------------------------------------------------------------------------


def _identity_matches(q: str) -> Q | None:
    """The identities ``q`` is, in their stored form: any one of an email, a phone number
    (in whatever format ``phonenumbers`` parses, in the default region) or a handle."""
    keys = []
    if "@" in q[1:]:
        with contextlib.suppress(IdentityError):
            keys.append(identity_normalize(IdentityKind.EMAIL, q))
    if sum(ch.isdigit() for ch in q) >= 6:
        with contextlib.suppress(IdentityError):
            keys.append(identity_normalize(IdentityKind.PHONE, q))
    handle = q.lstrip("@").lower()
    match = Q()
    for key in keys:
        match |= Q(kind=key.kind, value=key.value)
    if handle and not any(ch.isspace() for ch in handle):
        match |= Q(kind=IdentityKind.SOCIAL, value=handle)
    return match or None


def _customers(viewer: Viewer, q: str, limit: int) -> list[Customer]:
    wanted = Q(display_name__icontains=q)
    identities = _identity_matches(q)
    if identities is not None:
        wanted |= Q(pk__in=Identity.objects.filter(identities).values("customer_id"))
    return list(customers_visible(viewer=viewer).filter(wanted).order_by("-id")[: limit + 1])


# --- interactions ------------------------------------------------------------------------


def _subquery(qs: QuerySet[Any]) -> tuple[str, list[Any]]:
    """The SQL of a queryset, to put inside ``EXISTS (...)``; a queryset Django knows to
    be empty (``team_id IN ()``) is a subquery of no rows."""
    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:
        return "SELECT NULL WHERE 1 = 0", []
    return sql, list(params)


def _visible_interactions_sql(viewer: Viewer, alias: str) -> tuple[str, list[Any]]:
    """A SQL condition on ``alias`` (an interaction row): may ``viewer`` find it?

    On a case: the viewer may open the case (``cases_visible``). On no case: the viewer
    may see the customer (``customers_visible``), as on the customer's timeline. Each is
    the other app's own queryset, asked about this row (``EXISTS``, correlated): the
    database checks only the hits it walks, newest first, instead of first listing every
    customer the viewer may see (a join over the whole customer table, 25 ms at 10,000).
    """
    if visible_team_ids(viewer) is None:
        return "1 = 1", []
    cases_sql, cases_params = _subquery(
        cases_visible(viewer=viewer).filter(pk=RawSQL(f"{alias}.case_id", [])).values("pk")
    )
    customers_sql, customers_params = _subquery(
        customers_visible(viewer=viewer).filter(pk=RawSQL(f"{alias}.customer_id", [])).values("pk")
    )
    return (
        f"(({alias}.case_id IS NOT NULL AND EXISTS ({cases_sql})) OR ({alias}.case_id IS NULL"
        f" AND EXISTS ({customers_sql})))",
        [*cases_params, *customers_params],
    )


def fts5_query(words: list[str]) -> str:
    """An FTS5 MATCH expression needing every word, each a quoted string (a double quote
    inside is doubled; ``\\w`` has none, but the quoting does not rely on that)."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _matches_sql(words: list[str]) -> tuple[str, list[Any]]:
    """The ids of the messages holding every word, newest first (no limit yet): the index
    walked in id order, so a ``LIMIT`` on it stops the walk."""
    vendor = connection.vendor
    if vendor == "sqlite":
        return (
            f"SELECT rowid AS id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC",
            [fts5_query(words)],
        )
    if vendor == "postgresql":
        return (
            "SELECT id FROM customers_interaction "
            "WHERE to_tsvector('english'::regconfig, body) "
            "@@ plainto_tsquery('english'::regconfig, %s) ORDER BY id DESC",
            [" ".join(words)],
        )
    raise NotImplementedError(f"full-text search is not set up for {vendor}")


def _interaction_ids(viewer: Viewer, words: list[str], limit: int) -> tuple[list[int], bool]:
    """The ids of the newest ``limit`` matching messages ``viewer`` may find, and whether
    the answer is cut short by ``SCAN_CAP``.

    For a viewer scoped to teams only the newest ``SCAN_CAP`` matches are looked at: a word
    in most of a million messages, of which the viewer may open few or none, would
    otherwise test every one of them against the visibility rule (seconds). Admins and
    ``SYSTEM`` see every match, so the first ``limit`` are the answer.
    """
    matches_sql, matches_params = _matches_sql(words)
    visible_sql, visible_params = _visible_interactions_sql(viewer, "i")
    scoped = visible_team_ids(viewer) is not None
    # Unscoped, every match is visible: the newest ``limit`` are the answer. The inner
    # LIMIT keeps the walk of the index short either way (a subquery without one may be
    # read to its end before the outer LIMIT applies).
    cap = f" LIMIT {int(SCAN_CAP if scoped else limit)}"
    sql = (
        f"SELECT i.id FROM ({matches_sql}{cap}) m "
        "JOIN customers_interaction i ON i.id = m.id "
        f"WHERE {visible_sql} ORDER BY m.id DESC LIMIT %s"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [*matches_params, *visible_params, limit])
        found = [row[0] for row in cur.fetchall()]
        if not scoped or len(found) >= limit:
            return found, False
        # Were there more matches than were looked at? (The cap-th newest match exists.)
        cur.execute(f"SELECT m.id FROM ({matches_sql}) m LIMIT 1 OFFSET {SCAN_CAP}", matches_params)
        return found, cur.fetchone() is not None


def _interactions(
    viewer: Viewer, words: list[str], limit: int
) -> tuple[list[InteractionHit], bool]:
    ids, capped = _interaction_ids(viewer, words, limit + 1)
    rows = Interaction.objects.select_related("case", "customer", "actor").in_bulk(ids)
    hits = [
        InteractionHit(interaction=rows[pk], snippet=snippet(rows[pk].body, words))
        for pk in ids
        if pk in rows
    ]
    return hits, capped


def _stem(word: str) -> str:
    # Near enough to the stemmers for marking words: "refunded" marks "refund", "refunds".
    return word[: max(4, len(word) - 3)] if len(word) > 5 else word


def snippet(text: str, words: list[str], *, size: int = SNIPPET_CHARS) -> list[tuple[str, bool]]:
    """The part of ``text`` around its first word matching one of ``words``, as
    ``[(piece, matched)]``: plain text, for the caller to escape."""
    stems = tuple(_stem(w) for w in words)
    tokens = [m for m in WORD.finditer(text) if m.group().lower().startswith(stems)]
    first = tokens[0].start() if tokens else 0
    start = max(0, first - size // 3)
    if start:
        space = text.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start - space < 20 else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.find(" ", end)
        end = space if 0 <= space < end + 20 else end
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    at = start
    for token in tokens:
        if token.start() < start or token.end() > end:
            continue
        if token.start() > at:
            pieces.append((text[at : token.start()], False))
        pieces.append((token.group(), True))
        at = token.end()
    if end > at:
        pieces.append((text[at:end], False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


# --- promises and articles ---------------------------------------------------------------


def _promises(viewer: Viewer, q: str, limit: int) -> list[Promise]:
    # Only what the result shows is joined (the promises app's queryset joins 14 tables).
    return list(
        promises_visible(viewer=viewer)
        .select_related(None)
        .select_related("customer", "case")
        .filter(Q(text__icontains=q) | Q(terms__icontains=q))
        .order_by("-made_at", "-id")[: limit + 1]
    )


def _articles(q: str, limit: int) -> list[Article]:
    hits = articles_search(q, limit=min(limit + 1, 100))
    return sorted((h.article for h in hits), key=lambda a: (a.updated_at, a.pk), reverse=True)
