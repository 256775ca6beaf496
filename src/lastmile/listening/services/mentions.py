"""Importing mentions: a batch matched against the watch terms, its authors and their
influence, and the conversations addressed to a brand put on the timeline.

A mention addressed to a brand is an inbound interaction on its author's timeline, on one
case per (conversation, author); the loop engine opens the reply loop under the social SLA
(with the author's influence and the mention's sentiment, so a policy can tighten it), and
the brand's reply — an outbound interaction on the same case — closes it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from lastmile.cases.models import Case
from lastmile.cases.services import CaseIn, case_subject_checked, cases_insert
from lastmile.core.db import rows_insert, rows_update
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import Customer, Direction, IdentityKind
from lastmile.customers.services import (
    CustomerWanted,
    InteractionRow,
    customer_ids_live,
    customers_resolve,
    identities_owners,
    interactions_write,
    sentiments_score,
)
from lastmile.listening.influence import engagement_of, influence_score, reach_of
from lastmile.listening.models import Author, Mention, WatchTerm, WatchTermKind
from lastmile.listening.query import Text
from lastmile.listening.records import MentionIn
from lastmile.listening.services.terms import Terms
from lastmile.loops.models import LoopState
from lastmile.loops.selectors import reply_loops_facts, reply_loops_open


@dataclass
class IngestResult:
    """Ids in input order (the stored row's id for a mention seen before) and counts."""

    ids: list[int] = field(default_factory=list)
    created: int = 0
    existing: int = 0
    cases: int = 0
    interactions: int = 0


def channel_of(network: str) -> str:
    return f"social:{network}"


Scores = dict[tuple[str, str], tuple[str, float]]


def mentions_score(*, items: Sequence[MentionIn]) -> Scores:
    """The sentiment of each mention not stored yet, by (network, external_id): the slow
    part of an ingest, done before its transaction (on SQLite the write lock is held from
    a transaction's first statement)."""
    known = _Batch.known_ids([(it.network, it.external_id) for it in items])
    fresh = {(it.network, it.external_id): it.text for it in items}
    for key in known:
        fresh.pop(key, None)
    return dict(zip(fresh, sentiments_score(list(fresh.values())), strict=True))


def mentions_ingest(
    *, items: Sequence[MentionIn], now: datetime, scores: Scores | None = None
) -> IngestResult:
    """Store a batch of mentions atomically; idempotent on (network, external_id).

    1. Mentions already stored (or repeated in the batch) are not stored again.
    2. Each new one is matched against the watch terms, scored for sentiment (one batch
       call), and its author upserted with fresh influence numbers.
    3. Brand-addressed ones are resolved to a customer (social-handle identity), threaded
       onto one case per (conversation, author) and recorded as inbound interactions — the
       loop engine opens the reply loop. The brand's replies are recorded as outbound
       interactions on the same case, which closes it, in posting order. The batch's new
       cases are written at once (``cases_insert``), then all its interactions
       (``interactions_write``), to which the loop engine reacts as one batch.
    4. A brand reply whose parent is not known yet is stored alone; it is put on the
       timeline when its parent arrives (a later batch or a rerun).
    Any failure rolls the whole batch back. ``scores`` are the sentiments from
    :func:`mentions_score` when the caller computed them already (outside its transaction).
    """
    if scores is None:
        scores = mentions_score(items=items)
    for attempt in range(2):
        batch = _Batch(items, now=now, sentiments=scores)
        try:
            with transaction.atomic():
                return batch.run()
        except IntegrityError:
            # A concurrent import stored one of these mentions (or authors) first; the
            # retry sees it and skips it.
            if attempt:
                raise
    raise AssertionError("unreachable")


@dataclass
class _Row:
    """A mention being built: the input, what it matched, and where it landed."""

    item: MentionIn
    author_pk: int = 0
    customer_id: int | None = None
    term_ids: list[int] = field(default_factory=list)
    brand_term: WatchTerm | None = None
    is_brand: bool = False
    is_competitor: bool = False
    is_from_brand: bool = False
    sentiment: tuple[str, float] = ("neutral", 0.0)
    conversation_id: str = ""
    case_id: int | None = None
    interaction_id: int | None = None
    reply_loop_id: int | None = None
    replied_at: datetime | None = None
    handled_at: datetime | None = None
    pk: int | None = None  # set for stored mentions taking part (late replies)


@dataclass
class _Stored:
    """A stored mention a new one links to (parent, reply or same conversation)."""

    pk: int
    network: str
    external_id: str
    conversation_id: str
    in_reply_to_id: str
    case_id: int | None
    customer_id: int | None
    author_id: int
    is_brand: bool
    is_from_brand: bool
    interaction_id: int | None
    posted_at: datetime
    text: str
    sentiment_label: str | None
    sentiment_score: float | None


@dataclass
class _NewCase:
    """A case this batch opens (as ``case_create`` would: its subject checked the same
    way); ``pk`` is a negative placeholder until ``cases_insert`` writes it."""

    pk: int
    customer: Any
    subject: str
    team: Any
    channel: str
    created_at: datetime


@dataclass
class _Entry:
    """A mention going on the timeline: its case, and the interaction once it is built."""

    row: _Row
    case: Any  # a Case, or a _NewCase
    direction: str
    data: dict[str, Any]
    sentiment: tuple[str, float] | None = None
    interaction: Any = None  # the InteractionRow written


STORED_FIELDS = (
    "pk",
    "network",
    "external_id",
    "conversation_id",
    "in_reply_to_id",
    "case_id",
    "customer_id",
    "author_id",
    "is_brand",
    "is_from_brand",
    "interaction_id",
    "posted_at",
    "text",
    "sentiment_label",
    "sentiment_score",
)


class _Batch:
    def __init__(
        self,
        items: Sequence[MentionIn],
        *,
        now: datetime,
        sentiments: dict[tuple[str, str], tuple[str, float]] | None = None,
    ) -> None:
        self.items = list(items)
        self.now = now
        self.sentiments = sentiments or {}
        self.result = IngestResult()
        self.rows: dict[tuple[str, str], _Row] = {}
        self.authors: dict[tuple[str, str], Author] = {}
        self.stored: dict[tuple[str, str], _Stored] = {}
        self.stored_replies: dict[tuple[str, str], list[_Stored]] = defaultdict(list)
        self.cases: dict[tuple[str, str, int], Any] = {}  # (network, conversation, customer)
        self.case_objects: dict[int, Any] = {}
        self.late: list[_Row] = []
        self.new_cases: list[_NewCase] = []
        self.entries: list[_Entry] = []  # the batch's timeline, in recording order
        self.answered: list[tuple[int, datetime]] = []  # (stored case, a reply's time)
        self.customers: dict[int, Any] = {}

    # 1. what is new ----------------------------------------------------------------------

    def run(self) -> IngestResult:
        keys = [(it.network, it.external_id) for it in self.items]
        known = self.known_ids(keys)
        for it in self.items:
            key = (it.network, it.external_id)
            if key not in known and key not in self.rows:
                self.rows[key] = _Row(item=it)
        if self.rows:
            self._classify()
            self._authors()
            self._customers()
            self._thread()
            self._timeline()
            self._write()
        ids = {**known, **{k: r.pk for k, r in self.rows.items() if r.pk is not None}}
        self.result.ids = [ids[k] for k in keys]
        self.result.created = len(self.rows)
        self.result.existing = len(self.items) - len(self.rows)
        return self.result

    @staticmethod
    def _by_network(pairs: Sequence[tuple[str, str]], column: str = "external_id") -> Q:
        grouped: dict[str, set[str]] = defaultdict(set)
        for network, value in pairs:
            grouped[network].add(value)
        q = Q(pk__in=[])
        for network, values in grouped.items():
            q |= Q(network=network, **{f"{column}__in": values})
        return q

    @classmethod
    def known_ids(cls, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        if not keys:
            return {}
        return {
            (network, ext): pk
            for pk, network, ext in Mention.objects.filter(cls._by_network(keys)).values_list(
                "pk", "network", "external_id"
            )
        }

    # 2. terms, brand, sentiment ----------------------------------------------------------

    def _classify(self) -> None:
        terms = Terms.load()
        rows = list(self.rows.values())

        missing = [r for r in rows if (r.item.network, r.item.external_id) not in self.sentiments]
        scores = sentiments_score([r.item.text for r in missing])
        for r, scored in zip(missing, scores, strict=True):
            self.sentiments[(r.item.network, r.item.external_id)] = scored
        for row in rows:
            it = row.item
            row.sentiment = self.sentiments[(it.network, it.external_id)]
            row.term_ids = terms.matcher.match(it.text) if terms.matcher.queries else []
            matched = [terms.by_id[i] for i in row.term_ids]
            row.is_competitor = any(t.kind == WatchTermKind.COMPETITOR for t in matched)
            row.is_from_brand = (
                it.from_brand
                if it.from_brand is not None
                else it.author_handle in terms.brand_handles
            )
            brand_terms = [t for t in matched if t.kind == WatchTermKind.BRAND]
            # Addressed to a brand: a reply to its account or its @handle in the text. A
            # post that only names the brand is listening data, not a message owed a reply.
            addressed = (
                terms.brand_handles.get(it.in_reply_to_handle) if it.in_reply_to_handle else None
            )
            if addressed is None and terms.brand_handles:
                words = Text(it.text).words
                addressed = next(
                    (t for h, t in terms.brand_handles.items() if "@" + h in words), None
                )
            row.brand_term = addressed or next(
                (t for t in brand_terms if t.team_id), brand_terms[0] if brand_terms else None
            )
            if row.is_from_brand:
                row.is_brand = False
            elif it.to_brand is not None:
                row.is_brand = it.to_brand  # the source knows (TWCS "inbound")
            else:
                row.is_brand = addressed is not None

    # 3. authors and their influence ------------------------------------------------------

    def _authors(self) -> None:
        handles = {(r.item.network, r.item.author_handle) for r in self.rows.values()}
        for a in Author.objects.filter(self._by_network(list(handles), "handle")):
            self.authors[(a.network, a.handle)] = a
        latest: dict[tuple[str, str], MentionIn] = {}
        for r in sorted(self.rows.values(), key=lambda r: r.item.posted_at):
            latest[(r.item.network, r.item.author_handle)] = r.item
        fresh: list[Author] = []
        for key, it in latest.items():
            found = self.authors.get(key)
            a = (
                found
                if found is not None
                else Author(network=key[0], handle=key[1], updated_at=self.now)
            )
            if found is None:
                self.authors[key] = a
                fresh.append(a)
            # The newest post's profile wins (names and follower counts change).
            a.name = it.author_name or a.name
            a.external_id = it.author_id or a.external_id
            if it.author_followers is not None:
                a.followers = it.author_followers
            if it.author_verified is not None:
                a.verified = it.author_verified
            a.updated_at = self.now
        if fresh:
            pks = rows_insert(Author, fresh, returning=True)
            for a, pk in zip(fresh, pks, strict=True):
                a.pk = pk
        for r in self.rows.values():
            a = self.authors[(r.item.network, r.item.author_handle)]
            it = r.item
            r.author_pk = a.pk
            a.mention_count += 1
            a.engagement += engagement_of(likes=it.likes, reposts=it.reposts, replies=it.replies)
            followers = it.author_followers if it.author_followers is not None else a.followers
            a.reach += reach_of(followers=followers, reposts=it.reposts, impressions=it.impressions)
        for a in self.authors.values():
            a.influence = influence_score(
                followers=a.followers,
                engagement=a.engagement,
                mentions=a.mention_count,
                reach=a.reach,
            )

    # 4. customers ------------------------------------------------------------------------

    def _customers(self) -> None:
        """Authors of brand-addressed mentions become customers (found by their handle, or
        created); any other author already known as a customer is linked too."""

        def key(a: Author) -> IdentityKey:
            return IdentityKey(IdentityKind.SOCIAL, a.network, a.handle)

        unknown = [a for a in self.authors.values() if a.customer_id is None]
        if unknown:
            found = identities_owners(key(a) for a in unknown)
            for a in unknown:
                a.customer_id = found.get(key(a))
        need = sorted(
            (r for r in self.rows.values() if r.is_brand),
            key=lambda r: r.item.posted_at,
        )
        # A customer per unknown handle, created at the author's first post here.
        fresh: dict[tuple[str, str], CustomerWanted] = {}
        for r in need:
            a = self.authors[(r.item.network, r.item.author_handle)]
            if a.customer_id is None and (a.network, a.handle) not in fresh:
                fresh[(a.network, a.handle)] = CustomerWanted(
                    identities=[key(a)], display_name=a.name or f"@{a.handle}", at=r.item.posted_at
                )
        if fresh:
            done = customers_resolve(wanted=list(fresh.values()), now=self.now)
            for (handle, wanted), resolved in zip(fresh.items(), done, strict=True):
                self.authors[handle].customer_id = resolved.customer_id
                if resolved.created:
                    self.customers[resolved.customer_id] = Customer(
                        pk=resolved.customer_id,
                        display_name=wanted.display_name[:200],
                        created_at=wanted.at or self.now,
                    )
        for r in self.rows.values():
            r.customer_id = self.authors[(r.item.network, r.item.author_handle)].customer_id
        wanted_ids = {r.customer_id for r in need if r.customer_id not in self.customers}
        if wanted_ids:
            self.customers.update(Customer.objects.in_bulk(wanted_ids))

    # 5. conversations --------------------------------------------------------------------

    def _thread(self) -> None:
        """Give each new mention its conversation id, whatever order a thread arrives in.

        A source that names the conversation (Twitter API v2) is taken at its word. Else
        the posts linked by reply ids — in this batch, or stored — form one conversation,
        named by the stored one if there is one, else by the oldest post's parent (or the
        post itself): the same name a later import reaches from either end of the thread.
        """
        rows = self.rows
        refs: set[tuple[str, str]] = set()
        for (network, _), r in rows.items():
            if r.item.in_reply_to_id:
                refs.add((network, r.item.in_reply_to_id))
            refs.update((network, i) for i in r.item.reply_ids)
        refs -= set(rows)
        q = self._by_network(list(refs)) | self._by_network(list(rows), "in_reply_to_id")
        for values in Mention.objects.filter(q).values_list(*STORED_FIELDS):
            s = _Stored(*values)
            self.stored[(s.network, s.external_id)] = s
            if s.in_reply_to_id:
                self.stored_replies[(s.network, s.in_reply_to_id)].append(s)

        parent: dict[tuple[str, str], tuple[str, str]] = {k: k for k in rows}

        def find(k: tuple[str, str]) -> tuple[str, str]:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        def union(a: tuple[str, str], b: tuple[str, str]) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[rb] = ra

        for (network, ext), r in rows.items():
            for other in (r.item.in_reply_to_id, *r.item.reply_ids):
                if other and (network, other) in rows:
                    union((network, ext), (network, other))
        groups: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for k, r in rows.items():
            groups[find(k)].append(r)
        for members in groups.values():
            members.sort(key=lambda r: (r.item.posted_at, r.item.external_id))
            network = members[0].item.network
            linked = sorted(
                (
                    s
                    for m in members
                    for ref in (m.item.in_reply_to_id, *m.item.reply_ids, m.item.external_id)
                    for s in self._linked(network, ref, m.item.external_id)
                    if s.conversation_id
                ),
                key=lambda s: (s.posted_at, s.pk),
            )
            oldest = members[0].item
            name = (
                linked[0].conversation_id
                if linked
                else (oldest.in_reply_to_id or oldest.external_id)
            )
            for m in members:
                m.conversation_id = m.item.conversation_id or name

    def _linked(self, network: str, ref: str, own: str) -> list[_Stored]:
        """Stored mentions linked to a new one: ``ref`` is its parent or a reply (by id),
        or its own id (stored replies pointing at it)."""
        if ref == own:
            return list(self.stored_replies.get((network, own), ()))
        s = self.stored.get((network, ref))
        return [s] if s is not None else []

    # 6. the timeline: cases, interactions, loops -----------------------------------------

    def _timeline(self) -> None:
        rows = self.rows
        # Stored brand replies still waiting for their parent, now arriving.
        for (network, _), s in list(self.stored.items()):
            if s.is_from_brand and s.interaction_id is None and (network, s.in_reply_to_id) in rows:
                item = MentionIn(
                    network=network,
                    external_id=s.external_id,
                    author_handle="",
                    text=s.text,
                    posted_at=s.posted_at,
                    in_reply_to_id=s.in_reply_to_id,
                )
                late = _Row(item=item, is_from_brand=True, pk=s.pk, author_pk=s.author_id)
                # Its interaction's data as if it had arrived with its parent.
                late.sentiment = (s.sentiment_label or "neutral", s.sentiment_score or 0.0)
                late.conversation_id = s.conversation_id
                self.late.append(late)
        self.cases.update(self._stored_cases())
        events = sorted(
            [*rows.values(), *self.late], key=lambda r: (r.item.posted_at, r.item.external_id)
        )
        waiting: list[_Row] = []
        for r in events:
            if r.is_brand and r.customer_id is not None:
                self._inbound(r)
            elif r.is_from_brand and not self._outbound(r):
                waiting.append(r)
        # A reply stamped before its parent (clocks differ): one more pass after the parents.
        for r in waiting:
            self._outbound(r)
        if self.entries:
            self._write_timeline()

    def _stored_cases(self) -> dict[tuple[str, str, int], Any]:
        convs = {
            (r.item.network, r.conversation_id)
            for r in self.rows.values()
            if r.is_brand and r.conversation_id
        }
        if not convs:
            return {}
        q = Q(pk__in=[])
        grouped: dict[str, set[str]] = defaultdict(set)
        for network, conv in convs:
            grouped[network].add(conv)
        for network, conv_ids in grouped.items():
            q |= Q(network=network, conversation_id__in=conv_ids)
        found: dict[tuple[str, str, int], int] = {}
        for network, conv, customer_id, case_id in (
            Mention.objects.filter(q, case__isnull=False, is_brand=True, customer__isnull=False)
            .order_by("posted_at", "pk")
            .values_list("network", "conversation_id", "customer_id", "case_id")
        ):
            found.setdefault((network, conv, customer_id), case_id)
        cases = Case.objects.select_related("customer", "team", "assignee").in_bulk(
            set(found.values())
        )
        self.case_objects.update(cases)
        return {k: cases[v] for k, v in found.items() if v in cases}

    def _case_for(self, r: _Row) -> Any:
        """The case of the mention's conversation with its author: stored, or opened by
        this batch (a placeholder until the batch's cases are written)."""
        key = (r.item.network, r.conversation_id, r.customer_id)
        case = self.cases.get(key)  # type: ignore[arg-type]
        if case is None:
            first_line = " ".join(r.item.text.split())[:120]
            customer = self.customers.get(r.customer_id)  # type: ignore[arg-type]
            if customer is None:
                customer = Customer.objects.get(pk=r.customer_id or 0)
            case = _NewCase(
                pk=-(len(self.new_cases) + 1),
                customer=customer,
                subject=case_subject_checked(
                    f"@{r.item.author_handle} on {r.item.network}: {first_line}"
                ),
                team=r.brand_term.team if r.brand_term is not None else None,
                channel=channel_of(r.item.network),
                created_at=r.item.posted_at,
            )
            self.new_cases.append(case)
            self.cases[key] = case  # type: ignore[index]
            self.case_objects[case.pk] = case
            self.result.cases += 1
        return case

    def _interaction_data(self, r: _Row, influence: float | None) -> dict[str, Any]:
        it = r.item
        return mention_interaction_data(
            network=it.network,
            external_id=it.external_id,
            url=it.url,
            sentiment=r.sentiment,
            influence=influence,
            handle=it.author_handle,
        )

    def _inbound(self, r: _Row) -> None:
        case = self._case_for(r)
        author = self.authors[(r.item.network, r.item.author_handle)]
        self._record(
            _Entry(
                row=r,
                case=case,
                direction=Direction.INBOUND,
                data=self._interaction_data(r, author.influence),
                sentiment=r.sentiment,  # scored with the batch already
            )
        )

    def _record(self, entry: _Entry) -> None:
        """The mention as an interaction on its case, written with the batch's others."""
        self.entries.append(entry)
        self.result.interactions += 1
        entry.row.case_id = entry.case.pk

    def _target_case(self, r: _Row) -> Any:
        """The case a brand reply answers: its parent's (a new or a stored mention)."""
        network, ref = r.item.network, r.item.in_reply_to_id
        if ref:
            parent = self.rows.get((network, ref))
            if parent is not None and parent.case_id is not None:
                return self.case_objects.get(parent.case_id)
            stored = self.stored.get((network, ref))
            if stored is not None and stored.case_id is not None:
                if stored.case_id not in self.case_objects:
                    self.case_objects[stored.case_id] = Case.objects.select_related("customer").get(
                        pk=stored.case_id
                    )
                return self.case_objects[stored.case_id]
        if r.item.in_reply_to_handle:
            author = self.authors.get((network, r.item.in_reply_to_handle))
            if author is None:
                author = Author.objects.filter(
                    network=network, handle=r.item.in_reply_to_handle
                ).first()
            if author is not None and author.customer_id is not None:
                return self.cases.get((network, r.conversation_id, author.customer_id))
        return None

    def _outbound(self, r: _Row) -> bool:
        case = self._target_case(r)
        if case is None:
            return False
        self._record(
            _Entry(
                row=r, case=case, direction=Direction.OUTBOUND, data=self._interaction_data(r, None)
            )
        )
        if not isinstance(case, _NewCase):
            # Stored mentions of this conversation the reply answers (their loop, if any,
            # is closed by the loop engine; mentions without one are marked after it).
            self.answered.append((case.pk, r.item.posted_at))
        return True

    def _write_timeline(self) -> None:
        """Write the batch's cases and interactions (the loop engine reacts to them), then
        link each mention to the reply loop it is on and mark what the replies answered."""
        entries = self.entries
        # 1. The reply loop open on each stored case before the batch (the newest).
        stored_cases = {e.case.pk for e in entries if not isinstance(e.case, _NewCase)}
        current: dict[int, int | None] = {}
        if stored_cases:
            current.update(reply_loops_open(case_ids=stored_cases))
        # 2. The new cases, then the interactions, on each case's live customer.
        pks = cases_insert(
            cases=[
                CaseIn(
                    customer_id=c.customer.pk,
                    subject=c.subject,
                    now=c.created_at,
                    team=c.team,
                    channel=c.channel,
                )
                for c in self.new_cases
            ]
        )
        written = {c.pk: pk for c, pk in zip(self.new_cases, pks, strict=True)}
        merged = {e.case.customer.pk for e in entries if e.case.customer.merged_into_id}
        live = customer_ids_live(merged) if merged else {}
        for e in entries:
            it = e.row.item
            e.row.case_id = written.get(e.case.pk, e.case.pk)
            e.interaction = InteractionRow(
                customer_id=live.get(e.case.customer.pk, e.case.customer.pk),
                case_id=e.row.case_id,
                channel=channel_of(it.network),
                direction=e.direction,
                occurred_at=it.posted_at,
                body=it.text,
                data=e.data,
                source_id=it.external_id,
                sentiment=e.sentiment,
            )
        ids = interactions_write(rows=[e.interaction for e in entries], now=self.now)
        for e, pk in zip(entries, ids, strict=True):
            e.row.interaction_id = pk
        # 3. Follow the reply loops in recording order: a mention is on the loop its
        # interaction opened, else on the one open on its case; a loop a reply closed
        # marks its mentions answered (handled, if cancelled) when it closed.
        opened = [e.interaction.pk for e in entries if e.interaction.pk is not None]
        loops: dict[int, tuple[str, datetime, datetime | None]] = {}
        opened_by: dict[int, int] = {}
        known = [pk for pk in current.values() if pk is not None]
        for pk, opener, state, opened_at, closed_at in reply_loops_facts(
            opened_by=opened, pks=known
        ):
            loops[pk] = (state, opened_at, closed_at)
            if opener is not None:
                opened_by[opener] = pk
        on_case: dict[int, list[_Row]] = defaultdict(list)
        for e in entries:
            r, case_id, new = e.row, e.row.case_id, e.interaction.pk
            assert case_id is not None
            if e.direction != Direction.OUTBOUND:
                if new is not None and new in opened_by:
                    current[case_id] = opened_by[new]
                r.reply_loop_id = current.get(case_id)
                on_case[case_id].append(r)
                continue
            posted = r.item.posted_at
            loop_id = current.get(case_id)
            if loop_id is not None and new is not None:
                state, opened_at, closed_at = loops[loop_id]
                if state != LoopState.OPEN and opened_at <= min(posted, self.now):
                    current[case_id] = None  # this reply closed it
                    for m in on_case[case_id]:
                        if m.reply_loop_id == loop_id:
                            m.handled_at = m.handled_at or closed_at
                            if state == LoopState.CLOSED:
                                m.replied_at = m.replied_at or closed_at
            for m in on_case[case_id]:
                if m.replied_at is None and m.item.posted_at <= posted:
                    m.replied_at = posted
                    m.handled_at = m.handled_at or posted
        # 4. Stored mentions the replies to stored cases answer (those on a loop were
        # marked when the loop engine closed it).
        for case_id, at in self.answered:
            Mention.objects.filter(
                Q(replied_at__isnull=True) | Q(handled_at__isnull=True),
                case_id=case_id,
                is_brand=True,
                is_from_brand=False,
                posted_at__lte=at,
            ).update(
                replied_at=Coalesce(F("replied_at"), Value(at)),
                handled_at=Coalesce(F("handled_at"), Value(at)),
            )

    # 7. write ----------------------------------------------------------------------------

    def _write(self) -> None:
        rows = list(self.rows.values())
        pks = rows_insert(
            Mention,
            [
                {
                    "network": r.item.network,
                    "external_id": r.item.external_id,
                    "author_id": r.author_pk,
                    "customer_id": r.customer_id,
                    "text": r.item.text,
                    "posted_at": r.item.posted_at,
                    "url": r.item.url,
                    "conversation_id": r.conversation_id,
                    "in_reply_to_id": r.item.in_reply_to_id,
                    "lang": r.item.lang,
                    "is_brand": r.is_brand,
                    "is_competitor": r.is_competitor,
                    "is_from_brand": r.is_from_brand,
                    "sentiment_label": r.sentiment[0],
                    "sentiment_score": r.sentiment[1],
                    "likes": r.item.likes,
                    "reposts": r.item.reposts,
                    "replies": r.item.replies,
                    "case_id": r.case_id,
                    "interaction_id": r.interaction_id,
                    "reply_loop_id": r.reply_loop_id,
                    "replied_at": r.replied_at,
                    "handled_at": r.handled_at,
                    "imported_at": self.now,
                }
                for r in rows
            ],
            returning=True,
        )
        for r, pk in zip(rows, pks, strict=True):
            r.pk = pk
        through = Mention.terms.through
        rows_insert(
            through,
            [{"mention_id": r.pk, "watchterm_id": t} for r in rows for t in r.term_ids],
        )
        done = [r for r in self.late if r.interaction_id is not None]
        rows_update(
            Mention,
            [{"pk": r.pk, "interaction_id": r.interaction_id, "case_id": r.case_id} for r in done],
            ["interaction", "case"],
        )
        rows_update(
            Author,
            list(self.authors.values()),
            [
                "name",
                "external_id",
                "followers",
                "verified",
                "influence",
                "mention_count",
                "engagement",
                "reach",
                "customer",
                "updated_at",
            ],
        )


def mention_interaction_data(
    *,
    network: str,
    external_id: str,
    url: str,
    sentiment: tuple[str, float],
    influence: float | None,
    handle: str,
) -> dict[str, Any]:
    """The ``data`` of a mention's interaction on the timeline; the author's influence and
    the sentiment take part in the reply loop's SLA policy match."""
    data: dict[str, Any] = {
        "mention": {"network": network, "id": external_id, "url": url or None},
        "sentiment": sentiment[0],
        "sentiment_score": sentiment[1],
    }
    if influence is not None:
        data["influence"] = influence
        data["author"] = f"@{handle}"
    return data
