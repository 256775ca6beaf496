"""The Segment-compatible event API: events/s through the real client and raw batch posts.

    python bench/segment.py [--events N] [--users N] [--vendor sqlite|postgresql]

Against a real gunicorn (2 workers x 2 threads) on a fresh, migrated database with a source
made by ``lastmile source create``:

- raw: ``POST /v1/batch`` with 100 messages per batch from 4 keep-alive clients (requests);
- client: the real ``segment-analytics-python`` client in its default batching mode (one
  consumer thread, batches of up to 100), timed from the first call to ``flush()`` returning;
- floor: the same interaction rows with a raw ``sqlite3 executemany`` (WAL,
  synchronous=NORMAL, one transaction) into a bare table with only a primary key.

Each run checks that every event was stored exactly once. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import queue
import sqlite3
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, fresh_database, gunicorn, percentile, run_quiet, say  # noqa: E402

BATCH = 100
CLIENTS = 4
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
EVENTS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")


def lastmile_cmd() -> list[str]:
    lastmile = Path(sys.executable).with_name("lastmile")
    return [str(lastmile)] if lastmile.exists() else [sys.executable, "-m", "lastmile.cli"]


def source_create(db: Database, name: str) -> str:
    """A write key, made the way an operator makes one: ``lastmile source create``."""
    out = run_quiet([*lastmile_cmd(), "source", "create", name, "--kind", "segment"], db.env())
    key = out.strip()
    if not key or " " in key or "\n" in key:
        raise RuntimeError(f"lastmile source create printed {out!r}, not a key")
    return key


def message(j: int, users: int, tag: str) -> dict[str, Any]:
    """A track call shaped as the Python client sends it."""
    return {
        "type": "track",
        "event": EVENTS[j % len(EVENTS)],
        "userId": f"user-{j % users:06d}",
        "messageId": f"{tag}-{uuid.UUID(int=j)}",
        "timestamp": (T0 + timedelta(milliseconds=j)).isoformat(timespec="milliseconds"),
        "properties": {"sku": f"SKU-{j % 997}", "price": 19.99, "currency": "EUR"},
        "context": {"library": {"name": "analytics-python", "version": "2.3.5"}},
        "integrations": {},
    }


def run_raw(base: str, key: str, events: int, users: int) -> dict[str, Any]:
    msgs = [message(j, users, "raw") for j in range(events)]
    sent_at = (T0 + timedelta(milliseconds=events)).isoformat(timespec="milliseconds")
    bodies = [
        json.dumps({"batch": msgs[i : i + BATCH], "sentAt": sent_at}).encode()
        for i in range(0, events, BATCH)
    ]
    todo: queue.Queue[bytes] = queue.Queue()
    for b in bodies:
        todo.put(b)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as s:
            s.auth = (key, "")
            while not failures:
                try:
                    body = todo.get_nowait()
                except queue.Empty:
                    return
                t = time.perf_counter()
                r = s.post(
                    base + "/v1/batch",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=300,
                )
                if r.status_code == 429:  # back-pressure: put it back and retry, as clients do
                    todo.put(body)
                    continue
                with lock:
                    if r.status_code != 200:
                        failures.append(f"HTTP {r.status_code}: {r.text[:300]}")
                        return
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    if failures:
        raise RuntimeError("raw batch posts failed: " + "; ".join(failures[:3]))
    return {
        "per_s": events / wall,
        "wall_s": wall,
        "batch_p50_ms": percentile(latencies, 50) * 1000,
        "batch_p99_ms": percentile(latencies, 99) * 1000,
    }


def _client_class() -> Any:
    """The real client's class: this file is also called ``segment``, so look past it."""
    here = Path(__file__).resolve().parent
    saved_path, saved_module = sys.path[:], sys.modules.pop("segment", None)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        from segment.analytics.client import Client
    finally:
        sys.path[:] = saved_path
        if saved_module is not None:
            sys.modules["segment"] = saved_module
    return Client


def run_client(base: str, key: str, events: int, users: int) -> dict[str, Any]:
    Client = _client_class()  # noqa: N806

    errors: list[str] = []
    client = Client(
        write_key=key,
        host=base,
        max_queue_size=events + 1,
        upload_size=BATCH,
        on_error=lambda exc, batch: errors.append(f"{exc} ({len(batch)} events)"),
    )
    t0 = time.perf_counter()
    for j in range(events):
        m = message(j, users, "client")
        ok, _ = client.track(
            m["userId"],
            m["event"],
            m["properties"],
            timestamp=T0 + timedelta(milliseconds=j),
            message_id=m["messageId"],
        )
        if not ok:
            errors.append("queue full")
            break
    client.flush()
    wall = time.perf_counter() - t0
    client.join()
    if errors:
        raise RuntimeError("the client reported: " + "; ".join(errors[:3]))
    return {"per_s": events / wall, "wall_s": wall}


def run_floor(db: Database, events: int, users: int) -> dict[str, Any]:
    now = str(datetime.now(UTC).replace(tzinfo=None))
    rows = []
    for j in range(events):
        m = message(j, users, "floor")
        rows.append(
            (
                j % users + 1,
                "web",
                "inbound",
                str((T0 + timedelta(milliseconds=j)).replace(tzinfo=None)),
                now,
                m["event"],
                json.dumps(m),
                "segment:" + m["messageId"],
            )
        )
    path = db.var_dir / "floor.sqlite3"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE floor_interaction (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "customer_id INTEGER NOT NULL, channel VARCHAR(40) NOT NULL, "
            "direction VARCHAR(10) NOT NULL, occurred_at DATETIME NOT NULL, "
            "recorded_at DATETIME NOT NULL, body TEXT NOT NULL, data TEXT, source_id VARCHAR(200))"
        )
        t = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO floor_interaction (customer_id, channel, direction, occurred_at, "
            "recorded_at, body, data, source_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        dt = time.perf_counter() - t
    finally:
        conn.close()
        path.unlink(missing_ok=True)
    return {"per_s": events / dt, "method": "sqlite3 executemany, WAL, synchronous=NORMAL"}


def verify(db: Database, prefix: str, events: int, users: int) -> None:
    conn = db.connect()
    try:
        n, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM customers_interaction "
            f"WHERE source_id LIKE 'segment:{prefix}-%'"
        ).fetchone()
        customers = conn.execute(
            "SELECT count(DISTINCT customer_id) FROM customers_identity "
            "WHERE kind = 'external' AND network = 'segment'"
        ).fetchone()[0]
    finally:
        conn.close()
    if (n, distinct) != (events, events) or customers != users:
        raise RuntimeError(
            f"{prefix}: stored {n} events ({distinct} distinct) on {customers} customers; "
            f"expected {events} on {users}"
        )


def bench(vendor: str, events: int, users: int) -> dict[str, Any]:
    db = fresh_database(vendor, "segment")
    key = source_create(db, "bench")
    with gunicorn(db) as base:
        # Warm up: every worker thread imports and connects before the clock starts.
        for i in range(8):
            warm = [message(j, users, "warm") for j in range(i * 10, i * 10 + 10)]
            r = requests.post(base + "/v1/batch", json={"batch": warm}, auth=(key, ""), timeout=60)
            r.raise_for_status()
        say(f"  raw /v1/batch: {events:,} events, batches of {BATCH}, {CLIENTS} clients")
        raw = run_raw(base, key, events, users)
        verify(db, "raw", events, users)
        say(f"    {raw['per_s']:,.0f} events/s")
        say(f"  segment-analytics-python: {events:,} events")
        client = run_client(base, key, events, users)
        verify(db, "client", events, users)
        say(f"    {client['per_s']:,.0f} events/s")
    result: dict[str, Any] = {
        "vendor": vendor,
        "events": events,
        "users": users,
        "segment_events_per_s": raw["per_s"],
        "segment_batch_p50_ms": raw["batch_p50_ms"],
        "segment_batch_p99_ms": raw["batch_p99_ms"],
        "segment_client_events_per_s": client["per_s"],
    }
    if vendor == "sqlite":
        floor = run_floor(db, events, users)
        result["segment_floor_per_s"] = floor["per_s"]
        result["segment_floor_method"] = floor["method"]
        result["segment_ratio"] = raw["per_s"] / floor["per_s"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--vendor", choices=["sqlite", "postgresql"], default="sqlite")
    a = p.parse_args()
    result = bench(a.vendor, a.events, a.users)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
