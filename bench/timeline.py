"""Timeline: p50/p99 of ``GET /api/v1/customers/{id}/timeline?limit=50`` over real HTTP.

The table is filled by bulk SQL: ``customers`` customers with an email each and
``customers * per_customer`` interactions interleaved in time (interaction ``i`` belongs
to customer ``i % customers``, ids grow with time) as an ingest over months would leave
them — so one customer's rows are spread over the whole table, not stored together.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from common import Database, percentile, say
from lastmile.customers.columns import INTERACTION_COLUMNS
from load import bulk_insert, js, ts

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CHANNELS = ("email", "chat", "phone", "sms", "whatsapp", "social:twitter", "web")
DIRECTIONS = ("inbound", "outbound", "inbound", "note")
SEED = 20260105


def load(db: Database, *, customers: int, per_customer: int) -> dict[str, int]:
    created = ts(db, T0)
    bulk_insert(
        db,
        "customers_customer",
        ["id", "display_name", "timezone", "attributes", "created_at", "merged_into_id"],
        ((k, f"Customer {k}", "", "{}", created, None) for k in range(1, customers + 1)),
    )
    bulk_insert(
        db,
        "customers_identity",
        ["id", "customer_id", "kind", "network", "value", "created_at"],
        (
            (k, k, "email", "", f"timeline{k:06d}@bench.example", created)
            for k in range(1, customers + 1)
        ),
    )
    total = customers * per_customer
    step = max(1, int(365 * 86400 / total))  # a year of traffic

    def rows() -> Any:
        for i in range(1, total + 1):
            at = ts(db, T0 + timedelta(seconds=i * step))
            row = {
                "customer_id": (i - 1) % customers + 1,
                "case_id": None,
                "channel": CHANNELS[i % len(CHANNELS)],
                "direction": DIRECTIONS[i % len(DIRECTIONS)],
                "occurred_at": at,
                "recorded_at": at,
                "actor_id": None,
                "body": f"Message {i}: about order #{200000 + i % 77777}, delivery slot and refund.",
                "data": js({"n": i}) if i % 10 == 0 else None,
                "source_id": None,
                "sentiment_label": None,
                "sentiment_score": None,
            }
            yield (i, *(row[c] for c in INTERACTION_COLUMNS))

    # The columns the timeline's writer fills: one added there and not here fails the load.
    bulk_insert(db, "customers_interaction", ["id", *INTERACTION_COLUMNS], rows())
    return {"customers": customers, "interactions": total}


def bench(base: str, token: str, *, customers: int, requests_n: int, warmup: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    with requests.Session() as session:
        for n in range(warmup + requests_n):
            cid = rng.randrange(1, customers + 1)
            url = f"{base}/api/v1/customers/{cid}/timeline?limit=50"
            t = time.perf_counter()
            r = session.get(url, headers=headers, timeout=60)
            dt = time.perf_counter() - t
            if r.status_code != 200:
                raise RuntimeError(f"GET {url}: HTTP {r.status_code} {r.text[:300]}")
            page = r.json()
            if len(page["items"]) != 50 or page["next"] is None:
                raise RuntimeError(f"GET {url}: {len(page['items'])} items, next={page['next']!r}")
            if n >= warmup:
                latencies.append(dt)
    out = {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "requests": len(latencies),
        "warmup": warmup,
    }
    say(
        f"  timeline: {out['requests']:,} requests after {warmup} warm-up: p50 {out['p50_ms']:.1f} ms, "
        f"p99 {out['p99_ms']:.1f} ms, max {out['max_ms']:.1f} ms"
    )
    return out
