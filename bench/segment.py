"""The Segment-compatible event API: events/s through raw batch posts and the real client.

    python bench/segment.py [--events N] [--users N] [--vendor sqlite|postgresql|both]
                            [--no-write]

On each database engine (both by default; PostgreSQL is skipped with the reason when it does
not answer), against ``lastmile serve`` (the command ``make demo`` runs and the README
recommends, with its default gunicorn workers and threads) on a fresh, migrated database with
a source made by ``lastmile source create``:

- raw: ``POST /v1/batch`` with 100 messages per batch from 4 keep-alive clients (requests);
  a 429 goes back on the queue and is retried, as clients do;
- client: the real ``segment-analytics-python`` client in its default batching mode (one
  consumer thread, batches of up to 100), timed from the first call to ``flush()`` returning;
- floor: the same interaction rows, raw, into a bare table with only a primary key, in one
  transaction, measured in the same run (SQLite ``executemany`` with WAL and
  ``synchronous=NORMAL``; PostgreSQL ``COPY``).

Each run checks that every event was stored exactly once, on the right number of customers.
The server's CPU time per event (master and workers, from /proc; on PostgreSQL also the
database's own processes) is reported beside the rates: unlike them it hardly moves when other
work shares the cores, and the processes that were busy besides the bench are named. Prints one JSON object
(SQLite figures unsuffixed, PostgreSQL ones with ``_pg``, as ``bench/run.py`` does) and
rewrites the results block of ``bench/SEGMENT.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import shutil
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    Database,
    floor_insert,
    fresh_database,
    lastmile_cmd,
    lastmile_serve,
    page_block_write,
    percentile,
    run_quiet,
    say,
)

BATCH = 100
CLIENTS = 4
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
EVENTS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
# Its own PostgreSQL database, so this never touches the main bench's ``lastmile_bench``.
PG_DB = "lastmile_bench_segment"
PAGE = BENCH_DIR / "SEGMENT.md"
BEGIN, END = "<!-- results: written by bench/segment.py -->", "<!-- /results -->"


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


def server_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process of the server's group."""
    return sum(cpu for _, group, _, cpu in common.proc_cpu() if group == pgid)


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the PostgreSQL server's processes on this machine."""
    return sum(cpu for _, _, name, cpu in common.proc_cpu() if name == "postgres")


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
    retried = [0]
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
                    with lock:
                        retried[0] += 1
                    todo.put(body)
                    continue
                with lock:
                    if r.status_code != 200:
                        failures.append(f"HTTP {r.status_code}: {r.text[:300]}")
                        return
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    cpu0 = time.process_time()
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
        "retried_429": retried[0],
        "clients_cpu_s": time.process_time() - cpu0,
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


FLOOR_COLUMNS = [
    "customer_id",
    "channel",
    "direction",
    "occurred_at",
    "recorded_at",
    "body",
    "data",
    "source_id",
]


def run_floor(db: Database, events: int, users: int) -> dict[str, Any]:
    """The rows the raw run stored (a message as data), raw, into a bare table."""
    now = datetime.now(UTC)
    sqlite = db.vendor == "sqlite"
    rows = []
    for j in range(events):
        m = message(j, users, "floor")
        at = T0 + timedelta(milliseconds=j)
        rows.append(
            (
                j % users + 1,
                "web",
                "inbound",
                str(at.replace(tzinfo=None)) if sqlite else at,
                str(now.replace(tzinfo=None)) if sqlite else now,
                m["event"],
                json.dumps(m),
                "segment:" + m["messageId"],
            )
        )
    return floor_insert(
        db,
        table="floor_interaction",
        columns=FLOOR_COLUMNS,
        rows=rows,
        sqlite_ddl="customer_id INTEGER NOT NULL, channel VARCHAR(40) NOT NULL, "
        "direction VARCHAR(10) NOT NULL, occurred_at DATETIME NOT NULL, "
        "recorded_at DATETIME NOT NULL, body TEXT NOT NULL, data TEXT, source_id VARCHAR(200)",
        pg_ddl="customer_id bigint NOT NULL, channel varchar(40) NOT NULL, "
        "direction varchar(10) NOT NULL, occurred_at timestamptz NOT NULL, "
        "recorded_at timestamptz NOT NULL, body text NOT NULL, data jsonb, "
        "source_id varchar(200)",
    )


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
    """One engine's figures, unsuffixed."""
    db = fresh_database(vendor, "segment")
    try:
        key = source_create(db, "bench")
        with lastmile_serve(db) as base:
            pgid = common._SERVERS[-1].pid  # started in its own session: group id = its pid
            shape = common.server_shape(pgid)
            # Warm up: every worker thread imports and connects before the clock starts.
            for i in range(8):
                warm = [message(j, users, "warm") for j in range(i * 10, i * 10 + 10)]
                r = requests.post(
                    base + "/v1/batch", json={"batch": warm}, auth=(key, ""), timeout=60
                )
                r.raise_for_status()
            say(
                f"  {vendor} raw /v1/batch: {events:,} events, batches of {BATCH}, {CLIENTS} clients"
            )
            # On PostgreSQL the database's CPU is its own figure, not "besides the bench".
            skip = frozenset({"postgres"} if vendor == "postgresql" else ())
            before = common.proc_cpu()
            cpu0, pg0 = server_cpu_s(pgid), postgres_cpu_s()
            raw = run_raw(base, key, events, users)
            raw_cpu = server_cpu_s(pgid) - cpu0
            pg_cpu = postgres_cpu_s() - pg0
            busy = common.busy_besides(
                before, common.proc_cpu(), raw["wall_s"], ours={pgid}, skip=skip
            )
            verify(db, "raw", events, users)
            say(
                f"    {raw['per_s']:,.0f} events/s; server CPU {raw_cpu * 1e6 / events:.0f} µs/event"
            )
            for line in busy:
                say(f"    busy besides the bench: {line}")
            say(f"  {vendor} segment-analytics-python: {events:,} events")
            cpu0 = server_cpu_s(pgid)
            client = run_client(base, key, events, users)
            client_cpu = server_cpu_s(pgid) - cpu0
            verify(db, "client", events, users)
            say(f"    {client['per_s']:,.0f} events/s")
        floor = run_floor(db, events, users)
        say(f"  {vendor} floor: {floor['per_s']:,.0f} rows/s ({floor['method']})")
        version = common.db_version(db)
    finally:
        if vendor == "postgresql":
            common.pg_drop()
        shutil.rmtree(db.var_dir, ignore_errors=True)
    return {
        "segment_events_per_s": raw["per_s"],
        "segment_batch_p50_ms": raw["batch_p50_ms"],
        "segment_batch_p99_ms": raw["batch_p99_ms"],
        "segment_retried_429": raw["retried_429"],
        "segment_server_cpu_us_per_event": raw_cpu * 1e6 / events,
        **(
            {"segment_db_cpu_us_per_event": pg_cpu * 1e6 / events} if vendor == "postgresql" else {}
        ),
        "segment_server": f"lastmile serve: gunicorn gthread, {shape}",
        "segment_busy_besides": busy,
        "segment_bench_clients_cpu_s": raw["clients_cpu_s"],
        "segment_client_events_per_s": client["per_s"],
        "segment_client_server_cpu_us_per_event": client_cpu * 1e6 / events,
        "segment_floor_per_s": floor["per_s"],
        "segment_floor_method": floor["method"],
        "segment_ratio": raw["per_s"] / floor["per_s"],
        "segment_db_version": version,
    }


def write_page(r: dict[str, Any], command: str) -> None:
    """Replace the results block of SEGMENT.md; the prose around it is kept as written."""

    def cell(key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "—"

    rows = [
        ("raw `/v1/batch`, events/s (`segment_events_per_s`)", "segment_events_per_s", ",.0f"),
        ("batch latency p50, ms", "segment_batch_p50_ms", ".0f"),
        ("batch latency p99, ms", "segment_batch_p99_ms", ".0f"),
        ("batches answered 429 and retried", "segment_retried_429", "d"),
        ("server CPU per event, µs (master + workers)", "segment_server_cpu_us_per_event", ".0f"),
        ("PostgreSQL's own CPU per event, µs", "segment_db_cpu_us_per_event", ".0f"),
        (
            "real client, events/s (`segment_client_events_per_s`)",
            "segment_client_events_per_s",
            ",.0f",
        ),
        ("raw-insert floor, rows/s (`segment_floor_per_s`)", "segment_floor_per_s", ",.0f"),
        ("ratio raw API / floor (`segment_ratio`)", "segment_ratio", ".3f"),
    ]
    lines = [
        "",
        f"Measured {r['date']} on **{r['cores']} cores** shared with other work (load average "
        f"{r['loadavg_start'][0]:.1f} at the start, {r['loadavg_end'][0]:.1f} at the end), "
        f"{r['events']:,} events for {r['users']:,} users per engine, by:",
        "",
        "```",
        command,
        "```",
        "",
        "| figure | SQLite | PostgreSQL |",
        "|---|---:|---:|",
    ]
    for label, key, fmt in rows:
        bold = key == "segment_events_per_s"
        a, b = cell(key, fmt), cell(key + "_pg", fmt)
        lines.append(f"| {label} | {f'**{a}**' if bold else a} | {f'**{b}**' if bold else b} |")
    lines += [
        "",
        f"Server: {r.get('segment_server', '—')} (DEBUG off), as `make demo` starts it.",
    ]
    for engine, suffix in (("SQLite", ""), ("PostgreSQL", "_pg")):
        busy = r.get("segment_busy_besides" + suffix)
        if busy is not None:
            lines += [
                "",
                f"Busy besides the bench during the {engine} raw run: "
                + ("; ".join(f"`{b}`" for b in busy) if busy else "nothing measurable")
                + ".",
            ]
    lines += [
        "",
        f"Versions: Python {platform.python_version()}, SQLite {r.get('segment_db_version', '—')}"
        + (f", PostgreSQL {r['segment_db_version_pg']}" if "segment_db_version_pg" in r else "")
        + ".",
    ]
    if r.get("pg_skipped"):
        lines += ["", f"PostgreSQL was skipped: {r['pg_skipped']}."]
    target = r.get("segment_events_per_s")
    if target is not None:
        lines += [
            "",
            "**The ≥ 10,000 events/s target (SQLite, raw posts) is "
            + ("met.**" if target >= 10_000 else f"not met** ({target / 100:.0f} % of it)."),
        ]
    page_block_write(PAGE, begin=BEGIN, end=END, lines=[*lines, ""])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--vendor", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--no-write", action="store_true", help="print JSON only")
    a = p.parse_args()
    common.PG_DB = PG_DB
    users = min(a.users, a.events)
    out: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "events": a.events,
        "users": users,
        "loadavg_start": list(os.getloadavg()),
    }
    # Progress goes to stderr: stdout carries only the JSON object that bench/run.py reads.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            if a.vendor in ("sqlite", "both"):
                out.update(bench("sqlite", a.events, users))
            if a.vendor in ("postgresql", "both"):
                skip = common.pg_reachable()
                if skip:
                    say(f"  PostgreSQL skipped: {skip}")
                    out["pg_skipped"] = skip
                else:
                    pg = bench("postgresql", a.events, users)
                    out.update({f"{k}_pg": v for k, v in pg.items()})
        finally:
            common.stop_servers()
    out["loadavg_end"] = list(os.getloadavg())
    if not a.no_write:
        write_page(out, " ".join(["python bench/segment.py", *sys.argv[1:]]))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
