"""Importing mentions: a batch matched against the watch terms, its authors and their
influence, and the conversations addressed to a brand put on the timeline.

A mention addressed to a brand is an inbound interaction on its author's timeline, on one
case per (conversation, author); the loop engine opens the reply loop under the social SLA
(with the author's influence and the mention's sentiment, so a policy can tighten it), and
the brand's reply — an outbound interaction on the same case — closes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction

from lastmile.core.db import unprepared
from lastmile.customers.services.timeline import sentiments_score
from lastmile.listening.records import MentionIn
from lastmile.listening.services.batch import (
    Batch,
    IngestResult,
    MentionRow,
    Scores,
    mentions_known,
)
from lastmile.listening.services.matching import (
    batch_authors,
    batch_classify,
    batch_customers,
    batch_sentiment,
)
from lastmile.listening.services.threads import batch_thread, batch_timeline
from lastmile.listening.services.writes import mentions_write, timeline_write


def mentions_unscored(*, items: Sequence[MentionIn]) -> dict[tuple[str, str], str]:
    """The text of each mention not stored yet, by (network, external_id): what
    :func:`mentions_score` scores (a file import may score it in another process).
    Planned afresh each time on PostgreSQL, as a file import's batches are: a plan kept from
    the import's first batches would scan what was then an empty table."""
    with unprepared():
        known = mentions_known([(it.network, it.external_id) for it in items])
    fresh = {(it.network, it.external_id): it.text for it in items}
    for key in known:
        fresh.pop(key, None)
    return fresh


def mentions_score(*, items: Sequence[MentionIn]) -> Scores:
    """The sentiment of each mention not stored yet, by (network, external_id): the slow
    part of an ingest, done before its transaction (on SQLite the write lock is held from
    a transaction's first statement)."""
    fresh = mentions_unscored(items=items)
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
        batch = Batch(items, now=now, sentiments=scores)
        try:
            with transaction.atomic():
                return _run(batch)
        except IntegrityError:
            # A concurrent import stored one of these mentions (or authors) first; the
            # retry sees it and skips it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _run(b: Batch) -> IngestResult:
    """The import's steps over one batch, in its caller's transaction."""
    keys = [(it.network, it.external_id) for it in b.items]
    known = mentions_known(keys)
    for it in b.items:
        key = (it.network, it.external_id)
        if key not in known and key not in b.rows:
            b.rows[key] = MentionRow(item=it)
    if b.rows:
        batch_sentiment(b)
        batch_classify(b)
        batch_authors(b)
        batch_customers(b)
        batch_thread(b)
        batch_timeline(b)
        if b.entries:
            timeline_write(b)
        mentions_write(b)
    ids = {**known, **{k: r.pk for k, r in b.rows.items() if r.pk is not None}}
    b.result.ids = [ids[k] for k in keys]
    b.result.created = len(b.rows)
    b.result.existing = len(b.items) - len(b.rows)
    return b.result
