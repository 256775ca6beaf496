"""lastmile's bench: ingest, timeline and sweeper, each beside a floor measured in the same run.

    make bench            # full sizes (under 15 minutes on 2 cores)
    make bench QUICK=1    # a tenth of every size (under 2 minutes)
    .venv/bin/python bench/run.py [--quick] [--no-pg] [--keep] [--profile-sweep]

Writes bench/results.json (every figure) and bench/RESULTS.md (the table, with targets).
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import common
import ingest
import timeline
from common import WORK, Database, fresh_database, gunicorn, say, token_create

FULL = {
    "ingest_interactions": 100_000,
    "ingest_customers": 10_000,
    "timeline_customers": 10_000,
    "timeline_per_customer": 100,
    "timeline_requests": 2_000,
    "timeline_warmup": 200,
    "sweep_loops": 1_000_000,
    "sweep_due": 10_000,
    "segment_events": 50_000,
    "mentions_rows": 20_000,
}
QUICK = {
    "ingest_interactions": 10_000,
    "ingest_customers": 1_000,
    "timeline_customers": 1_000,
    "timeline_per_customer": 100,
    "timeline_requests": 500,
    "timeline_warmup": 50,
    "sweep_loops": 100_000,
    "sweep_due": 1_000,
    "segment_events": 5_000,
    "mentions_rows": 2_000,
}
TARGETS = {
    "ingest_per_s": (">=", 5000),
    "timeline_p99_ms": ("<=", 25),
    "sweep_s": ("<=", 2),
    "anomaly_buckets_per_s": (">=", 100_000),
    "nab_standard": (">=", 71.7),  # Numenta HTM's published score on these five series
    "sentiment_texts_per_s": (">=", 1000),
    "sentiment_one_text_p99_ms": ("<=", 5),
    "segment_events_per_s": (">=", 10_000),
}

# Benches of pure models, run as their own scripts (they print one JSON object and write
# their own detail page); the keys listed here are copied into results.json.
SIDE_BENCHES = {
    "segment.py": (
        "SEGMENT.md",
        [
            f"segment_{k}{pg}"
            for pg in ("", "_pg")
            for k in (
                "events_per_s",
                "batch_p99_ms",
                "server_cpu_us_per_event",
                "client_events_per_s",
                "floor_per_s",
                "ratio",
            )
        ],
    ),
    "anomaly.py": (
        "ANOMALY.md",
        ["anomaly_buckets_per_s", "nab_standard", "nab_low_fp", "nab_low_fn"],
    ),
    "sentiment.py": (
        "SENTIMENT.md",
        [
            "sentiment_val_macro_recall",
            "sentiment_val_accuracy",
            "sentiment_texts_per_s",
            "sentiment_one_text_p99_ms",
            "vader_val_macro_recall",
            "vader_val_accuracy",
            "vader_texts_per_s",
        ],
    ),
    "mentions.py": (
        "MENTIONS.md",
        [
            f"mentions_{k}{pg}"
            for pg in ("", "_pg")
            for k in (
                "import_rows_per_s",
                "import_cpu_s",
                "reimport_rows_per_s",
                "floor_per_s",
                "ratio",
            )
        ],
    ),
}


def side_benches(results: dict[str, Any]) -> None:
    """Run the model benches (sentiment, spike detector); a missing data set is noted, not fatal."""
    for script, (page, keys) in SIDE_BENCHES.items():
        path = common.BENCH_DIR / script
        if not path.exists():
            continue
        say(f"== {script.removesuffix('.py')}")
        cmd = [sys.executable, str(path)]
        if script == "segment.py":  # runs against the databases (so does mentions.py)
            cmd += ["--events", str(results["sizes"]["segment_events"])]
            cmd += ["--vendor", "sqlite"] if results.get("pg_skipped") else []
        if script == "mentions.py":  # imports a file into each engine
            cmd += ["--rows", str(results["sizes"]["mentions_rows"])]
            cmd += ["--vendor", "sqlite"] if results.get("pg_skipped") else []
        proc = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            note = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            say(f"  {script} did not run: {note}")
            results.setdefault("side_skipped", {})[script] = note
            continue
        out = json.loads(proc.stdout)
        results.update({k: out[k] for k in keys if k in out})
        results.setdefault("side_pages", []).append(page)
        say("  " + ", ".join(f"{k} {out[k]}" for k in keys if k in out))


def bench_backend(vendor: str, sizes: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    """Ingest, timeline and sweep on one database engine; flat figures without suffix."""
    out: dict[str, Any] = {}
    say(f"== {vendor}: ingest")
    db = fresh_database(vendor, "ingest")
    out["db_version"] = common.db_version(db)
    token = token_create(db)
    with gunicorn(db) as base:
        r = ingest.bench(db, base, token, sizes["ingest_interactions"], sizes["ingest_customers"])
    out.update(
        ingest_per_s=r["api"]["per_s"],
        ingest_wall_s=r["api"]["wall_s"],
        ingest_batch_p50_ms=r["api"]["batch_p50_ms"],
        ingest_batch_p99_ms=r["api"]["batch_p99_ms"],
        ingest_floor_per_s=r["floor"]["per_s"],
        ingest_floor_method=r["floor"]["method"],
        ingest_ratio=r["api"]["per_s"] / r["floor"]["per_s"],
    )
    cleanup(db, args)

    say(f"== {vendor}: timeline")
    db = fresh_database(vendor, "read")
    token = token_create(db)
    timeline.load(
        db, customers=sizes["timeline_customers"], per_customer=sizes["timeline_per_customer"]
    )
    with gunicorn(db) as base:
        t = timeline.bench(
            base,
            token,
            customers=sizes["timeline_customers"],
            requests_n=sizes["timeline_requests"],
            warmup=sizes["timeline_warmup"],
        )
    out.update(
        timeline_p50_ms=t["p50_ms"], timeline_p99_ms=t["p99_ms"], timeline_max_ms=t["max_ms"]
    )

    say(f"== {vendor}: sweeper")
    result_path = db.var_dir / "sweep.json"
    cmd = [
        sys.executable,
        str(common.BENCH_DIR / "sweep.py"),
        "--vendor",
        vendor,
        "--var-dir",
        str(db.var_dir),
        "--loops",
        str(sizes["sweep_loops"]),
        "--due",
        str(sizes["sweep_due"]),
        "--customers",
        str(sizes["timeline_customers"]),
        "--out",
        str(result_path),
    ]
    if args.profile_sweep:
        cmd += ["--profile", str(common.BENCH_DIR / "_work" / f"sweep-{vendor}.prof")]
    proc = subprocess.run(cmd, env=db.env(), cwd=common.REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep bench on {vendor} failed (exit {proc.returncode})")
    s = json.loads(result_path.read_text())
    out.update(
        sweep_s=s["sweep_s"],
        sweep_floor_s=s["floor_s"],
        sweep_ratio=s["sweep_s"] / s["floor_s"],
        sweep_floor_plan=s["floor_plan"],
        sweep_notifications=s["first"]["notifications"],
        sweep_batches=s["first"]["batches"],
        sweep_second_loops=s["second"]["loops"],
    )
    cleanup(db, args)
    return out


def cleanup(db: Database, args: argparse.Namespace) -> None:
    if args.keep:
        return
    if db.vendor == "postgresql":
        common.pg_drop()
    shutil.rmtree(db.var_dir, ignore_errors=True)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in ("django", "django-ninja", "gunicorn", "psycopg"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def passes(key: str, value: float) -> bool:
    op, bound = TARGETS[key.removesuffix("_pg")]
    return value >= bound if op == ">=" else value <= bound


def write_markdown(results: dict[str, Any], path: Any) -> None:
    def fmt(key: str, unit: str) -> str:
        v = results.get(key)
        if v is None:
            return "—"
        if unit == "/s":
            return f"{v:,.0f}/s"
        if unit == "ms":
            return f"{v:.1f} ms"
        if unit == "s":
            return f"{v * 1000:.2f} ms" if v < 0.1 else f"{v:.2f} s"
        if unit == "x":
            return f"{v:,.0f}×"
        return f"{v:.3f}"

    def mark(key: str) -> str:
        v = results.get(key)
        if v is None or key.removesuffix("_pg") not in TARGETS:
            return ""
        return " ✅" if passes(key, v) else " ❌"

    s = results["sizes"]
    rows = [
        ("Ingest, batch API over HTTP", "ingest_per_s", "/s", "≥ 5,000/s"),
        ("Ingest, per-batch latency p50", "ingest_batch_p50_ms", "ms", ""),
        ("Ingest, per-batch latency p99", "ingest_batch_p99_ms", "ms", ""),
        ("Ingest floor (raw bulk insert, bare table)", "ingest_floor_per_s", "/s", ""),
        ("Ingest / floor", "ingest_ratio", "ratio", "(reported)"),
        ("Timeline p50", "timeline_p50_ms", "ms", ""),
        ("Timeline p99", "timeline_p99_ms", "ms", "≤ 25 ms"),
        ("Sweep (one `loops_sweep`)", "sweep_s", "s", "≤ 2 s"),
        ("Sweep floor (bare indexed SELECT of the due ids)", "sweep_floor_s", "s", ""),
        ("Sweep / floor", "sweep_ratio", "x", "(reported)"),
    ]
    lines = [
        "# lastmile bench results",
        "",
        f"Measured {results['date']} on a machine with **{results['cores']} cores** "
        f"({'quick run: a tenth of every size' if results['quick'] else 'full sizes'}; load average "
        f"{results['loadavg_start'][0]:.1f} at the start, {results['loadavg_end'][0]:.1f} at the end; "
        f"{results['elapsed_s']:.0f} s in all), by:",
        "",
        "```",
        results["command"],
        "```",
        "",
        "| figure | SQLite | PostgreSQL | target |",
        "|---|---:|---:|---|",
    ]
    for label, key, unit, target in rows:
        lines.append(
            f"| {label} | {fmt(key, unit)}{mark(key)} | {fmt(key + '_pg', unit)}{mark(key + '_pg')} | {target} |"
        )
    lines += [
        "",
        "Sizes: ingest {ingest_interactions:,} interactions for {ingest_customers:,} customers (batches of 1,000, "
        "2 keep-alive clients, gunicorn 2 workers × 2 threads); timeline {tl:,} interactions "
        "({timeline_customers:,} customers × {timeline_per_customer}), {timeline_requests:,} requests after "
        "{timeline_warmup} warm-up, `limit=50`; sweep {sweep_loops:,} open loops, {sweep_due:,} due.".format(
            tl=s["timeline_customers"] * s["timeline_per_customer"], **s
        ),
        "",
        f"Floors: ingest — {results.get('ingest_floor_method', '—')} (SQLite); "
        f"{results.get('ingest_floor_method_pg', '—')} (PostgreSQL). Sweep — "
        "`SELECT id FROM loops_loop WHERE state = 'open' AND next_check_at <= ?`, best of 3; plan on SQLite: "
        f"`{results.get('sweep_floor_plan', '—')}`; on PostgreSQL: `{results.get('sweep_floor_plan_pg', '—')}`.",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items())
        + (f", PostgreSQL {results['postgres']}" if results.get("postgres") else "")
        + ".",
    ]
    if results.get("pg_skipped"):
        lines += ["", f"PostgreSQL was skipped: {results['pg_skipped']}."]
    side = [
        ("Segment API, raw /v1/batch posts (SQLite)", "segment_events_per_s", "/s", "≥ 10,000/s"),
        ("Segment API, batch p99 (SQLite)", "segment_batch_p99_ms", "ms", ""),
        ("Segment API, server CPU µs/event (SQLite)", "segment_server_cpu_us_per_event", "num", ""),
        ("Segment API, real Python client (SQLite)", "segment_client_events_per_s", "/s", ""),
        ("Segment floor (raw sqlite3 executemany)", "segment_floor_per_s", "/s", ""),
        ("Segment raw posts / floor (SQLite)", "segment_ratio", "num", "(reported)"),
        ("Segment API, raw /v1/batch posts (PostgreSQL)", "segment_events_per_s_pg", "/s", ""),
        ("Segment API, batch p99 (PostgreSQL)", "segment_batch_p99_ms_pg", "ms", ""),
        ("Segment API, server CPU µs/event (PG)", "segment_server_cpu_us_per_event_pg", "num", ""),
        ("Segment API, real Python client (PG)", "segment_client_events_per_s_pg", "/s", ""),
        ("Segment floor (PostgreSQL COPY)", "segment_floor_per_s_pg", "/s", ""),
        ("Segment raw posts / floor (PostgreSQL)", "segment_ratio_pg", "num", "(reported)"),
        ("Spike detector throughput (one core)", "anomaly_buckets_per_s", "/s", "≥ 100,000/s"),
        (
            "NAB score, standard profile (5 shared series)",
            "nab_standard",
            "num",
            "> 71.7 (Numenta HTM)",
        ),
        ("NAB score, low-FP profile", "nab_low_fp", "num", ""),
        ("NAB score, low-FN profile", "nab_low_fn", "num", ""),
        ("Sentiment, val macro-recall", "sentiment_val_macro_recall", "num", "(VADER below)"),
        ("Sentiment, val accuracy", "sentiment_val_accuracy", "num", ""),
        ("Sentiment, texts/s in batch (one core)", "sentiment_texts_per_s", "/s", "≥ 1,000/s"),
        ("Sentiment, one text p99", "sentiment_one_text_p99_ms", "ms", "≤ 5 ms"),
        ("VADER, val macro-recall", "vader_val_macro_recall", "num", "(baseline)"),
        ("VADER, val accuracy", "vader_val_accuracy", "num", ""),
        ("VADER, texts/s", "vader_texts_per_s", "/s", ""),
        ("Mention import, TWCS rows/s (SQLite)", "mentions_import_rows_per_s", "/s", ""),
        ("Mention import, CPU s (SQLite)", "mentions_import_cpu_s", "num", ""),
        ("Mention re-import, rows/s (SQLite)", "mentions_reimport_rows_per_s", "/s", ""),
        ("Mention floor (raw sqlite3 executemany)", "mentions_floor_per_s", "/s", ""),
        ("Mention import / floor (SQLite)", "mentions_ratio", "num", "(reported)"),
        ("Mention import, TWCS rows/s (PostgreSQL)", "mentions_import_rows_per_s_pg", "/s", ""),
        ("Mention import, CPU s (PostgreSQL)", "mentions_import_cpu_s_pg", "num", ""),
        ("Mention re-import, rows/s (PG)", "mentions_reimport_rows_per_s_pg", "/s", ""),
        ("Mention floor (PostgreSQL COPY)", "mentions_floor_per_s_pg", "/s", ""),
        ("Mention import / floor (PostgreSQL)", "mentions_ratio_pg", "num", "(reported)"),
    ]
    if any(k in results for _, k, _, _ in side):
        lines += [
            "",
            "## Event API and listening models",
            "",
            "| figure | value | target |",
            "|---|---:|---|",
        ]
        for label, key, unit, target in side:
            if key in results:
                value = f"{results[key]:.3f}" if unit == "num" else fmt(key, unit)
                lines.append(f"| {label} | {value}{mark(key)} | {target} |")
        pages = ", ".join(f"[`bench/{p}`]({p})" for p in results.get("side_pages", []))
        lines += ["", f"Details, per-file scores and the methods: {pages}."]
    for script, note in results.get("side_skipped", {}).items():
        lines += ["", f"`bench/{script}` did not run: {note}"]
    failed = [k for k in results if k.removesuffix("_pg") in TARGETS and not passes(k, results[k])]
    lines += [
        "",
        "All targets met."
        if not failed
        else "Targets missed: " + ", ".join(f"`{k}`" for k in failed) + ".",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a tenth of every size (under 2 minutes)")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    ap.add_argument(
        "--no-sqlite", action="store_true", help="skip SQLite (for working on the PostgreSQL part)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the bench databases under bench/_work/"
    )
    ap.add_argument(
        "--profile-sweep", action="store_true", help="cProfile the sweep into bench/_work/"
    )
    args = ap.parse_args()
    sizes = QUICK if args.quick else FULL
    cores = os.cpu_count() or 1
    started = datetime.now(UTC)
    WORK.mkdir(exist_ok=True)
    say(f"lastmile bench ({'quick' if args.quick else 'full'}) on {cores} cores; sizes {sizes}")

    results: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores,
        "quick": args.quick,
        "sizes": sizes,
        "versions": versions(),
        "loadavg_start": list(os.getloadavg()),
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]])
        + (
            "   # what `make bench" + (" QUICK=1" if args.quick else "") + "` runs"
            if not (args.no_pg or args.no_sqlite or args.keep or args.profile_sweep)
            else ""
        ),
    }
    if not args.no_sqlite:
        sqlite_out = bench_backend("sqlite", sizes, args)
        results.update({k: v for k, v in sqlite_out.items() if k != "db_version"})

    skip = "--no-pg given" if args.no_pg else common.pg_reachable()
    if skip:
        say(f"== PostgreSQL skipped: {skip}")
        results["pg_skipped"] = skip
    else:
        pg_out = bench_backend("postgresql", sizes, args)
        results["postgres"] = pg_out.pop("db_version")
        results.update({f"{k}_pg": v for k, v in pg_out.items()})

    side_benches(results)
    results["python_version"] = results["versions"]["python"]
    results["sqlite_version"] = results["versions"]["sqlite"]
    results["postgres_version"] = results.get("postgres")
    results["targets"] = {k: f"{op} {bound}" for k, (op, bound) in TARGETS.items()}
    results["passed"] = {
        k: passes(k, results[k]) for k in sorted(results) if k.removesuffix("_pg") in TARGETS
    }
    results["elapsed_s"] = (datetime.now(UTC) - started).total_seconds()
    results["loadavg_end"] = list(os.getloadavg())
    (common.BENCH_DIR / "results.json").write_text(
        json.dumps(results, indent=2, sort_keys=True) + "\n"
    )
    write_markdown(results, common.BENCH_DIR / "RESULTS.md")
    say(f"done in {results['elapsed_s']:.0f}s: wrote bench/results.json and bench/RESULTS.md")
    print((common.BENCH_DIR / "RESULTS.md").read_text())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    finally:
        common.stop_servers()
