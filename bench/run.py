"""lastmile's bench: ingest, timeline and sweeper, each beside a floor measured in the same run.

    make bench            # full sizes (under 15 minutes on 2 cores)
    make bench QUICK=1    # a tenth of every size (under 2 minutes)
    .venv/bin/python bench/run.py [--quick] [--no-pg] [--keep] [--profile-sweep]
    .venv/bin/python bench/run.py --quick --only sweep,ingest_cases   # some workloads only
    .venv/bin/python bench/run.py --scale 10m    # `make bench SCALE=10m`: 10M rows on PostgreSQL

Writes bench/results.json (every figure) and bench/RESULTS.md (the table, with targets);
a run limited by --only writes them under bench/_work/ instead. It exits 1 when a figure it
should have measured is missing or a target is missed, and names them (bench/figures.py).
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import requests

import common
import console
import figures
import ingest
import timeline
from common import WORK, Database, fresh_database, gunicorn, say, token_create
from figures import ENGINE_ROWS, SIDE_PAGES, SIDE_ROWS, TARGETS, WORKLOADS, Row

FULL = {
    "ingest_interactions": 100_000,
    "ingest_customers": 10_000,
    "ingest_cases_interactions": 20_000,
    "timeline_customers": 10_000,
    "timeline_per_customer": 100,
    "timeline_requests": 2_000,
    "timeline_warmup": 200,
    "sweep_loops": 1_000_000,
    "sweep_due": 10_000,
    "segment_events": 50_000,
    "mentions_rows": 20_000,
    "console_open_loops": 100_000,
    "console_other_loops": 20_000,
    "console_case_messages": 500,
    "console_requests": 300,
    "console_warmup": 30,
    "console_budget_s": 10,  # a page slower than that stops after 10 s of requests
    "search_requests": 100,  # per kind of query: common word, rare word, name, case ref
    "funnel_events": 10_000_000,  # synthetic, written as Parquet segments (bench/funnels.py)
    "funnel_copy_events": 50_000,  # through the event store, then copied
    "jobs_drivers": 1_000,  # one job each, four writes, replayed twice (bench/jobs.py)
    "jobs_invoices": 10_000,
    "jobs_pdfs": 1_000,
    "feedback_responses": 2_000,  # answers through the API (bench/feedback.py)
    "feedback_summary_rows": 1_000_000,  # answers under the summary, bulk-loaded
    "dashboard_loops": 1_000_000,  # bulk-loaded, with the cases, answers, jobs, alerts
    "dashboard_interactions": 10_000_000,
    "dashboard_requests": 50,  # per user (admin, lead), after 5 warm-up
}
QUICK = {
    "ingest_interactions": 10_000,
    "ingest_customers": 1_000,
    "ingest_cases_interactions": 2_000,
    "timeline_customers": 1_000,
    "timeline_per_customer": 100,
    "timeline_requests": 500,
    "timeline_warmup": 50,
    "sweep_loops": 100_000,
    "sweep_due": 1_000,
    "segment_events": 5_000,
    "mentions_rows": 2_000,
    "console_open_loops": 10_000,
    "console_other_loops": 2_000,
    "console_case_messages": 500,  # the case page's figure is for a case of 500 messages
    "console_requests": 100,
    "console_warmup": 10,
    "console_budget_s": 5,
    "search_requests": 30,
    "funnel_events": 1_000_000,
    "funnel_copy_events": 5_000,
    "jobs_drivers": 100,
    "jobs_invoices": 1_000,
    "jobs_pdfs": 100,
    "feedback_responses": 200,
    "feedback_summary_rows": 100_000,
    "dashboard_loops": 100_000,
    "dashboard_interactions": 1_000_000,
    "dashboard_requests": 20,
}


def side_benches(results: dict[str, Any], workloads: list[str]) -> None:
    """Run the model benches (sentiment, spike detector, ...) asked for; one that does not
    run is noted with its last line of stderr, and its figures are then missing."""
    for script, page in SIDE_PAGES.items():
        if script.removesuffix(".py") not in workloads:
            continue
        keys = figures.side_keys(script)
        path = common.BENCH_DIR / script
        if not path.exists():
            results.setdefault("side_skipped", {})[script] = "the script is not there"
            continue
        say(f"== {script.removesuffix('.py')}")
        cmd = [sys.executable, str(path)]
        if script == "segment.py":  # runs against the databases (so does mentions.py)
            cmd += ["--events", str(results["sizes"]["segment_events"])]
            cmd += ["--vendor", "sqlite"] if results.get("pg_skipped") else []
        if script == "funnels.py":  # synthetic Parquet, and a copy from each database
            cmd += ["--events", str(results["sizes"]["funnel_events"])]
            cmd += ["--copy-events", str(results["sizes"]["funnel_copy_events"])]
            cmd += ["--vendor", "sqlite"] if results.get("pg_skipped") else []
        if script == "jobs.py":  # drivers through the API, then invoices, on each engine
            sizes = results["sizes"]
            cmd += ["--drivers", str(sizes["jobs_drivers"]), "--invoices"]
            cmd += [str(sizes["jobs_invoices"]), "--pdfs", str(sizes["jobs_pdfs"])]
            cmd += ["--vendor", "sqlite"] if results.get("pg_skipped") else []
        if script == "feedback.py":  # answers through the API, the summary, on each engine
            cmd += ["--responses", str(results["sizes"]["feedback_responses"])]
            cmd += ["--summary-rows", str(results["sizes"]["feedback_summary_rows"])]
            cmd += ["--vendor", "sqlite"] if results.get("pg_skipped") else []
        if script == "dashboard.py":  # bulk-built on each engine, the page over HTTP
            sizes = results["sizes"]
            cmd += ["--loops", str(sizes["dashboard_loops"])]
            cmd += ["--interactions", str(sizes["dashboard_interactions"])]
            cmd += ["--requests", str(sizes["dashboard_requests"])]
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
        try:
            out = json.loads(proc.stdout)
        except ValueError:  # a script that printed more than its JSON object
            note = f"its stdout is not one JSON object: {proc.stdout[:200]!r}"
            say(f"  {script} did not run: {note}")
            results.setdefault("side_skipped", {})[script] = note
            continue
        results.update({k: out[k] for k in keys if k in out})
        results.setdefault("side_pages", []).append(page)
        say("  " + ", ".join(f"{k} {out[k]}" for k in keys if k in out))


def bench_backend(
    vendor: str, sizes: dict[str, int], args: argparse.Namespace, workloads: list[str]
) -> dict[str, Any]:
    """The workloads asked for (ingest, ingest on cases, timeline, both sweeps) on one
    database engine; flat figures without suffix."""
    out: dict[str, Any] = {}
    if "ingest" in workloads:
        say(f"== {vendor}: ingest")
        db = fresh_database(vendor, "ingest")
        out["db_version"] = common.db_version(db)
        token = token_create(db)
        with gunicorn(db) as base:
            r = ingest.bench(
                db, base, token, sizes["ingest_interactions"], sizes["ingest_customers"]
            )
        out.update(
            ingest_per_s=r["api"]["per_s"],
            ingest_wall_s=r["api"]["wall_s"],
            ingest_batch_p50_ms=r["api"]["batch_p50_ms"],
            ingest_batch_p99_ms=r["api"]["batch_p99_ms"],
            ingest_floor_per_s=r["floor"]["per_s"],
            ingest_floor_method=r["floor"]["method"],
            ingest_ratio=r["api"]["per_s"] / r["floor"]["per_s"],
            ingest_sentiment_per_s=r["sentiment"]["per_s"],
        )
        cleanup(db, args)

    if "ingest_cases" in workloads:
        say(f"== {vendor}: ingest on cases")
        db = fresh_database(vendor, "ingest-cases")
        out["db_version"] = common.db_version(db)
        token = token_create(db)
        with gunicorn(db) as base:
            r = ingest.bench_cases(db, base, token, sizes["ingest_cases_interactions"])
        out.update(
            ingest_cases_per_s=r["api"]["per_s"],
            ingest_cases_wall_s=r["api"]["wall_s"],
            ingest_cases_batch_p50_ms=r["api"]["batch_p50_ms"],
            ingest_cases_batch_p99_ms=r["api"]["batch_p99_ms"],
            ingest_cases_floor_per_s=r["floor"]["per_s"],
            ingest_cases_ratio=r["api"]["per_s"] / r["floor"]["per_s"],
            ingest_cases_rows=r["rows"],
            ingest_cases_setup=r["setup"],
        )
        cleanup(db, args)

    on_timeline = [w for w in ("timeline", "console", "search") if w in workloads]
    if on_timeline or "sweep_247" in workloads:
        # The 24/7 sweep runs where it always ran: in the timeline's database, beside its
        # million interactions, so that its figure compares with the earlier ones. The
        # console's pages and search are measured there too, over the same interactions.
        db = fresh_database(vendor, "read")
        out["db_version"] = common.db_version(db)
        if on_timeline:
            say(f"== {vendor}: timeline")
            timeline.load(
                db,
                customers=sizes["timeline_customers"],
                per_customer=sizes["timeline_per_customer"],
            )
        if "timeline" in workloads:
            token = token_create(db)
            with gunicorn(db) as base:
                t = timeline.bench(
                    base,
                    token,
                    customers=sizes["timeline_customers"],
                    requests_n=sizes["timeline_requests"],
                    warmup=sizes["timeline_warmup"],
                )
            out.update(
                timeline_p50_ms=t["p50_ms"],
                timeline_p99_ms=t["p99_ms"],
                timeline_max_ms=t["max_ms"],
            )
        if "console" in workloads or "search" in workloads:
            say(f"== {vendor}: console pages and search, signed in")
            try:
                c = console.bench(
                    db,
                    sizes,
                    lambda: gunicorn(db),
                    pages="console" in workloads,
                    search="search" in workloads,
                )
            except (RuntimeError, requests.RequestException) as exc:
                # the setup, the server or the sign-in failed: the figures are missing, say why
                say(f"  console: FAILED: {exc}")
                c = {"console_errors": [f"setup: {str(exc).splitlines()[0][:300]}"]}
            # Before the 24/7 sweep loads its loops (ids from 1) into this database: the
            # console's loops out again (none was here before them).
            made = c.pop("console_made", {"first_loop": 1})
            out.update(c)
            if "sweep_247" in workloads:
                console.loops_remove(db, made["first_loop"])
        if "sweep_247" in workloads:
            say(f"== {vendor}: sweeper, 24/7, one team")
            out.update(sweep(db, sizes, args, calendar="24/7", prefix="sweep_247"))
        cleanup(db, args)

    if "sweep" in workloads:
        say(f"== {vendor}: sweeper, business hours, 50 teams, 200 policies")
        db = fresh_database(vendor, "sweep")
        out["db_version"] = common.db_version(db)
        out.update(sweep(db, sizes, args, calendar="business", prefix="sweep"))
        cleanup(db, args)
    return out


def sweep(
    db: Database, sizes: dict[str, int], args: argparse.Namespace, *, calendar: str, prefix: str
) -> dict[str, Any]:
    """One ``loops_sweep`` in a child process (bench/sweep.py); its figures as ``prefix_*``."""
    result_path = db.var_dir / f"{prefix}.json"
    cmd = [
        sys.executable,
        str(common.BENCH_DIR / "sweep.py"),
        "--vendor",
        db.vendor,
        "--var-dir",
        str(db.var_dir),
        "--loops",
        str(sizes["sweep_loops"]),
        "--due",
        str(sizes["sweep_due"]),
        "--customers",
        str(sizes["timeline_customers"]),
        "--calendar",
        calendar,
        "--out",
        str(result_path),
    ]
    if args.profile_sweep:
        cmd += ["--profile", str(common.BENCH_DIR / "_work" / f"{prefix}-{db.vendor}.prof")]
    proc = subprocess.run(cmd, env=db.env(), cwd=common.REPO)
    if proc.returncode != 0:
        raise RuntimeError(
            f"the {calendar} sweep bench on {db.vendor} failed (exit {proc.returncode})"
        )
    s = json.loads(result_path.read_text())
    return {
        f"{prefix}_s": s["sweep_s"],
        f"{prefix}_floor_s": s["floor_s"],
        f"{prefix}_ratio": s["sweep_s"] / s["floor_s"],
        f"{prefix}_floor_plan": s["floor_plan"],
        f"{prefix}_notifications": s["first"]["notifications"],
        f"{prefix}_batches": s["first"]["batches"],
        f"{prefix}_actions": s["first"]["actions"],
        f"{prefix}_second_loops": s["second"]["loops"],
        f"{prefix}_now": s["now"],
        f"{prefix}_setup": s["setup"],
    }


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


def write_markdown(results: dict[str, Any], path: Any) -> None:
    def fmt(key: str, unit: str) -> str:
        v = results.get(key)
        if v is None:
            return "—"
        if unit == "/s":
            return f"{v:,.0f}/s"
        if unit == "ms":
            return f"{v:.2f} ms" if v < 1 else f"{v:.1f} ms"
        if unit == "s":
            return f"{v * 1000:.2f} ms" if v < 0.1 else f"{v:.2f} s"
        if unit == "x":
            return f"{v:,.0f}×"
        return f"{v:.3f}"

    def mark(key: str) -> str:
        v = results.get(key)
        if v is None or key.removesuffix("_pg") not in TARGETS:
            return ""
        return " ✅" if figures.passes(key, v) else " ❌"

    s = results["sizes"]
    workloads = results.get("workloads", list(WORKLOADS))
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
    engine_rows: list[Row] = [
        row for workload, rows in ENGINE_ROWS.items() if workload in workloads for row in rows
    ]
    for row in engine_rows:
        key = row.key
        lines.append(
            f"| {row.label} | {fmt(key, row.unit)}{mark(key)} | "
            f"{fmt(key + '_pg', row.unit)}{mark(key + '_pg')} | {row.target} |"
        )
    lines += [
        "",
        "Sizes: ingest {ingest_interactions:,} interactions for {ingest_customers:,} customers (batches of 1,000, "
        "2 keep-alive clients, gunicorn 2 workers × 2 threads); ingest on cases "
        "{ingest_cases_interactions:,} interactions on {cases:,} cases, all of them on a case; timeline {tl:,} interactions "
        "({timeline_customers:,} customers × {timeline_per_customer}), {timeline_requests:,} requests after "
        "{timeline_warmup} warm-up, `limit=50`; each sweep {sweep_loops:,} open loops, {sweep_due:,} due.".format(
            tl=s["timeline_customers"] * s["timeline_per_customer"],
            cases=s["ingest_cases_interactions"] // ingest.CASE_ITEMS,
            **s,
        ),
        "",
        "Ingest on cases: "
        + str(
            results.get("ingest_cases_setup") or results.get("ingest_cases_setup_pg") or "not run"
        )
        + ".",
        "",
        "Console pages and search (signed in through the login form; `GET /healthz` through "
        "the same server and session is their floor): "
        + str(results.get("console_setup") or results.get("console_setup_pg") or "not run")
        + "; requests measured per page (SQLite/PostgreSQL; a slow page stops after "
        f"{s.get('console_budget_s', '—')} s, never under 10 but for a page of seconds, at least 3): "
        + ", ".join(
            f"{name} {results.get(key, '—')}/{results.get(key + '_pg', '—')}"
            for name, key in (
                ("inbox", "inbox_requests"),
                ("case page", "case_page_requests"),
                ("case lists", "cases_list_requests"),
                ("search", "search_requests"),
            )
        )
        + ". Search queries by kind: "
        + "; ".join(
            f"{kind}: " + ", ".join(f"`{q}`" for q in qs)
            for kind, qs in (
                results.get("search_queries") or results.get("search_queries_pg") or {}
            ).items()
        )
        + ".",
        "",
        *(
            f"Console pages on {engine} went wrong (their figures are missing): "
            + "; ".join(results[key])
            + "."
            for engine, key in (("SQLite", "console_errors"), ("PostgreSQL", "console_errors_pg"))
            if results.get(key)
        ),
        "",
        "Sweep (the headline figure): "
        + str(results.get("sweep_setup") or results.get("sweep_setup_pg") or "not run")
        + f", swept at {results.get('sweep_now') or results.get('sweep_now_pg') or '—'}. "
        "Sweep 24/7 (the earlier workload, kept to compare with earlier runs): "
        + str(results.get("sweep_247_setup") or results.get("sweep_247_setup_pg") or "not run")
        + f", swept at {results.get('sweep_247_now') or results.get('sweep_247_now_pg') or '—'}.",
        "",
        f"Floors: ingest — {results.get('ingest_floor_method', '—')} (SQLite); "
        f"{results.get('ingest_floor_method_pg', '—')} (PostgreSQL); ingest on cases the same, "
        "with the case column filled. Sweep — "
        "`SELECT id FROM loops_loop WHERE state = 'open' AND next_check_at <= ?`, best of 3; plan on SQLite: "
        f"`{results.get('sweep_floor_plan', '—')}`; on PostgreSQL: `{results.get('sweep_floor_plan_pg', '—')}` "
        "(the 24/7 sweep's floor is the same query on its own database).",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items())
        + (f", PostgreSQL {results['postgres']}" if results.get("postgres") else "")
        + ".",
    ]
    if results.get("pg_skipped"):
        lines += ["", f"PostgreSQL was skipped: {results['pg_skipped']}."]
    side = [
        row
        for script, rows in SIDE_ROWS.items()
        if script.removesuffix(".py") in workloads
        for row in rows
    ]
    if side:
        lines += [
            "",
            "## Event API and listening models",
            "",
            "| figure | value | target |",
            "|---|---:|---|",
        ]
        for row in side:
            lines.append(
                f"| {row.label} | {fmt(row.key, row.unit)}{mark(row.key)} | {row.target} |"
            )
        pages = ", ".join(f"[`bench/{p}`]({p})" for p in results.get("side_pages", []))
        lines += ["", f"Details, per-file scores and the methods: {pages}."]
    for script, note in results.get("side_skipped", {}).items():
        lines += ["", f"`bench/{script}` did not run: {note}"]
    lines += ["", verdict_of(results).sentence()]
    path.write_text("\n".join(lines) + "\n")


def verdict_of(results: dict[str, Any]) -> figures.Verdict:
    """The run's verdict: every figure its engines and workloads should have produced."""
    expected = figures.expected(
        engines=results.get("engines", figures.ENGINES),
        workloads=results.get("workloads", WORKLOADS),
    )
    return figures.verdict(results, expected)


# Figures other commands write into bench/results.json (``make bench SCALE=10m``: keys
# ``*_10m_pg`` and ``scale_10m_pg``; ``make soak``: ``soak_*``), which a full run keeps.
OTHER_RUNS = re.compile(r"(_\d+[km]_pg|^scale_.*|^soak_.*)$")
# What a scale run writes into RESULTS.md, between these markers: kept too.
SCALE_BLOCK = re.compile(r"^<!-- scale (\S+) -->$.*?^<!-- end of scale \1 -->$", re.M | re.S)


def kept_from_other_runs(out_dir: Any) -> tuple[dict[str, Any], list[str]]:
    """The figures and RESULTS.md blocks of the scale and soak runs in ``out_dir``."""
    path = out_dir / "results.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    page = out_dir / "RESULTS.md"
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    return (
        {k: v for k, v in earlier.items() if OTHER_RUNS.search(k)},
        [m.group(0) for m in SCALE_BLOCK.finditer(text)],
    )


def finish(results: dict[str, Any], *, out_dir: Any) -> int:
    """Write results.json and RESULTS.md into ``out_dir``; 0 when nothing is missing or
    missed, else 1 (after naming what). The scale and soak runs' figures already there stay
    (they are measured by other commands)."""
    kept, blocks = kept_from_other_runs(out_dir)
    results.update({k: v for k, v in kept.items() if k not in results})
    verdict = verdict_of(results)
    results["targets"] = {k: f"{op} {bound}" for k, (op, bound) in TARGETS.items()}
    results["passed"] = {
        k: figures.passes(k, results[k])
        for k in sorted(results)
        if k.removesuffix("_pg") in TARGETS and k not in verdict.missing
    }
    results["missing"] = verdict.missing
    results["missed"] = verdict.missed
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=2, sort_keys=True, default=str) + "\n"
    )
    write_markdown(results, out_dir / "RESULTS.md")
    if blocks:
        page = out_dir / "RESULTS.md"
        page.write_text(
            page.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + "\n\n".join(blocks) + "\n",
            encoding="utf-8",
        )
    return 0 if verdict.ok else 1


# The figures a scale run must produce (``<key>_<scale>_pg``): each headline figure and its
# floor measured in the same run (bench/scale.py, bench/SCALE.md).
SCALE_FIGURES = (
    "timeline_p99_ms",
    "timeline_floor_p99_ms",
    "timeline_ratio",
    "sweep_s",
    "sweep_floor_s",
    "sweep_ratio",
    "ingest_per_s",
    "ingest_floor_per_s",
    "ingest_ratio",
    "inbox_p99_ms",
    "inbox_sql_ms",
    "console_healthz_p99_ms",
    "inbox_ratio_p99",
    "case_page_p99_ms",
    "case_page_sql_ms",
    "case_page_ratio_p99",
)


def scale_run(args: argparse.Namespace) -> int:
    """``--scale``: only bench/scale.py, on its own PostgreSQL database. Its figures
    (``<figure>_<scale>_pg``) replace that scale's earlier ones in bench/results.json, the
    rest of which is kept (a scale run is not a full run); bench/SCALE.md gets the
    figures, floors, plans and lock times; RESULTS.md a short table. Exits 1 when a figure
    is missing or a target (scale.TARGETS) missed, naming them."""
    import scale
    import scale_report

    WORK.mkdir(exist_ok=True)
    out_path = WORK / f"scale-{args.scale}.json"
    out_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(common.BENCH_DIR / "scale.py"), "--scale", args.scale]
    cmd += ["--out", str(out_path)]
    cmd += ["--keep"] if args.keep else []
    cmd += ["--reuse"] if args.scale_reuse else []
    cmd += ["--phases", args.scale_phases] if args.scale_phases else []
    cmd += ["--migrations", args.scale_migrations] if args.scale_migrations else []
    say(f"lastmile bench, scale {args.scale}: {' '.join(cmd[1:])}")
    proc = subprocess.run(cmd, cwd=common.REPO)
    if proc.returncode != 0 or not out_path.exists():
        say(f"bench/scale.py exited {proc.returncode}")
        return 1
    made = json.loads(out_path.read_text())
    figs, detail = made["figures"], made["detail"]
    sfx = f"_{args.scale}_pg"
    path = common.BENCH_DIR / "results.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results = {k: v for k, v in results.items() if not k.endswith(sfx)}
    results.update(figs)
    expected = [k + sfx for k in SCALE_FIGURES]
    missing = [k for k in expected if not isinstance(figs.get(k), int | float)]
    missed = []
    for key, (op, bound) in scale.TARGETS.items():
        v = figs.get(key + sfx)
        if isinstance(v, int | float) and not (v >= bound if op == ">=" else v <= bound):
            missed.append(key + sfx)
    verdict = figures.Verdict(missing=missing, missed=missed)
    results[f"scale{sfx}"].update(
        command=" ".join(["python", "bench/run.py", *sys.argv[1:]]),
        targets={k + sfx: f"{op} {b}" for k, (op, b) in scale.TARGETS.items()},
        missing=missing,
        missed=missed,
        verdict=verdict.sentence(),
    )
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    commands = [" ".join(["python", "bench/run.py", *sys.argv[1:]])]
    if args.scale_reuse:
        commands.insert(0, f"python bench/scale.py --scale {args.scale} --keep --phases load")
    scale_report.write(detail, scale.TARGETS, commands)
    common.page_block_write(
        common.BENCH_DIR / "RESULTS.md",
        begin=f"<!-- scale {args.scale} -->",
        end=f"<!-- end of scale {args.scale} -->",
        lines=scale_markdown(figs, sfx, args.scale) + ["", verdict.sentence()],
    )
    say(f"wrote bench/results.json (keys *{sfx}), bench/SCALE.md, bench/RESULTS.md")
    say(verdict.sentence())
    return 0 if verdict.ok else 1


def scale_markdown(f: dict[str, Any], sfx: str, scale_name: str) -> list[str]:
    meta = f.get(f"scale{sfx}", {})
    sizes = meta.get("sizes") or {}

    def v(key: str, unit: str) -> str:
        x = f.get(key + sfx)
        if not isinstance(x, int | float):
            return "—"
        if unit == "x":
            return f"{x:.4f}" if x < 1 else f"{x:,.1f}×"
        if unit == "s" and x < 0.1:
            return f"{x * 1000:.1f} ms"
        return {"ms": f"{x:.1f} ms", "s": f"{x:.2f} s", "/s": f"{x:,.0f}/s"}[unit]

    return [
        f"## Scale {scale_name} on PostgreSQL ([SCALE.md](SCALE.md): plans, partitioning, "
        "migrations' locks)",
        "",
        f"{meta.get('date')}: {sizes.get('interactions', 0):,} interactions, "
        f"{sizes.get('customers', 0):,} customers, {sizes.get('loops', 0):,} open loops "
        f"({sizes.get('due', 0):,} due); load average {(meta.get('loadavg_start') or ['?'])[0]} "
        f"at the start, {(meta.get('loadavg_end') or ['?'])[0]} at the end.",
        "",
        "| figure | value | floor | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| Timeline p99 | {v('timeline_p99_ms', 'ms')} | {v('timeline_floor_p99_ms', 'ms')} | "
        f"{v('timeline_ratio', 'x')} | ≤ 10 ms |",
        f"| Sweep | {v('sweep_s', 's')} | {v('sweep_floor_s', 's')} | {v('sweep_ratio', 'x')} "
        "| ≤ 1 s |",
        f"| Ingest over HTTP | {v('ingest_per_s', '/s')} | {v('ingest_floor_per_s', '/s')} | "
        f"{v('ingest_ratio', 'x')} | ≥ 30,000/s |",
        f"| Inbox p99 | {v('inbox_p99_ms', 'ms')} | {v('console_healthz_p99_ms', 'ms')} | "
        f"{v('inbox_ratio_p99', 'x')} | ≤ 150 ms |",
        f"| Case page p99 | {v('case_page_p99_ms', 'ms')} | {v('console_healthz_p99_ms', 'ms')} "
        f"| {v('case_page_ratio_p99', 'x')} | ≤ 150 ms |",
    ]


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
        "--only",
        help="comma-separated workloads to run, of: "
        + ", ".join(WORKLOADS)
        + " (results then go to bench/_work/, not bench/)",
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the bench databases under bench/_work/"
    )
    ap.add_argument(
        "--profile-sweep", action="store_true", help="cProfile the sweeps into bench/_work/"
    )
    ap.add_argument(
        "--scale",
        choices=("100k", "1m", "10m"),
        help="only the scale bench on PostgreSQL (bench/scale.py; `make bench SCALE=10m`): "
        "its figures into bench/results.json beside the others, bench/SCALE.md",
    )
    ap.add_argument(
        "--scale-reuse",
        action="store_true",
        help="with --scale: the database lm_scale is loaded already (a --keep run)",
    )
    ap.add_argument("--scale-phases", help="with --scale: some phases only (bench/scale.py)")
    ap.add_argument(
        "--scale-migrations", help="with --scale: the migrations of these apps only (scale_db.py)"
    )
    args = ap.parse_args()
    if args.scale:
        return scale_run(args)
    workloads = list(WORKLOADS)
    if args.only:
        asked = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in asked if w not in WORKLOADS]
        if unknown:
            ap.error(f"unknown workloads {unknown}; known: {', '.join(WORKLOADS)}")
        workloads = [w for w in WORKLOADS if w in asked]
    sizes = QUICK if args.quick else FULL
    cores = os.cpu_count() or 1
    started = datetime.now(UTC)
    WORK.mkdir(exist_ok=True)
    say(
        f"lastmile bench ({'quick' if args.quick else 'full'}) on {cores} cores; "
        f"workloads {', '.join(workloads)}; sizes {sizes}"
    )

    engines = [
        e for e, skipped in (("sqlite", args.no_sqlite), ("postgresql", args.no_pg)) if not skipped
    ]
    results: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores,
        "quick": args.quick,
        "sizes": sizes,
        "versions": versions(),
        "loadavg_start": list(os.getloadavg()),
        # What this run must measure: the engines not skipped on purpose (an unreachable
        # PostgreSQL leaves its figures missing) and the workloads asked for.
        "engines": engines,
        "workloads": workloads,
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]])
        + (
            "   # what `make bench" + (" QUICK=1" if args.quick else "") + "` runs"
            if not (args.no_pg or args.no_sqlite or args.keep or args.profile_sweep or args.only)
            else ""
        ),
    }
    on_engines = [w for w in workloads if w in ENGINE_ROWS]
    if "sqlite" in engines and on_engines:
        sqlite_out = bench_backend("sqlite", sizes, args, on_engines)
        results.update({k: v for k, v in sqlite_out.items() if k != "db_version"})

    skip = "--no-pg given" if args.no_pg else common.pg_reachable()
    if skip:
        say(f"== PostgreSQL skipped: {skip}")
        results["pg_skipped"] = skip
    elif on_engines:
        pg_out = bench_backend("postgresql", sizes, args, on_engines)
        results["postgres"] = pg_out.pop("db_version", None)
        results.update({f"{k}_pg": v for k, v in pg_out.items()})

    side_benches(results, workloads)
    results["python_version"] = results["versions"]["python"]
    results["sqlite_version"] = results["versions"]["sqlite"]
    results["postgres_version"] = results.get("postgres")
    results["elapsed_s"] = (datetime.now(UTC) - started).total_seconds()
    results["loadavg_end"] = list(os.getloadavg())
    out_dir = WORK if args.only else common.BENCH_DIR
    code = finish(results, out_dir=out_dir)
    where = out_dir.relative_to(common.REPO)
    say(f"done in {results['elapsed_s']:.0f}s: wrote {where}/results.json and {where}/RESULTS.md")
    print((out_dir / "RESULTS.md").read_text())
    if code:
        say(verdict_of(results).sentence())
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    finally:
        common.stop_servers()
