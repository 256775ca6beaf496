"""The search box: one query over cases, customers, messages, promises and knowledge
articles, grouped by kind, newest first, scoped to what the viewer may open.

What each group finds, and who may find it:

- cases: the exact reference (``LM-1042``, or its number), subjects containing the query
  (trigram indexes, migration 0002), and the cases of the customers the query finds; among
  ``cases_visible`` (the cases app's one rule, the case page's 404).
- customers: names containing the query (trigram indexes), and the exact identity the
  query normalises to (an email, a phone number in any format ``phonenumbers`` parses, a
  social handle with or without ``@``: ``customers.matching.identity_matches``, the rule
  the merge picker uses too); among ``customers_visible`` (the customer page's rule).
- interactions: the message text, full-text (FTS5 on SQLite, migration 0001; a stored
  ``tsvector`` column with a GIN index on PostgreSQL, migration 0003). A message on a case
  is found by those who may open the case (an internal note included, as on the case
  page); one on no case by those who may see its customer. A team-scoped search looks at
  the newest ``SCAN_CAP`` matches only, and says so (``capped``).
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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from lastmile.cases.models import Case
from lastmile.cases.selectors import cases_visible, ref_number
from lastmile.core.db import custom_plans
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.events import grants
from lastmile.customers.matching import identity_matches
from lastmile.customers.models import Customer, Identity, Interaction
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
# PostgreSQL: the messages' stored tsvector (migration 0003).
TSVECTOR = "search_body"
SNIPPET_CHARS = 180
# The shortest query a trigram index answers (shorter ones scan the table), and the
# trigram indexes of migration 0002 (SQLite), by the table they index.
TRIGRAM = 3
TRIGRAM_TABLES = {"cases_case": "search_case_fts", "customers_customer": "search_customer_fts"}
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


class Scope:
    """What ``viewer`` may open, as SQL conditions on a row, worked out once per search.

    The rules are the other apps' own querysets (``cases_visible``, ``customers_visible``,
    ``promises_visible``), compiled into a correlated ``EXISTS`` on the row's id. Building
    and compiling them costs milliseconds of Python each time (the case rule has a grant
    per app above cases), and a search asks them of cases, customers, messages and
    promises: so each is compiled once, and kept for the next search of the same teams
    (``_RULES``).
    """

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.teams = visible_team_ids(viewer)

    @property
    def scoped(self) -> bool:
        """Limited to some teams' work (agents, leads); False for admins and ``SYSTEM``."""
        return self.teams is not None

    def rule(self, name: str, column: str) -> tuple[str, list[Any]]:
        """``EXISTS (...)``: may the viewer open the case (``name`` "cases"), see the
        customer ("customers") or the promise ("promises") whose id is the SQL ``column``?
        (An alias of the outer query: the rule's own tables are unaliased.)"""
        sql, params = _rule(self, name)
        return f"EXISTS ({sql.replace(_ROW, column)})", params


# The row a compiled rule is asked about, replaced by the caller's column.
_ROW = "__search_row__"
# The other apps' rules, by name.
RULES = {"cases": cases_visible, "customers": customers_visible, "promises": promises_visible}
# Compiled rules by (database, rule, teams, grants): the SQL of each rule depends only on
# the viewer's teams (``visible_team_ids``) and on the case grants registered (fixed once
# the apps are ready; in the key all the same). A rule that came to depend on more of the
# viewer would have to join the key.
_RULES: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}
_RULES_MAX = 512


def _rule(scope: Scope, name: str) -> tuple[str, list[Any]]:
    teams = None if scope.teams is None else tuple(sorted(scope.teams))
    grant_ids = tuple(id(g) for g in grants("case.view"))
    key = (connection.alias, connection.vendor, name, teams, grant_ids)
    found = _RULES.get(key)
    if found is None:
        visible: QuerySet[Any] = RULES[name](viewer=scope.viewer)
        found = _subquery(visible.filter(pk=RawSQL(_ROW, [])).values("pk"))
        if len(_RULES) >= _RULES_MAX:
            _RULES.clear()
        _RULES[key] = found
    return found


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
    with custom_plans():  # the words decide the best plan: never one generic plan
        _search(results, kinds, Scope(viewer), q, limit)
    for name in kinds:
        found = getattr(results, name)
        results.more[name] = len(found) > limit
        setattr(results, name, found[:limit])
    return results


def _search(results: SearchResults, kinds: Sequence[str], scope: Scope, q: str, limit: int) -> None:
    if "customers" in kinds:
        results.customers = _customers(scope, q, limit)
    if "cases" in kinds:
        customers = results.customers if "customers" in kinds else None
        results.exact_case, results.cases = _cases(scope, q, limit, customers)
    words = query_words(q)
    if "interactions" in kinds and words:
        results.interactions, results.capped = _interactions(scope, words, limit)
    if "promises" in kinds:
        results.promises = _promises(scope, q, limit)
    if "articles" in kinds and words:
        results.articles = _articles(q, limit)


# --- cases and customers ------------------------------------------------------------

CASE_RELATED = ("customer", "team", "assignee")


def _ids(sql: str, params: list[Any]) -> list[int]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [row[0] for row in cur.fetchall()]


def _in_order(qs: QuerySet[Any], ids: list[int]) -> list[Any]:
    """The rows of ``ids``, in that order (one query by primary key)."""
    rows = qs.in_bulk(ids)
    return [rows[pk] for pk in ids if pk in rows]


def _containing_ids(scope: Scope, rule: str, table: str, column: str, q: str, n: int) -> list[int]:
    """The ids of the newest ``n`` rows of ``table`` the viewer may open (``rule``) whose
    ``column`` contains ``q``, in any case.

    On SQLite a query of three characters or more is answered by the trigram index of
    migration 0002, walked newest first (rowid order), each hit asked the visibility rule:
    a ``LIMIT`` stops the walk, so a subject in a tenth of 100,000 cases costs the first
    few dozen, not a sort of ten thousand. PostgreSQL's trigram index serves the ``LIKE``
    on ``UPPER(column)``; shorter queries on SQLite scan the table, as ``icontains`` does.
    """
    if connection.vendor == "sqlite" and len(q) >= TRIGRAM:
        fts = TRIGRAM_TABLES[table]
        # One quoted string: a substring to the trigram tokenizer, never FTS5 syntax.
        phrase = '"' + q.replace('"', '""') + '"'
        if not _ids(f"SELECT rowid FROM {fts} WHERE {fts} MATCH %s LIMIT 1", [phrase]):
            return []
        visible_sql, visible_params = scope.rule(rule, f"{fts}.rowid")
        return _ids(
            f"SELECT {fts}.rowid FROM {fts} WHERE {fts} MATCH %s AND {visible_sql} "
            f"ORDER BY {fts}.rowid DESC LIMIT %s",
            [phrase, *visible_params, n],
        )
    pattern = f"%{connection.ops.prep_for_like_query(q)}%"
    if connection.vendor == "postgresql":
        contains = f"UPPER(t.{column}::text) LIKE UPPER(%s)"
    else:
        contains = f"t.{column} LIKE %s ESCAPE '\\'"
    # Most words are in no name (or no subject): that is a query of the index alone, not
    # one with the rule, which PostgreSQL takes milliseconds to plan.
    if not _ids(f"SELECT 1 FROM {table} t WHERE {contains} LIMIT 1", [pattern]):
        return []
    visible_sql, visible_params = scope.rule(rule, "t.id")
    return _ids(
        f"SELECT t.id FROM {table} t WHERE {contains} AND {visible_sql} "
        "ORDER BY t.id DESC LIMIT %s",
        [pattern, *visible_params, n],
    )


def _cases(
    scope: Scope, q: str, limit: int, customers: list[Customer] | None
) -> tuple[Case | None, list[Case]]:
    """The case ``q`` names, then the cases whose subject contains ``q`` and the cases of
    the customers ``q`` finds (``customers``, or found here): the newest ``limit + 1``,
    most recently updated first."""
    cases = Case.objects.select_related(*CASE_RELATED)
    visible_sql, visible_params = scope.rule("cases", "c.id")
    number = ref_number(q)
    if number is None and q.isdigit() and len(q) <= 15:
        number = int(q)
    exact = None
    if number is not None:
        exact_ids = _ids(
            f"SELECT c.id FROM cases_case c WHERE c.number = %s AND {visible_sql}",
            [number, *visible_params],
        )
        exact = cases.filter(pk__in=exact_ids).first() if exact_ids else None
    if exact is not None and not q.isdigit():
        # A reference typed in full names one case; no subject holds it.
        return exact, [exact]
    ids = _containing_ids(scope, "cases", "cases_case", "subject", q, limit + 1)
    if customers is None:
        customers = _customers(scope, q, limit)
    if customers:
        # Searching a customer finds their cases too: the newest of those found.
        marks = ", ".join(["%s"] * len(customers))
        ids += _ids(
            f"SELECT c.id FROM cases_case c WHERE c.customer_id IN ({marks}) AND {visible_sql} "
            "ORDER BY c.number DESC LIMIT %s",
            [*(c.pk for c in customers), *visible_params, limit + 1],
        )
    found = sorted(cases.in_bulk(set(ids)).values(), key=lambda c: c.number, reverse=True)
    # The newest cases found, shown by their last update as the page says (an old case just
    # answered comes before a new one left alone): a sort of ``limit + 1`` rows, the
    # indexed walks above unchanged.
    found = sorted(found[: limit + 1], key=lambda c: (c.updated_at, c.number), reverse=True)
    if exact is not None:
        found = [exact, *(c for c in found if c.pk != exact.pk)]
    return exact, found


def _customers(scope: Scope, q: str, limit: int) -> list[Customer]:
    """Customers whose name contains ``q`` and those ``q`` is an identity of, newest first.

    The customers app's rule (``customers_matching``, the merge picker's), minus the
    ``#42`` form: the same identities (``identity_matches``), and names asked of the
    trigram index rather than through ``icontains``, which on SQLite scans the table."""
    ids = _containing_ids(scope, "customers", "customers_customer", "display_name", q, limit + 1)
    identities = identity_matches(q)
    if identities is not None:
        # A few identities at most (one per kind the query could be): the rule is asked
        # only when the query is someone's, not for every word typed.
        owners = set(Identity.objects.filter(identities).values_list("customer_id", flat=True))
        ids += _allowed(scope, "customers", "customers_customer", owners)
    return _in_order(Customer.objects.all(), sorted(set(ids), reverse=True)[: limit + 1])


# --- interactions ------------------------------------------------------------------------


def _subquery(qs: QuerySet[Any]) -> tuple[str, list[Any]]:
    """The SQL of a queryset, to put inside ``EXISTS (...)``; a queryset Django knows to
    be empty (``team_id IN ()``) is a subquery of no rows."""
    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:
        return "SELECT NULL WHERE 1 = 0", []
    return sql, list(params)


def _findable(scope: Scope, ids: list[int]) -> list[int]:
    """Of the messages ``ids``, those the viewer may find, in the same order.

    On a case: the viewer may open the case (``cases_visible``). On no case: the viewer
    may see the customer (``customers_visible``), as on the customer's timeline. Each rule
    is asked once, of the distinct cases or customers of these few messages: not one query
    joining both rules to the messages, which PostgreSQL takes 10 to 25 ms to plan (the
    customer rule holds the case rule again) and may answer by hashing every case the
    viewer may open.
    """
    if not scope.scoped or not ids:
        return ids
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id, case_id, customer_id FROM customers_interaction WHERE id IN ({marks})",
            ids,
        )
        rows = cur.fetchall()
    cases = _allowed(scope, "cases", "cases_case", {case for _, case, _ in rows if case})
    customers = _allowed(
        scope, "customers", "customers_customer", {who for _, case, who in rows if not case}
    )
    ok = {pk for pk, case, who in rows if (case in cases if case else who in customers)}
    return [pk for pk in ids if pk in ok]


def _allowed(scope: Scope, rule: str, table: str, ids: set[int]) -> set[int]:
    """Those of ``ids`` (rows of ``table``) the viewer may open, by ``rule``."""
    if not ids:
        return set()
    visible_sql, visible_params = scope.rule(rule, "t.id")
    marks = ", ".join(["%s"] * len(ids))
    return set(
        _ids(
            f"SELECT t.id FROM {table} t WHERE t.id IN ({marks}) AND {visible_sql}",
            [*ids, *visible_params],
        )
    )


def fts5_query(words: list[str]) -> str:
    """An FTS5 MATCH expression needing every word, each a quoted string (a double quote
    inside is doubled; ``\\w`` has none, but the quoting does not rely on that)."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _matches(words: list[str]) -> tuple[str, str, str, list[Any]]:
    """How to find the messages holding every word: the index's table, the message's id
    in it, the condition and its parameters. Both indexes walk in id order, so a ``LIMIT``
    on ``ORDER BY`` the id stops the walk (on SQLite the index's rowid, or the planner
    walks the million messages instead)."""
    vendor = connection.vendor
    if vendor == "sqlite":
        return FTS_TABLE, "rowid", f"{FTS_TABLE} MATCH %s", [fts5_query(words)]
    if vendor == "postgresql":
        # The stored vector of migration 0003, and its GIN index.
        return (
            "customers_interaction",
            "id",
            f"{TSVECTOR} @@ plainto_tsquery('english'::regconfig, %s)",
            [" ".join(words)],
        )
    raise NotImplementedError(f"full-text search is not set up for {vendor}")


def _interaction_ids(scope: Scope, words: list[str], limit: int) -> tuple[list[int], bool]:
    """The ids of the newest ``limit`` matching messages the viewer may find, and whether
    the answer is cut short by ``SCAN_CAP``.

    The matches are read newest first in growing slices (``limit``, then 8 times as many,
    then the rest up to ``SCAN_CAP``), and each slice's messages are asked the visibility
    rules (``_findable``). Small queries rather than one joining the rules to the walk: on
    PostgreSQL that one is planned with a rule turned into a hash of every case the viewer
    may open (130 ms for 100,000 cases, and seconds of JIT compilation), on SQLite a
    ``LIMIT`` inside it is read in full first. An agent who may open most matches is
    answered by the first slice; admins and ``SYSTEM`` see every match: no rule at all.

    For a viewer scoped to teams only the newest ``SCAN_CAP`` matches are looked at: a word
    in most of a million messages, of which the viewer may open few or none, would
    otherwise test every one of them against the visibility rule (seconds). ``True`` then
    says that older matches exist and were not looked at.
    """
    index, key, condition, params = _matches(words)
    newest = f"SELECT {key} FROM {index} WHERE {condition}"
    with connection.cursor() as cur:
        if not scope.scoped:
            cur.execute(f"{newest} ORDER BY {key} DESC LIMIT %s", [*params, limit])
            return [row[0] for row in cur.fetchall()], False
        found: list[int] = []
        older, looked, step, sizes = "", 0, min(limit, SCAN_CAP), iter((limit * 8,))
        while True:
            cur.execute(f"{newest}{older} ORDER BY {key} DESC LIMIT %s", [*params, step])
            slice_ids = [row[0] for row in cur.fetchall()]
            found += _findable(scope, slice_ids)[: limit - len(found)]
            looked += len(slice_ids)
            if len(found) >= limit or len(slice_ids) < step:
                return found, False
            older = f" AND {key} < {int(slice_ids[-1])}"
            if looked >= SCAN_CAP:
                break
            step = min(next(sizes, SCAN_CAP), SCAN_CAP - looked)
        # SCAN_CAP matches looked at: is there an older one?
        cur.execute(f"{newest}{older} LIMIT 1", params)
        return found, cur.fetchone() is not None


def _interactions(scope: Scope, words: list[str], limit: int) -> tuple[list[InteractionHit], bool]:
    """The newest ``limit + 1`` messages recorded that match, shown by when they happened:
    a message recorded late (mail fetched hours after it was sent, an import) takes its
    place by its time on the page, which is the time the page shows."""
    ids, capped = _interaction_ids(scope, words, limit + 1)
    rows = Interaction.objects.select_related("case", "customer", "actor").in_bulk(ids)
    hits = [
        InteractionHit(interaction=rows[pk], snippet=snippet(rows[pk].body, words))
        for pk in ids
        if pk in rows
    ]
    hits.sort(key=lambda h: (h.interaction.occurred_at, h.interaction.pk), reverse=True)
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


def _promises(scope: Scope, q: str, limit: int) -> list[Promise]:
    """Promises whose words or terms contain ``q``, newest made first."""
    matches = Promise.objects.filter(Q(text__icontains=q) | Q(terms__icontains=q))
    if not matches.exists():
        # Most queries match no promise: that is one plain query, not one with the rule.
        return []
    matches_sql, matches_params = _subquery(matches.values("pk"))
    visible_sql, visible_params = scope.rule("promises", "p.id")
    ids = _ids(
        f"SELECT p.id FROM promises_promise p WHERE p.id IN ({matches_sql}) AND {visible_sql} "
        "ORDER BY p.made_at DESC, p.id DESC LIMIT %s",
        [*matches_params, *visible_params, limit + 1],
    )
    # Only what the result shows is joined (the promises app's queryset joins 14 tables).
    return _in_order(Promise.objects.select_related("customer", "case"), ids)


def _articles(q: str, limit: int) -> list[Article]:
    hits = articles_search(q, limit=min(limit + 1, 100))
    return sorted((h.article for h in hits), key=lambda a: (a.updated_at, a.pk), reverse=True)
