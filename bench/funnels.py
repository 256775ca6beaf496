"""Funnels: a 5-step ordered funnel over 10,000,000 events of 1,000,000 people, beside the
fastest plain DuckDB SQL written for it, and the analytics copy's rate.

    .venv/bin/python bench/funnels.py [--events N] [--people N] [--copy-events N]
                                      [--vendor sqlite|postgresql|both] [--no-write]

- **Funnel** (``funnel_10m_s``): ``DuckDBEngine.funnel`` (what the API and the console
  call: counts, conversions, median and p90 time from the previous step) over the copy,
  p50 of 7 warm runs, DuckDB on every core. The events are **synthetic** and written as
  Parquet segments directly (``append_select``), not through the event store: 10M events
  through the Segment API would take the whole bench's time. They are written as the copy
  writes them, one segment per 50,000 ids (200 segments), then merged by
  ``DuckDBEngine.compact`` as the copy merges them (``funnel_compact_10m_s``). Each person
  has 10 events over a month: the five steps (Product Viewed, Product Added, Checkout
  Started, Payment Info Entered, Order Completed) as far as their depth goes (15% none,
  down to 7% all five), minutes apart, among 15 other event names and repeated views.
- **Floor** (``funnel_floor_10m_s``): the fastest plain DuckDB SQL I wrote for the same
  question (the same counts, medians and p90s) over the same Parquet files: the step's
  events by name, one self-join per step keeping each event's latest start and shortest
  gap, no person map, no flags; p50 of 7 warm runs in the same process. Its answer is
  checked equal to the engine's; the two take turns run by run.
  ``funnel_ratio`` = funnel / floor.
- **Copy** (``analytics_copy_per_s``, ``_pg``): Segment track calls recorded through the
  real event store (``segment.events_record``, the write behind ``POST /v1/batch``, in
  batches of 1,000, in process) on a fresh migrated database, then one
  ``analytics_copy`` into an empty engine, timed: events/s from the store into Parquet.

Prints one JSON object and rewrites the results block of ``bench/FUNNELS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
import common  # noqa: E402
from common import BENCH_DIR, WORK, fresh_database, page_block_write, say  # noqa: E402

PAGE = BENCH_DIR / "FUNNELS.md"
BEGIN, END = "<!-- results: written by bench/funnels.py -->", "<!-- /results -->"
STEPS = [
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
]
NOISE = [f"Noise {i}" for i in range(15)]
SEGMENT_IDS = 50_000  # the copy's batch: one segment per 50,000 event-store ids
RUNS = 7
T0_US = 1_796_083_200 * 1_000_000  # 2026-12-01 00:00 UTC
WINDOW_S = 86_400


def definition() -> Any:
    from lastmile.funnels.definitions import FunnelDefinition

    start = datetime.fromtimestamp(T0_US // 1_000_000, tz=UTC)
    return FunnelDefinition.model_validate(
        {
            "mode": "ordered",
            "window_seconds": WINDOW_S,
            "from": start - timedelta(days=2),
            "to": start + timedelta(days=32),
            "steps": [{"event": s} for s in STEPS],
        }
    )


def generated(first: int, last: int, people: int, events: int) -> str:
    """The SELECT of events ``first..last`` (1-based ids): event i belongs to person
    (i - 1) // per and is their j-th; the first five follow their depth."""
    per = events // people
    names = "[" + ", ".join(f"'{s}'" for s in STEPS) + "]"
    noise = "[" + ", ".join(f"'{s}'" for s in NOISE) + "]"
    return f"""
        WITH r AS (SELECT i, (i - 1) // {per} AS person, (i - 1) % {per} AS j,
                          (hash(i * 13 + 5) % 1000)::INT AS v
                   FROM range({first}, {last + 1}) t(i)),
        d AS (SELECT *, (hash(person) % 1000)::INT AS u,
                     (hash(person * 7 + 1) % (30 * 86400))::BIGINT AS base_s FROM r),
        e AS (SELECT *, CASE WHEN u < 150 THEN 0 WHEN u < 450 THEN 1 WHEN u < 700 THEN 2
                             WHEN u < 850 THEN 3 WHEN u < 930 THEN 4 ELSE 5 END AS depth FROM d)
        SELECT i AS event_id, person + 1 AS customer_id,
               {T0_US} + (base_s + CASE WHEN j < 5 THEN j * (60 + v * 3)
                          ELSE (hash(i * 31) % 172800)::BIGINT - 86400 END) * 1000000 + v
                 AS ts_us,
               'track' AS kind,
               CASE WHEN j < depth THEN {names}[j + 1]
                    WHEN j >= 5 AND v < 200 THEN {names}[1]
                    ELSE {noise}[1 + v % 15] END AS name,
               json_object('sku', 'SKU-' || (v % 997), 'price', (v % 50) + 0.99)
                 AS props,
               CASE WHEN v < 300 THEN 'ads' WHEN v < 400 THEN 'news' END AS source
        FROM e"""


def floor_sql(files: list[Path], d: Any) -> str:
    """The hand-written query: the same counts, medians and p90s as the engine's."""
    lo = int(d.from_.timestamp()) * 1_000_000
    hi = int(d.to.timestamp()) * 1_000_000
    w = d.window_seconds * 1_000_000
    paths = ", ".join(f"'{p}'" for p in files)
    names = ", ".join(f"'{s}'" for s in STEPS)
    ctes = [
        f"e AS (SELECT customer_id AS p, event_id AS id, ts_us AS ts, name"
        f" FROM read_parquet([{paths}]) WHERE name IN ({names}) AND ts_us BETWEEN {lo}"
        f" AND {hi + w})",
        f"s0 AS (SELECT p, id, ts, ts AS start, NULL::BIGINT AS gap FROM e"
        f" WHERE name = '{STEPS[0]}' AND ts BETWEEN {lo} AND {hi})",
    ]
    for k in range(1, len(STEPS)):
        ctes.append(
            f"s{k} AS (SELECT b.p, b.id, b.ts, max(a.start) AS start, min(b.ts - a.ts) AS gap"
            f" FROM e b JOIN s{k - 1} a ON b.p = a.p AND b.ts - a.start <= {w}"
            f" AND (b.ts > a.ts OR (b.ts = a.ts AND b.id > a.id))"
            f" WHERE b.name = '{STEPS[k]}' GROUP BY b.p, b.id, b.ts)"
        )
    select = " UNION ALL ".join(
        f"SELECT {k} AS step, count(*), quantile_cont(g, 0.5), quantile_cont(g, 0.9)"
        f" FROM (SELECT p, min(gap) AS g FROM s{k} GROUP BY p)"
        if k
        else "SELECT 0 AS step, count(DISTINCT p), NULL, NULL FROM s0"
        for k in range(len(STEPS))
    )
    return "WITH " + ", ".join(ctes) + " " + select


def timed(fns: list[Any], runs: int) -> list[tuple[float, Any]]:
    """For each function, the p50 seconds of ``runs`` warm runs (one more first, untimed)
    and its last answer. The functions take turns run by run, so a burst of other work on
    the machine falls on both sides of a ratio rather than on one."""
    answers = [fn() for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            answers[i] = fn()
            times[i].append(time.perf_counter() - t)
    return [(median(ts), answer) for ts, answer in zip(times, answers, strict=True)]


def bench_funnel(events: int, people: int) -> dict[str, Any]:
    import duckdb

    from lastmile.funnels.engines.duckdb import DuckDBEngine

    directory = WORK / "funnels" / "analytics"
    shutil.rmtree(directory, ignore_errors=True)
    engine = DuckDBEngine(directory)
    say(f"== funnels: {events:,} synthetic events of {people:,} people, as segments")
    t = time.perf_counter()
    for first in range(1, events + 1, SEGMENT_IDS):
        last = min(first + SEGMENT_IDS - 1, events)
        engine.append_select(generated(first, last, people, events), first=first, last=last)
    engine.people_write(merged=[], moved=[])
    written_s = time.perf_counter() - t
    pieces = len(engine.segments())
    t = time.perf_counter()
    engine.compact()
    compact_s = time.perf_counter() - t
    say(
        f"  {pieces} segments in {written_s:.1f}s, compacted to {len(engine.segments())}"
        f" in {compact_s:.1f}s"
    )

    d = definition()
    files = [p for _, _, p in engine.segments()]
    with duckdb.connect() as con:
        sql = floor_sql(files, d)
        (funnel_s, result), (floor_s, rows) = timed(
            [lambda: engine.funnel(d), lambda: sorted(con.execute(sql).fetchall())], RUNS
        )
    say(f"  engine.funnel p50 {funnel_s:.3f}s: {[s.count for s in result.steps]}")
    say(f"  floor SQL p50 {floor_s:.3f}s")
    us = 1_000_000
    floor_answer = [
        (count, None if m is None else m / us, None if q is None else q / us)
        for _, count, m, q in rows
    ]
    engine_answer = [
        (s.count, s.median_seconds_from_previous, s.p90_seconds_from_previous) for s in result.steps
    ]
    if [a[0] for a in floor_answer] != [a[0] for a in engine_answer] or any(
        (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-6)
        for fa, ea in zip(floor_answer[1:], engine_answer[1:], strict=True)
        for x, y in zip(fa[1:], ea[1:], strict=True)
    ):
        raise RuntimeError(f"the floor answered {floor_answer}, the engine {engine_answer}")
    return {
        "funnel_10m_s": round(funnel_s, 4),
        "funnel_floor_10m_s": round(floor_s, 4),
        "funnel_ratio": round(funnel_s / floor_s, 3),
        "funnel_compact_10m_s": round(compact_s, 2),
        "funnel_events": events,
        "funnel_people": people,
        "funnel_segments": pieces,
        "funnel_counts": [s.count for s in result.steps],
    }


def copy_child(events: int) -> dict[str, Any]:
    """In a process with the bench database's environment: record ``events`` Segment
    track calls through the event store, then time one analytics copy of them."""
    import django

    django.setup()
    from lastmile.channels import segment
    from lastmile.funnels import services
    from lastmile.funnels.engines.duckdb import DuckDBEngine

    now = datetime.now(UTC)
    source = segment.source_create(name="bench", now=now)[0]
    t = time.perf_counter()
    for start in range(0, events, 1000):
        msgs = [
            {
                "type": "track",
                "event": STEPS[j % len(STEPS)],
                "userId": f"user-{j % 2_000:06d}",
                "messageId": str(uuid.UUID(int=j)),
                "timestamp": (now - timedelta(seconds=events - j)).isoformat(),
                "properties": {"sku": f"SKU-{j % 997}", "price": 19.99, "currency": "EUR"},
                "context": {
                    "library": {"name": "analytics-python", "version": "2.3.5"},
                    "campaign": {"source": "ads" if j % 3 else "newsletter"},
                },
            }
            for j in range(start, min(start + 1000, events))
        ]
        items = segment.request_parse({"batch": msgs}, kind=None, received_at=now, source=source)
        segment.events_record(items=items, now=now)
    load_s = time.perf_counter() - t
    engine = DuckDBEngine(Path(os.environ["LASTMILE_VAR_DIR"]) / "analytics")
    t = time.perf_counter()
    report = services.analytics_copy(engine=engine, now=datetime.now(UTC))
    copy_s = time.perf_counter() - t
    if report.events != events:
        raise RuntimeError(f"copied {report.events} of {events} events")
    return {"load_per_s": events / load_s, "copy_per_s": events / copy_s, "copy_s": copy_s}


def bench_copy(vendor: str, events: int) -> dict[str, Any]:
    say(f"== funnels: analytics copy of {events:,} events on {vendor}")
    db = fresh_database(vendor, "funnels-copy")
    proc = subprocess.run(
        [sys.executable, __file__, "--copy-child", "--copy-events", str(events)],
        env=db.env(),
        capture_output=True,
        text=True,
        cwd=common.REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    out = json.loads(proc.stdout)
    say(f"  recorded at {out['load_per_s']:,.0f}/s; copied at {out['copy_per_s']:,.0f}/s")
    shutil.rmtree(db.var_dir, ignore_errors=True)
    if vendor == "postgresql":
        common.pg_drop()
    suffix = "_pg" if vendor == "postgresql" else ""
    return {f"analytics_copy_per_s{suffix}": round(out["copy_per_s"])}


def write_page(out: dict[str, Any], command: str) -> None:
    lines = [
        f"Run `{command}` on {platform.node()} ({os.cpu_count()} cores),"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Funnel, 5 ordered steps over {out['funnel_events']:,} events of"
        f" {out['funnel_people']:,} people: **{out['funnel_10m_s']:.3f} s** p50"
        f" (target < 1 s); counts {out['funnel_counts']}.",
        f"- Floor, hand-written DuckDB SQL over the same files: {out['funnel_floor_10m_s']:.3f} s;"
        f" ratio **{out['funnel_ratio']:.2f}** (target <= 1.5).",
        f"- Compaction of {out['funnel_segments']} segments into one:"
        f" {out['funnel_compact_10m_s']:.1f} s.",
    ]
    for key, label in (
        ("analytics_copy_per_s", "SQLite"),
        ("analytics_copy_per_s_pg", "PostgreSQL"),
    ):
        if key in out:
            lines.append(f"- Analytics copy, event store to Parquet ({label}): **{out[key]:,}/s**.")
    page_block_write(PAGE, begin=BEGIN, end=END, lines=lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--people", type=int, default=None, help="default: events / 10")
    ap.add_argument("--copy-events", type=int, default=100_000)
    ap.add_argument("--vendor", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite bench/FUNNELS.md")
    ap.add_argument("--copy-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.copy_child:
        print(json.dumps(copy_child(args.copy_events)))
        return 0
    # Progress goes to stderr: stdout carries only the JSON object that bench/run.py reads.
    with contextlib.redirect_stdout(sys.stderr):
        out = bench_funnel(args.events, args.people or args.events // 10)
        vendors = ["sqlite", "postgresql"] if args.vendor == "both" else [args.vendor]
        if "postgresql" in vendors and (why := common.pg_reachable()):
            say(f"  PostgreSQL skipped: {why}")
            vendors.remove("postgresql")
        for vendor in vendors:
            out.update(bench_copy(vendor, args.copy_events))
        if not args.no_write:
            write_page(out, "python bench/" + " ".join(["funnels.py", *sys.argv[1:]]))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
