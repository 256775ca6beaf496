"""Mentions for the crisis tests, written straight to the listening tables (no test here).

Days of ordinary chatter about a brand with a deterministic wobble, then a negativity spike,
and mentions addressed to the brand with a real case and reply loop (through the customers
and cases services, as listening's ingest makes them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lastmile.cases.services import case_create
from lastmile.core.db import rows_insert
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.listening.models import Author, Mention, WatchTerm
from lastmile.loops.models import Loop, SlaPolicy

BUCKET = timedelta(minutes=5)
_seq = {"n": 0}


def term_make(
    *,
    team: Any,
    now: datetime,
    name: str = "Lastmile Bank",
    kind: str = "brand",
    handle: str = "@lastmilebank",
) -> WatchTerm:
    return WatchTerm.objects.create(
        name=name,
        query=handle if kind == "brand" else name,
        kind=kind,
        brand_handle=handle if kind == "brand" else "",
        team=team,
        created_at=now,
    )


def authors_make(n: int, *, now: datetime, prefix: str = "user") -> list[Author]:
    return Author.objects.bulk_create(
        [
            Author(
                network="twitter",
                handle=f"{prefix}{i}",
                name=f"User {i}",
                followers=100 * (i + 1),
                influence=float(i % 50),
                updated_at=now,
            )
            for i in range(n)
        ]
    )


def mentions_make(term: WatchTerm, specs: list[dict[str, Any]], *, now: datetime) -> list[Mention]:
    """Insert mentions of ``term`` as plain rows (thousands per test: the ORM's bulk_create is
    too slow for that); each spec gives posted_at, author, and optionally network, url,
    sentiment, text, likes, is_from_brand. Returns unsaved-looking instances with their ids."""
    rows = []
    for s in specs:
        _seq["n"] += 1
        rows.append(
            {
                "network": s.get("network", "twitter"),
                "external_id": f"m{_seq['n']}",
                "author_id": s["author"].pk,
                "text": s.get("text", f"talking about {term.name} #{_seq['n']}"),
                "posted_at": s["posted_at"],
                "url": s.get("url", ""),
                "sentiment_label": s.get("sentiment", "neutral"),
                "likes": s.get("likes", 0),
                "is_from_brand": s.get("is_from_brand", False),
                "imported_at": now,
            }
        )
    ids = rows_insert(Mention, rows, returning=True)
    rows_insert(Mention.terms.through, [{"mention_id": i, "watchterm_id": term.pk} for i in ids])
    return [Mention(pk=i, **row) for i, row in zip(ids, rows, strict=True)]


def chatter(
    term: WatchTerm, authors: list[Author], *, start: datetime, end: datetime, now: datetime
) -> int:
    """Ordinary days: 3 to 6 mentions per bucket, one in five negative, on two sites."""
    specs = []
    i = 0
    at = start
    while at < end:
        for k in range(3 + (i * 7919) % 4):
            j = i * 7 + k
            reddit = j % 2 == 0
            specs.append(
                {
                    "posted_at": at + timedelta(seconds=(k * 37) % 300),
                    "author": authors[j % len(authors)],
                    "network": "reddit" if reddit else "twitter",
                    "url": f"https://www.reddit.com/r/banking/{j}" if reddit else "",
                    "sentiment": "negative" if j % 5 == 0 else "neutral",
                }
            )
        i += 1
        at += BUCKET
    mentions_make(term, specs, now=now)
    return len(specs)


def spike(
    term: WatchTerm,
    authors: list[Author],
    *,
    start: datetime,
    buckets: int,
    now: datetime,
    per_bucket: int = 60,
    negative: float = 0.8,
) -> list[Mention]:
    """A card outage: many mentions, mostly negative, all on Twitter."""
    specs = []
    for b in range(buckets):
        for k in range(per_bucket):
            specs.append(
                {
                    "posted_at": start + b * BUCKET + timedelta(seconds=(k * 5) % 300),
                    "author": authors[k % len(authors)],
                    "sentiment": "negative" if k < per_bucket * negative else "neutral",
                    "text": f"my card was declined again #{b}-{k}",
                    "likes": k,
                }
            )
    return mentions_make(term, specs, now=now)


def outage_history(
    term: WatchTerm, *, now: datetime, days: int = 3, spike_at: datetime | None = None
) -> dict[str, Any]:
    """Days of chatter up to ``spike_at`` (default: 30 minutes before now), then 3 buckets of
    outage, then chatter again until now."""
    authors = authors_make(40, now=now, prefix=f"{term.pk}u")
    spike_at = spike_at or (now - timedelta(minutes=30))
    chatter(term, authors, start=now - timedelta(days=days), end=spike_at, now=now)
    outage = spike(term, authors, start=spike_at, buckets=3, now=now)
    chatter(term, authors, start=spike_at + 3 * BUCKET, end=now, now=now)
    return {"authors": authors, "spike_at": spike_at, "outage": outage}


def social_policy() -> SlaPolicy:
    return SlaPolicy.objects.create(
        name="Social — 1 h", channel="social", first_reply_minutes=60, next_reply_minutes=60
    )


def addressed_mention(
    term: WatchTerm,
    *,
    handle: str,
    influence: float,
    posted_at: datetime,
    now: datetime,
    text: str = "@lastmilebank my card is declined!",
    followers: int = 1000,
) -> Mention:
    """A mention addressed to the brand: its author is a customer, it is on a case, and the
    inbound interaction opened the case's reply loop."""
    author = Author.objects.create(
        network="twitter",
        handle=handle,
        name=handle.title(),
        followers=followers,
        influence=influence,
        updated_at=now,
    )
    customer = customer_resolve(
        identities=[identity_normalize("social", handle, "twitter")],
        now=posted_at,
        display_name=f"@{handle}",
    ).customer
    author.customer = customer
    author.save(update_fields=["customer"])
    case = case_create(
        customer=customer,
        subject=f"@{handle} on Twitter",
        team=term.team,
        channel="social:twitter",
        now=posted_at,
    )
    interaction = interaction_record(
        customer=customer,
        case=case,
        channel="social:twitter",
        direction="inbound",
        occurred_at=posted_at,
        now=posted_at,
        body=text,
        source_id=f"tw-{handle}",
    )
    loop = Loop.objects.get(case=case, kind="reply")
    (mention,) = mentions_make(
        term,
        [{"posted_at": posted_at, "author": author, "sentiment": "negative", "text": text}],
        now=now,
    )
    Mention.objects.filter(pk=mention.pk).update(
        customer=customer, interaction=interaction, reply_loop=loop, is_brand=True
    )
    mention.refresh_from_db()
    return mention


def alert_for(
    term: WatchTerm,
    *,
    now: datetime,
    bucket_start: datetime,
    signal: str = "negative_share",
    observed: float = 0.8,
    baseline: float = 0.2,
    score: float = 0.9,
):
    """An alert raised through the service the triggers call when a detector fires (the
    detectors' own maths is tested apart): loop, notification and evidence are all real."""
    from lastmile.crisis import detectors as det
    from lastmile.crisis.services.alerts import alert_raise

    bucket = det.BucketCounts()
    for m in Mention.objects.filter(
        terms=term, posted_at__gte=bucket_start, posted_at__lt=bucket_start + BUCKET
    ):
        bucket.add(negative=m.sentiment_label == "negative", source=det.source_of(m.network, m.url))
    return alert_raise(
        term=term,
        signal=signal,
        bucket_start=bucket_start,
        reading=det.Reading(observed=observed, baseline=baseline, score=score, alert=True),
        bucket=bucket,
        sensitivity=0.5,
        now=now,
    )
