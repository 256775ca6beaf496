"""The worker's half of a file import: pending mentions scored for sentiment and, for those
addressed to a brand and the brand's replies, put on the timeline, batch by batch.

A file import (``store``) stores mentions ``pending``. :func:`mentions_process` takes the
oldest pending ones (in the order they were stored, which is the order a file import wrote
them), scores their texts in one call of the model (before its transaction: on SQLite the
write lock is held from a transaction's first statement), then, in one transaction, does
what ``mentions.mentions_ingest`` does after scoring: customers for the authors of
brand-addressed mentions, each one threaded onto its case (``threads.batch_timeline``), the
cases and interactions written and the loop engine reacting (``writes.timeline_write``:
reply loops opened under the social SLA with the mention's sentiment and its author's
influence, closed by the brand's replies), and the mentions updated, no longer pending.

- Idempotent: a batch commits with its mentions no longer pending, or not at all; a worker
  killed mid-batch leaves them pending for the next run.
- One batch at a time (on PostgreSQL an advisory lock held by the transaction; SQLite's
  IMMEDIATE transactions serialise writers): a second worker waits, then finds the mentions
  it read done already and skips them. Batches go in storing order, so a brand reply
  finds its parent's case as it would have at import.
- A mention an agent put on a case meanwhile (``replies.mention_case_open``) keeps it: it
  is only scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from lastmile.core.db import rows_update, unprepared
from lastmile.customers.services.timeline import sentiments_score
from lastmile.listening.models import Author, Mention
from lastmile.listening.records import MentionIn
from lastmile.listening.services.batch import (
    STORED_FIELDS,
    Batch,
    MentionRow,
    StoredMention,
    network_where,
)
from lastmile.listening.services.matching import addressed_brand, batch_customers, brand_term_of
from lastmile.listening.services.terms import Terms
from lastmile.listening.services.threads import batch_timeline
from lastmile.listening.services.writes import timeline_write

BATCH = 500  # as a file import writes them: the same threads land the same way
LOCK_KEY = 0x6C6D_6D70  # "lmmp": one processing transaction at a time (PostgreSQL)
FIELDS = (
    "pk",
    "network",
    "external_id",
    "author_id",
    "customer_id",
    "text",
    "posted_at",
    "url",
    "conversation_id",
    "in_reply_to_id",
    "in_reply_to_handle",
    "lang",
    "is_brand",
    "is_competitor",
    "is_from_brand",
    "likes",
    "reposts",
    "replies",
    "case_id",
    "interaction_id",
    "replied_at",
    "handled_at",
)


@dataclass
class Pending:
    pk: int
    network: str
    external_id: str
    author_id: int
    customer_id: int | None
    text: str
    posted_at: datetime
    url: str
    conversation_id: str
    in_reply_to_id: str
    in_reply_to_handle: str
    lang: str
    is_brand: bool
    is_competitor: bool
    is_from_brand: bool
    likes: int
    reposts: int
    replies: int
    case_id: int | None
    interaction_id: int | None
    replied_at: datetime | None
    handled_at: datetime | None


@dataclass
class ProcessResult:
    """What one or more batches did; ``score_seconds`` is the model's share of the time."""

    mentions: int = 0
    cases: int = 0
    interactions: int = 0
    batches: int = 0
    score_seconds: float = 0.0
    score_cpu_seconds: float = 0.0

    def add(self, other: ProcessResult) -> None:
        self.mentions += other.mentions
        self.cases += other.cases
        self.interactions += other.interactions
        self.batches += other.batches
        self.score_seconds += other.score_seconds
        self.score_cpu_seconds += other.score_cpu_seconds


def mentions_pending_count() -> int:
    return Mention.objects.filter(pending=True).count()


def mentions_process_all(*, now: datetime, batch: int = BATCH) -> ProcessResult:
    """Process pending mentions until none is left (each batch its own transaction)."""
    total = ProcessResult()
    while True:
        done = mentions_process(now=now, limit=batch)
        if not done.batches:
            return total
        total.add(done)


def mentions_process(*, now: datetime, limit: int = BATCH) -> ProcessResult:
    """Score and put on the timeline the oldest ``limit`` pending mentions (see the module).
    ``batches`` is 0 when there was nothing pending."""
    # Planned afresh on PostgreSQL, as an import's batches are (the tables grow under it).
    with unprepared():
        head = [
            Pending(*values)
            for values in Mention.objects.filter(pending=True)
            .order_by("pk")
            .values_list(*FIELDS)[:limit]
        ]
        if not head:
            return ProcessResult()
        started, cpu = time.perf_counter(), time.process_time()
        scores = sentiments_score([p.text for p in head])
        result = ProcessResult(
            score_seconds=time.perf_counter() - started,
            score_cpu_seconds=time.process_time() - cpu,
        )
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            still = set(
                Mention.objects.filter(pk__in=[p.pk for p in head], pending=True).values_list(
                    "pk", flat=True
                )
            )
            todo = [(p, s) for p, s in zip(head, scores, strict=True) if p.pk in still]
            if todo:
                _process(todo, now=now, result=result)
    result.batches = 1
    return result


def _process(todo: list[tuple[Pending, tuple[str, float]]], *, now: datetime, result: Any) -> None:
    terms = Terms.load()
    authors = Author.objects.in_bulk({p.author_id for p, _ in todo})
    through = Mention.terms.through
    matched: dict[int, list[int]] = {}
    for mention_id, term_id in through.objects.filter(
        mention_id__in=[p.pk for p, _ in todo]
    ).values_list("mention_id", "watchterm_id"):
        matched.setdefault(mention_id, []).append(term_id)
    b = Batch([], now=now)
    placed: dict[int, Pending] = {}  # mentions an agent put on a case meanwhile
    for p, sentiment in todo:
        author = authors[p.author_id]
        item = MentionIn(
            network=p.network,
            external_id=p.external_id,
            author_handle=author.handle,
            text=p.text,
            posted_at=p.posted_at,
            url=p.url,
            in_reply_to_id=p.in_reply_to_id,
            in_reply_to_handle=p.in_reply_to_handle,
            lang=p.lang,
            likes=p.likes,
            reposts=p.reposts,
            replies=p.replies,
        )
        on_case = p.case_id is not None or p.interaction_id is not None
        row = MentionRow(
            item=item,
            author_pk=p.author_id,
            customer_id=p.customer_id,
            term_ids=matched.get(p.pk, []),
            is_brand=p.is_brand and not on_case,
            is_competitor=p.is_competitor,
            is_from_brand=p.is_from_brand and not on_case,
            sentiment=sentiment,
            conversation_id=p.conversation_id,
            replied_at=p.replied_at,
            handled_at=p.handled_at,
            pk=p.pk,
        )
        row.brand_term = brand_term_of(
            terms,
            [terms.by_id[i] for i in row.term_ids if i in terms.by_id],
            addressed_brand(terms, item),
        )
        if on_case:
            placed[p.pk] = p
        b.rows[(p.network, p.external_id)] = row
        b.authors[(author.network, author.handle)] = author
    _stored_load(b)
    batch_customers(b)
    batch_timeline(b)
    if b.entries:
        timeline_write(b)
    rows = list(b.rows.values())
    rows_update(
        Mention,
        [
            {
                "pk": r.pk,
                "sentiment_label": r.sentiment[0],
                "sentiment_score": r.sentiment[1],
                "customer_id": r.customer_id,
                "case_id": placed[r.pk].case_id if r.pk in placed else r.case_id,
                "interaction_id": (
                    placed[r.pk].interaction_id if r.pk in placed else r.interaction_id
                ),
                "reply_loop_id": r.reply_loop_id,
                "replied_at": r.replied_at,
                "handled_at": r.handled_at,
                "pending": False,
            }
            for r in rows
            if r.pk not in placed
        ],
        [
            "sentiment_label",
            "sentiment_score",
            "customer",
            "case",
            "interaction",
            "reply_loop",
            "replied_at",
            "handled_at",
            "pending",
        ],
    )
    rows_update(
        Mention,
        [
            {"pk": r.pk, "sentiment_label": r.sentiment[0], "sentiment_score": r.sentiment[1]}
            for r in rows
            if r.pk in placed
        ],
        ["sentiment_label", "sentiment_score"],
    )
    Mention.objects.filter(pk__in=list(placed), pending=True).update(pending=False)
    done = [r for r in b.late if r.interaction_id is not None]
    rows_update(
        Mention,
        [{"pk": r.pk, "interaction_id": r.interaction_id, "case_id": r.case_id} for r in done],
        ["interaction", "case"],
    )
    rows_update(Author, list(b.authors.values()), ["customer"])
    result.mentions += len(rows)
    result.cases += b.result.cases
    result.interactions += b.result.interactions


def _stored_load(b: Batch) -> None:
    """The processed mentions linked to the batch's (their parents, and stored replies to
    them): what ``threads.batch_thread`` reads at import, as the import would have seen
    them when it wrote this batch. Pending ones are later in storing order: not yet."""
    rows = b.rows
    refs = {(network, r.item.in_reply_to_id) for (network, _), r in rows.items()}
    refs = {k for k in refs if k[1]} - set(rows)
    where, params = network_where((list(refs), "external_id"), (list(rows), "in_reply_to_id"))
    stored = Mention.objects.extra(where=[where], params=params).filter(pending=False)
    for values in stored.values_list(*STORED_FIELDS):
        s = StoredMention(*values)
        b.stored[(s.network, s.external_id)] = s
        if s.in_reply_to_id:
            b.stored_replies[(s.network, s.in_reply_to_id)].append(s)
