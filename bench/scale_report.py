"""bench/SCALE.md's measured part, from what bench/scale.py measured (called by run.py).

The page's text outside the markers is written by hand (what held, what did not, what the
database needed); between them this module writes the figures, floors, ratios, load
averages, the plans, the partitioning comparison and the migrations' lock times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import BENCH_DIR, page_block_write

NOTICED_MS = 1000  # a probe's wait shown in the migrations' table from this long

BEGIN = "<!-- scale: measured (bench/scale_report.py writes this part) -->"
END = "<!-- scale: end of measured part -->"

# (label, figure, floor label, floor key, ratio key, unit)
ROWS = [
    (
        "Timeline p99, `GET /api/v1/customers/{id}/timeline?limit=50`",
        "timeline_p99_ms",
        "bare indexed SELECT of the page's 51 rows, p99",
        "timeline_floor_p99_ms",
        "timeline_ratio",
        "ms",
    ),
    (
        "One sweep (`loops_sweep`), business hours",
        "sweep_s",
        "bare indexed SELECT of the due ids (best of 3)",
        "sweep_floor_s",
        "sweep_ratio",
        "s",
    ),
    (
        "Ingest over HTTP, batch API",
        "ingest_per_s",
        "same rows COPY'd into a bare table",
        "ingest_floor_per_s",
        "ingest_ratio",
        "/s",
    ),
    (
        "Inbox p99, as a team's agent",
        "inbox_p99_ms",
        "`GET /healthz`, same server and session, p99",
        "console_healthz_p99_ms",
        "inbox_ratio_p99",
        "ms",
    ),
    (
        "Case page p99, 500 messages",
        "case_page_p99_ms",
        "`GET /healthz`, same server and session, p99",
        "console_healthz_p99_ms",
        "case_page_ratio_p99",
        "ms",
    ),
]
LOADAVG_KEY = {
    "timeline_p99_ms": "timeline_loadavg",
    "sweep_s": "sweep_loadavg",
    "ingest_per_s": "ingest_loadavg",
    "inbox_p99_ms": "console_loadavg",
    "case_page_p99_ms": "console_loadavg",
}


def fmt(v: Any, unit: str) -> str:
    if not isinstance(v, int | float):
        return "—"
    if unit == "/s":
        return f"{v:,.0f}/s"
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "x":
        return f"{v:.4f}" if v < 1 else f"{v:,.1f}×"
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms"


def met(key: str, v: Any, targets: dict[str, tuple[str, float]]) -> str:
    if key not in targets:
        return ""
    if not isinstance(v, int | float):
        return "missing"
    op, bound = targets[key]
    ok = v >= bound if op == ">=" else v <= bound
    return f"{op} {bound:,} {'✅' if ok else '❌'}"


def la(value: Any) -> str:
    if not value:
        return "—"
    start, end = value
    return f"{start[0]:.1f} → {end[0]:.1f}"


def lines_of(
    out: dict[str, Any], targets: dict[str, tuple[str, float]], commands: list[str]
) -> list[str]:
    s = out.get("scale_sizes", {})
    scale = out.get("scale", "?")
    lines = [
        f"## Measured: scale `{scale}` ({s.get('interactions', 0):,} interactions, "
        f"{s.get('customers', 0):,} customers, {s.get('loops', 0):,} open loops, "
        f"{s.get('due', 0):,} due)",
        "",
        f"{out.get('date', '?')}, PostgreSQL {out.get('postgres', '?')}, {out.get('cores', '?')} "
        f"cores shared with other work: load average {out.get('loadavg_start', ['?'])[0]} at "
        f"the start, {out.get('loadavg_end', ['?'])[0]} at the end (a load over 2 on 2 cores "
        "means every figure here is pessimistic: the server, the client and PostgreSQL wait "
        "for a core). Commands:",
        "",
        "```",
        *commands,
        "```",
        "",
        "Each run of bench/scale.py on this database (a later run with `--reuse` measures its "
        "phases again on the data kept, the other figures stay the earlier run's):",
        "",
        *[
            f"- {r['date']}: `{r['command']}` (load average {r['loadavg'][0]})"
            for r in out.get("runs", [])
        ],
        "",
        "| figure | value | floor (same run) | floor value | ratio | target | load average during |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for label, key, floor_label, floor_key, ratio_key, unit in ROWS:
        lines.append(
            f"| {label} | {fmt(out.get(key), unit)} | {floor_label} | "
            f"{fmt(out.get(floor_key), unit)} | {fmt(out.get(ratio_key), 'x')} | "
            f"{met(key, out.get(key), targets)} | {la(out.get(LOADAVG_KEY[key]))} |"
        )
    lines += [
        "",
        "Ratios: timeline, inbox and case page p99 / their floor's p99; sweep seconds / "
        "floor seconds; ingest floor rate / API rate is the inverse (API / floor shown, "
        "under 1).",
        "",
        "Other figures of the same run:",
        "",
        f"- timeline p50 {fmt(out.get('timeline_p50_ms'), 'ms')} (floor p50 "
        f"{fmt(out.get('timeline_floor_p50_ms'), 'ms')}); the floor never prepared "
        f"(`prepare_threshold=None`): p50 {fmt(out.get('timeline_floor_unprepared_p50_ms'), 'ms')}, "
        f"p99 {fmt(out.get('timeline_floor_unprepared_p99_ms'), 'ms')} — psycopg's default "
        "prepares it after 5 runs; the timeline over HTTP with the product's prepared "
        "statements off (`LASTMILE_DATABASE_PREPARED=0`, half the requests): p50 "
        f"{fmt(out.get('timeline_unprepared_p50_ms'), 'ms')}, p99 "
        f"{fmt(out.get('timeline_unprepared_p99_ms'), 'ms')};",
        f"- CPU per timeline request (all 2,200 measured): server "
        f"{fmt(out.get('timeline_server_cpu_ms'), 'ms')}, PostgreSQL "
        f"{fmt(out.get('timeline_db_cpu_ms'), 'ms')}; per ingested interaction: server "
        f"{out.get('ingest_server_cpu_us', 0):.0f} µs, PostgreSQL "
        f"{out.get('ingest_db_cpu_us', 0):.0f} µs (the work itself, which a busy machine "
        "stretches in wall time but does not add to);",
        f"- ingest: per-batch p50 {fmt(out.get('ingest_batch_p50_ms'), 'ms')}, p99 "
        f"{fmt(out.get('ingest_batch_p99_ms'), 'ms')}; the same rows `COPY`'d into "
        "`customers_interaction` itself, with all its indexes (the stored tsvector and its "
        f"GIN among them) and foreign keys, rolled back: {fmt(out.get('ingest_copy_indexed_per_s'), '/s')}; "
        f"the same without the GIN index {fmt(out.get('ingest_copy_no_gin_per_s'), '/s')}, "
        "without the GIN index and the stored tsvector column "
        f"{fmt(out.get('ingest_copy_no_tsvector_per_s'), '/s')} (dropped inside the "
        "transaction rolled back);",
        f"- inbox p50 {fmt(out.get('inbox_p50_ms'), 'ms')}, its bare SQL "
        f"{fmt(out.get('inbox_sql_ms'), 'ms')}; as an admin p99 "
        f"{fmt(out.get('inbox_admin_p99_ms'), 'ms')}; case page p50 "
        f"{fmt(out.get('case_page_p50_ms'), 'ms')}, its thread's bare SQL "
        f"{fmt(out.get('case_page_sql_ms'), 'ms')}; `/healthz` p50 "
        f"{fmt(out.get('console_healthz_p50_ms'), 'ms')}; case lists p99 "
        f"{fmt(out.get('cases_list_p99_ms'), 'ms')}; requests measured: inbox "
        f"{out.get('inbox_requests', '—')}, case page {out.get('case_page_requests', '—')};",
        f"- sweep: {out.get('sweep_setup', '—')}; swept at {out.get('sweep_now', '—')}; first "
        f"pass {out.get('sweep_first', '—')}; floor plan `{out.get('sweep_floor_plan', '—')}`;",
        f"- console: {out.get('console_setup', '—')}.",
        "",
    ]
    ld = out.get("load") or {}
    if ld:
        lines += [
            "### The load",
            "",
            f"Generated by the server (`INSERT … SELECT generate_series`, two reniced sessions, "
            f"secondary indexes dropped and re-created after, then `VACUUM (ANALYZE)`): "
            f"{ld.get('total_s', 0):.0f} s in all — customers and identities "
            f"{ld.get('customers_s', 0):.0f} s, interactions {ld.get('interactions_s', 0):.0f} s, "
            f"indexes {ld.get('indexes_s', 0):.0f} s, vacuum {ld.get('vacuum_s', 0):.0f} s "
            f"(load average {ld.get('loadavg_start', ['?'])[0]} → "
            f"{ld.get('loadavg_end', ['?'])[0]}). Sizes after the run: "
            + ", ".join(f"{k} {v}" for k, v in (out.get("db_sizes") or ld.get("sizes", {})).items())
            + ".",
            "",
        ]
    part = out.get("partition") or {}
    if part:
        lines += [
            "### Monthly partitioning of the interactions, measured",
            "",
            f"A copy of the table partitioned by month of `occurred_at` ({part.get('partitions')} "
            f"partitions; filled in {part.get('fill_s', 0):.0f} s, primary key (id, occurred_at) "
            f"and the timeline's index built in {part.get('index_s', 0):.0f} s), queried taking "
            "turns with the table as it is, same customers:",
            "",
            "| query | table as it is | partitioned by month |",
            "|---|---:|---:|",
            f"| timeline's bare SELECT, p50 | {fmt(part.get('timeline_plain_p50_ms'), 'ms')} | "
            f"{fmt(part.get('timeline_partitioned_p50_ms'), 'ms')} |",
            f"| timeline's bare SELECT, p99 | {fmt(part.get('timeline_plain_p99_ms'), 'ms')} | "
            f"{fmt(part.get('timeline_partitioned_p99_ms'), 'ms')} |",
            f"| count of one month's messages (p50 of 5) | {fmt(part.get('month_count_plain_ms'), 'ms')} | "
            f"{fmt(part.get('month_count_partitioned_ms'), 'ms')} |",
            f"| retention: the oldest month out | (a `DELETE` of its rows) | "
            f"{fmt(part.get('drop_month_partitioned_ms'), 'ms')} (`DETACH` + `DROP`) |",
            "",
            "<details><summary>Plans (partitioning)</summary>",
            "",
        ]
        for k in (
            "timeline_plain_plan",
            "timeline_partitioned_plan",
            "month_count_plain_plan",
            "month_count_partitioned_plan",
        ):
            lines += [f"`{k}`:", "", "```text", part.get(k, ""), "```", ""]
        lines += ["</details>", ""]
    mig = out.get("migrations") or {}
    if mig:
        lines += [
            "### Migrations on this database: how long each keeps readers and writers out",
            "",
            "Rows: "
            + ", ".join(
                f"{k} ~{v:,}" if v >= 0 else f"{k} (empty)"
                for k, v in (mig.get("tables") or {}).items()
            )
            + "."
            + (
                f" **Stopped before the end** ({mig['stopped']}): the migrations below the "
                "last row were not timed in this run."
                if mig.get("stopped")
                else ""
            ),
            "",
            "| migration | forward | locks its session held (big tables) | longest read wait | longest write wait |",
            "|---|---:|---|---|---|",
        ]
        for m in [*mig.get("migrations", []), *(out.get("variants") or [])]:
            waits = m.get("waits_ms") or {}
            reads = ", ".join(
                f"{t} {w['read']:,.0f} ms"
                for t, w in waits.items()
                if w.get("read", 0) >= NOTICED_MS
            )
            writes = ", ".join(
                f"{t} {w['write']:,.0f} ms"
                for t, w in waits.items()
                if w.get("write", 0) >= NOTICED_MS
            )
            locks = "; ".join(
                f"{t}: {', '.join(x.removesuffix('Lock') for x in v)}"
                for t, v in (m.get("locks") or {}).items()
            )
            lines.append(
                f"| `{m['migration'].split(' (')[0]}`"
                f"{' (pending, applied by `migrate`)' if '(pending' in m['migration'] else ''}"
                f"{'' if m.get('atomic', True) else ' (not atomic)'}"
                f"{' ERROR ' + m['error'] if m.get('error') else ''} | {m['forward_s']:.1f} s | "
                f"{locks or '—'} | {reads or 'under 1 s'} | {writes or 'under 1 s'} |"
            )
        lines += [
            "",
            "A probe per big table reads (`SELECT 1 … LIMIT 1`) and another writes (`UPDATE … "
            "SET id = id` of one row, rolled back) every 0.1 s on its own connection while the "
            "migration's forward SQL runs; the longest each waited is the time the migration "
            "kept them out. Waits under 1 s are not shown: on this busy machine a probe "
            "itself took up to half a second now and then, whatever the migration.",
            "",
        ]
    plans = out.get("plans") or {}
    if plans:
        lines += ["### The hot queries' plans (`EXPLAIN (ANALYZE, BUFFERS)`)", ""]
        lines += [
            "Captured from the product itself (Django's test client or the service, in a "
            "transaction rolled back), on the loaded database: for each request, its statement "
            "count and time, then the plans of its slowest statements (and any over 2 ms).",
            "",
        ]
        for name, p in plans.items():
            if not isinstance(p, dict):
                continue
            lines += [
                f"#### {name}: {p['statements']} statements, {p['total_ms']:.1f} ms in the database",
                "",
            ]
            for q in p["plans"]:
                lines += [
                    f"{q['ms']:.2f} ms when captured:",
                    "",
                    "```sql",
                    q["sql"][:4000],
                    "```",
                    "",
                    "```text",
                    q["plan"],
                    "```",
                    "",
                ]
    if out.get("errors"):
        lines += ["### Phases that failed", ""]
        lines += [f"- {k}: {v}" for k, v in out["errors"].items()]
        lines.append("")
    return lines


def write(out: dict[str, Any], targets: dict[str, tuple[str, float]], commands: list[str]) -> None:
    page_block_write(
        BENCH_DIR / "SCALE.md", begin=BEGIN, end=END, lines=lines_of(out, targets, commands)
    )


def main() -> None:
    """``python bench/scale_report.py bench/_work/scale-10m.json``: SCALE.md's measured part
    again from a run's output (after a change to this page's layout)."""
    import json
    import sys

    from scale import TARGETS

    made = json.loads(Path(sys.argv[1]).read_text())
    commands = sys.argv[2:] or ["python bench/run.py --scale " + made["detail"]["scale"]]
    write(made["detail"], TARGETS, commands)


if __name__ == "__main__":
    main()
