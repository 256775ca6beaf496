"""Ingest: the batch interactions API over real HTTP, and its floor.

The workload: ``n`` interactions for ``n / 10`` customers, each customer known by an email
address. Item ``j`` belongs to customer ``j % customers``, so the first tenth of the run
creates the customers and the rest finds them by identity. Every tenth customer carries a
phone number beside the email in the second half of the run: the first such item attaches
the phone to the customer already found by email (identity resolution's slow path), later
ones find both identities on one customer.

The floor: the same interaction rows with a raw ``executemany`` (SQLite, WAL) or ``COPY``
(PostgreSQL) into a bare table with the same columns and no index but the primary key.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from common import Database, floor_insert, percentile, say

CHANNELS = ("email", "chat", "phone", "sms", "web")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BATCH = 1000
CLIENTS = 2


@dataclass
class Workload:
    interactions: int
    customers: int
    items: list[dict[str, Any]] = field(default_factory=list)


def email_of(k: int) -> str:
    return f"customer{k:06d}@bench.example"


def phone_of(k: int) -> str:
    return f"+44207{k:07d}"  # London numbers: valid, so they normalise to themselves


def _body(j: int) -> str:
    return f"Message {j}: my order #{100000 + j % 99991} has not arrived yet, could you check the delivery?"


def workload(interactions: int, customers: int) -> Workload:
    w = Workload(interactions, customers)
    half = interactions // 2
    for j in range(interactions):
        k = j % customers
        identities = [{"kind": "email", "value": email_of(k)}]
        if k % 10 == 0 and j >= half:
            identities.append({"kind": "phone", "value": phone_of(k)})
        w.items.append(
            {
                "source_id": f"bench-{j}",
                "channel": CHANNELS[j % len(CHANNELS)],
                "direction": "outbound" if j % 3 == 0 else "inbound",
                "occurred_at": (T0 + timedelta(seconds=j)).isoformat().replace("+00:00", "Z"),
                "customer": {"identities": identities},
                "body": _body(j),
            }
        )
    return w


def run_api(base: str, token: str, w: Workload) -> dict[str, Any]:
    """POST the workload in batches of 1,000 from two keep-alive clients; figures and checks."""
    bodies = [
        json.dumps({"items": w.items[i : i + BATCH]}).encode()
        for i in range(0, len(w.items), BATCH)
    ]
    todo: queue.Queue[tuple[int, bytes]] = queue.Queue()
    for n, body in enumerate(bodies):
        todo.put((n, body))
    latencies: list[float] = []
    failures: list[str] = []
    ids: dict[int, list[int]] = {}
    lock = threading.Lock()
    url = base + "/api/v1/interactions/batch"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    progress_every = max(1, len(bodies) // 10)

    def client() -> None:
        with requests.Session() as session:
            while not failures:
                try:
                    n, body = todo.get_nowait()
                except queue.Empty:
                    return
                t = time.perf_counter()
                try:
                    r = session.post(url, data=body, headers=headers, timeout=300)
                except requests.RequestException as exc:
                    failures.append(f"batch {n}: {exc}")
                    return
                dt = time.perf_counter() - t
                with lock:
                    if r.status_code != 200:
                        failures.append(f"batch {n}: HTTP {r.status_code} {r.text[:500]}")
                        return
                    latencies.append(dt)
                    ids[n] = r.json()["ids"]
                    done = len(latencies)
                if done % progress_every == 0:
                    say(f"    {done * BATCH:,} / {len(w.items):,} interactions posted")

    threads = [threading.Thread(target=client, name=f"ingest-client-{i}") for i in range(CLIENTS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    if failures:
        raise RuntimeError("ingest failed: " + "; ".join(failures[:3]))
    all_ids = [i for n in sorted(ids) for i in ids[n]]
    if len(all_ids) != len(w.items) or len(set(all_ids)) != len(all_ids):
        raise RuntimeError(
            f"ingest returned {len(all_ids)} ids ({len(set(all_ids))} distinct) for {len(w.items)} items"
        )
    return {
        "per_s": len(w.items) / wall,
        "wall_s": wall,
        "batch_p50_ms": percentile(latencies, 50) * 1000,
        "batch_p99_ms": percentile(latencies, 99) * 1000,
        "batches": len(bodies),
    }


def verify(db: Database, w: Workload) -> dict[str, int]:
    """The rows the API wrote: every interaction once, one customer per email, phones attached."""
    conn = db.connect()
    try:

        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        got = {
            "interactions": one("SELECT count(*) FROM customers_interaction"),
            "customers": one(
                "SELECT count(*) FROM customers_customer WHERE merged_into_id IS NULL"
            ),
            "emails": one("SELECT count(*) FROM customers_identity WHERE kind = 'email'"),
            "phones": one("SELECT count(*) FROM customers_identity WHERE kind = 'phone'"),
            "phones_on_email_owner": one(
                "SELECT count(*) FROM customers_identity p JOIN customers_identity e "
                "ON e.customer_id = p.customer_id AND e.kind = 'email' WHERE p.kind = 'phone'"
            ),
        }
    finally:
        conn.close()
    phones = len({k for k in range(w.customers) if k % 10 == 0})
    want = {
        "interactions": w.interactions,
        "customers": w.customers,
        "emails": w.customers,
        "phones": phones,
        "phones_on_email_owner": phones,
    }
    if got != want:
        raise RuntimeError(f"ingest wrote {got}, expected {want}")
    return got


FLOOR_COLUMNS = (
    "customer_id",
    "case_id",
    "channel",
    "direction",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "body",
    "data",
    "source_id",
)


def floor_rows(db: Database, w: Workload) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    recorded = str(now.replace(tzinfo=None)) if db.vendor == "sqlite" else now
    rows = []
    for j, item in enumerate(w.items):
        at = datetime.fromisoformat(item["occurred_at"])
        occurred = str(at.replace(tzinfo=None)) if db.vendor == "sqlite" else at
        rows.append(
            (
                j % w.customers + 1,
                None,
                item["channel"],
                item["direction"],
                occurred,
                recorded,
                None,
                item["body"],
                None,
                item["source_id"],
            )
        )
    return rows


def run_floor(db: Database, w: Workload) -> dict[str, Any]:
    """The same rows, raw, into a bare table (primary key only), in one transaction."""
    rows = floor_rows(db, w)
    return floor_insert(
        db,
        table="floor_interaction",
        columns=list(FLOOR_COLUMNS),
        rows=rows,
        sqlite_ddl="customer_id INTEGER NOT NULL, case_id INTEGER, channel VARCHAR(40) NOT NULL, "
        "direction VARCHAR(10) NOT NULL, occurred_at DATETIME NOT NULL, "
        "recorded_at DATETIME NOT NULL, actor_id INTEGER, body TEXT NOT NULL, data TEXT, "
        "source_id VARCHAR(200)",
        pg_ddl="customer_id bigint NOT NULL, case_id bigint, channel varchar(40) NOT NULL, "
        "direction varchar(10) NOT NULL, occurred_at timestamptz NOT NULL, "
        "recorded_at timestamptz NOT NULL, actor_id integer, body text NOT NULL, data jsonb, "
        "source_id varchar(200)",
    )


def bench(db: Database, base: str, token: str, interactions: int, customers: int) -> dict[str, Any]:
    w = workload(interactions, customers)
    say(
        f"  ingest: {interactions:,} interactions for {customers:,} customers, batches of {BATCH:,}, {CLIENTS} clients"
    )
    api = run_api(base, token, w)
    say(
        f"  ingest: {api['per_s']:,.0f} interactions/s ({api['wall_s']:.1f}s); per batch p50 "
        f"{api['batch_p50_ms']:.0f} ms, p99 {api['batch_p99_ms']:.0f} ms"
    )
    rows = verify(db, w)
    say(f"  ingest verified: {rows}")
    floor = run_floor(db, w)
    say(
        f"  ingest floor ({floor['method']}): {floor['per_s']:,.0f} rows/s ({floor['wall_s']:.2f}s)"
    )
    return {"api": api, "floor": floor, "rows": rows}
