"""A file import's write: a batch of mentions stored as they are, fast, and left for the
worker (``process``) to score and put on the timeline.

What a file import does per batch, in its caller's transaction:

1. Mentions already stored (by network and external id, the database's unique key) or
   repeated in the batch are skipped.
2. Each new one is matched against the watch terms and marked as the brand's own post or
   addressed to a brand (the rules of ``matching.batch_classify``), and given its
   conversation (``threads.batch_thread``).
3. Its author is found or created with the newest post's profile and fresh influence
   numbers, written as plain rows (no model instances); an author known as a customer
   links the mention to them.
4. The mentions are written with one ``rows_insert``, ``pending``: no sentiment yet, not on
   the timeline yet. ``process.mentions_process`` does both, in batches, in the worker.

The sentiment model and the timeline (cases, interactions, the loop engine) are what made an
import slow; both depend on nothing a later row of the file changes, so doing them after
stores the same rows (``tests/listening/test_mentions_pending.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from lastmile.core.db import rows_insert, rows_update, unprepared
from lastmile.listening.influence import engagement_of, influence_score, reach_of
from lastmile.listening.models import Author
from lastmile.listening.records import MentionIn
from lastmile.listening.services.batch import (
    Batch,
    IngestResult,
    MentionRow,
    mentions_known,
    network_where,
)
from lastmile.listening.services.matching import batch_classify
from lastmile.listening.services.terms import Terms
from lastmile.listening.services.threads import batch_thread
from lastmile.listening.services.writes import mentions_insert

AUTHOR_FIELDS = (
    "id",
    "network",
    "handle",
    "external_id",
    "name",
    "followers",
    "verified",
    "mention_count",
    "engagement",
    "reach",
    "customer_id",
)
AUTHOR_UPDATED = (
    "name",
    "external_id",
    "followers",
    "verified",
    "influence",
    "mention_count",
    "engagement",
    "reach",
    "updated_at",
)


def mentions_store(
    *, items: Sequence[MentionIn], now: datetime, terms: Terms | None = None
) -> IngestResult:
    """Store a batch of mentions, pending; idempotent on (network, external_id). Atomic; a
    concurrent import that stored one of them first makes the batch retry once, skipping
    it. ``terms``: the active watch terms, loaded once for a whole file."""
    terms = terms or Terms.load()
    for attempt in range(2):
        b = Batch(items, now=now)
        try:
            # Planned afresh on PostgreSQL: a plan kept from a file's first batches was made
            # for tables that were empty then (a scan), and every later batch would use it.
            with unprepared(), transaction.atomic():
                return _store(b, terms)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _store(b: Batch, terms: Terms) -> IngestResult:
    keys = [(it.network, it.external_id) for it in b.items]
    known = mentions_known(keys)
    for it, key in zip(b.items, keys, strict=True):
        if key not in known and key not in b.rows:
            b.rows[key] = MentionRow(item=it)
    if b.rows:
        batch_classify(b, terms)
        batch_thread(b)
        _authors_upsert(b)
        mentions_insert(b, pending=True)
    ids = {**known, **{k: r.pk for k, r in b.rows.items() if r.pk is not None}}
    b.result.ids = [ids[k] for k in keys]
    b.result.created = len(b.rows)
    b.result.existing = len(b.items) - len(b.rows)
    return b.result


def _authors_upsert(b: Batch) -> None:
    """The batch's authors as plain rows: found or inserted, the newest post's profile,
    their numbers and influence brought up to date, written back with one update."""
    rows = sorted(b.rows.values(), key=lambda r: r.item.posted_at)
    handles = {(r.item.network, r.item.author_handle) for r in rows}
    where, params = network_where((list(handles), "handle"))
    found: dict[tuple[str, str], dict[str, Any]] = {
        (a["network"], a["handle"]): a
        for a in Author.objects.extra(where=[where], params=params).values(*AUTHOR_FIELDS)
    }
    fresh: list[dict[str, Any]] = []
    stored = set(found)
    for r in rows:  # oldest first: the newest post's profile wins
        it, key = r.item, (r.item.network, r.item.author_handle)
        a = found.get(key)
        if a is None:
            a = found[key] = {
                "network": key[0],
                "handle": key[1],
                "external_id": "",
                "name": "",
                "followers": 0,
                "verified": False,
                "mention_count": 0,
                "engagement": 0,
                "reach": 0,
                "customer_id": None,
                "influence": 0.0,
                "updated_at": b.now,
            }
            fresh.append(a)
        a["name"] = it.author_name or a["name"]
        a["external_id"] = it.author_id or a["external_id"]
        if it.author_followers is not None:
            a["followers"] = it.author_followers
        if it.author_verified is not None:
            a["verified"] = it.author_verified
        a["mention_count"] += 1
        a["engagement"] += engagement_of(likes=it.likes, reposts=it.reposts, replies=it.replies)
        followers = it.author_followers if it.author_followers is not None else a["followers"]
        a["reach"] += reach_of(followers=followers, reposts=it.reposts, impressions=it.impressions)
    touched = [found[k] for k in handles]
    for a in touched:
        a["updated_at"] = b.now
        a["influence"] = influence_score(
            followers=a["followers"],
            engagement=a["engagement"],
            mentions=a["mention_count"],
            reach=a["reach"],
        )
    if fresh:
        for a, pk in zip(fresh, rows_insert(Author, fresh, returning=True), strict=True):
            a["id"] = pk
    rows_update(Author, [found[k] for k in handles & stored], AUTHOR_UPDATED)
    for r in rows:
        a = found[(r.item.network, r.item.author_handle)]
        r.author_pk, r.customer_id = a["id"], a["customer_id"]
