"""`lastmile mentions import` on real support threads: rows/s beside a raw-insert floor.

    python bench/mentions.py [--rows N] [--vendor sqlite|postgresql|both] [--before SRC]
                             [--no-write]

The input is the first N rows (default 20,000) of the two public "Customer Support on
Twitter" samples in ``../shared/data/twcs-customer-support-twitter``, one after the other:
``twcs_first_5000_rows.csv`` (whole threads, both sides: the brand's replies close the
reply loops) then ``spotifycares_inbound_requests.csv`` (customer tweets only: each opens a
case and a reply loop). The full 2.8 M-row file is not available here (see that folder's
README). The rows are written unchanged (csv module) to ``bench/_work``.

On each engine (PostgreSQL: its own database ``lastmile_bench_mentions``; skipped with the
reason when it does not answer), on a fresh migrated database:

- **import**: ``lastmile mentions import FILE --quiet`` as a user runs it (batches of 500):
  the mentions stored pending, with their authors, terms and conversations; no sentiment,
  nothing on the timeline yet. The figure is the one the command prints (rows from the first
  read to the summary, without the ~2 s of process start); the wall time of the whole command
  is reported beside it, and so is its CPU time (user + system of the command and, on
  PostgreSQL, not the server's), and the command's own CPU seconds over the same span as
  its rate (``mentions_import_own_cpu_s``: rows / that is the rate one free core would give).
- **processing**: ``lastmile mentions process --quiet``, what the worker does after an
  import: the pending mentions scored for sentiment (one model call per batch of 500) and
  those addressed to a brand put on the timeline (cases, interactions, reply loops under
  the social SLA). Its mentions/s, and the texts/s of the scoring alone
  (``mentions_scored_texts_per_s``: texts / seconds inside the model's batch calls).
- **re-import**: the same file again with ``--restart``: every row is read, scored as known
  and skipped (idempotency), nothing written.
- **floor**: the same rows, parsed beforehand, inserted raw in one transaction into a bare
  table with the mention columns and a primary key only: SQLite ``executemany`` (WAL,
  ``synchronous=NORMAL``), PostgreSQL ``COPY``. ``ratio`` = import / floor.

Each run checks the rows landed: mentions after the import (and nothing on the timeline),
then cases, interactions and reply loops after the processing.
``--before SRC`` also imports with another checkout's ``src`` directory first on the path
(e.g. ``git archive HEAD src | tar -x -C /tmp/before``) and reports it beside the current
code. Prints one JSON object (PostgreSQL keys end in ``_pg``) and rewrites the results block
of ``bench/MENTIONS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    REPO,
    WORK,
    Database,
    floor_insert,
    fresh_database,
    lastmile_cmd,
    page_block_write,
    say,
)

DATA = REPO.parent / "shared" / "data" / "twcs-customer-support-twitter"
FILES = ("twcs_first_5000_rows.csv", "spotifycares_inbound_requests.csv")
PG_DB = "lastmile_bench_mentions"
PAGE = BENCH_DIR / "MENTIONS.md"
BEGIN, END = "<!-- results: written by bench/mentions.py -->", "<!-- /results -->"
TWCS_TIME = "%a %b %d %H:%M:%S %z %Y"
SUMMARY = re.compile(r"([\d,]+) mentions imported, ([\d,]+) already stored.*?([\d,]+) rows in")
RATE = re.compile(r"in ([\d.]+) s \(([\d,]+) rows/s(?:; ([\d.]+) s of CPU)?\)")
PROCESSED = re.compile(
    r"([\d,]+) mentions processed: sentiment scored, ([\d,]+) put on the timeline, "
    r"([\d,]+) cases opened; in ([\d.]+) s \(([\d,]+) rows/s; ([\d.]+) s of CPU; "
    r"scoring ([\d.]+) s(?:, [\d,]+ texts/s; ([\d.]+) s of CPU in the model)?"
)


def input_file(rows: int) -> tuple[Path, list[list[str]]]:
    """The first ``rows`` data rows of the two samples, as one CSV under bench/_work."""
    out: list[list[str]] = []
    header: list[str] = []
    for name in FILES:
        with (DATA / name).open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            out.extend(reader)
        if len(out) >= rows:
            break
    out = out[:rows]
    WORK.mkdir(exist_ok=True)
    path = WORK / f"twcs-mentions-{len(out)}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(out)
    return path, out


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@contextlib.contextmanager
def source_tree(src: str | None) -> Any:
    """Child processes import lastmile from ``src`` (ahead of the installed package)."""
    saved = os.environ.get("PYTHONPATH")
    if src:
        os.environ["PYTHONPATH"] = src + (os.pathsep + saved if saved else "")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def run_import(db: Database, path: Path, *extra: str) -> dict[str, Any]:
    env = db.env()
    cmd = [*lastmile_cmd(), "mentions", "import", str(path), "--quiet", *extra]
    cpu = cpu_children()
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    text = proc.stdout + proc.stderr
    summary, rate = SUMMARY.search(text), RATE.search(text)
    if summary is None or rate is None:
        raise RuntimeError(f"no summary line in the import's output:\n{text[-2000:]}")
    return {
        "imported": int(summary.group(1).replace(",", "")),
        "existing": int(summary.group(2).replace(",", "")),
        "rows": int(summary.group(3).replace(",", "")),
        "seconds": float(rate.group(1)),
        "rows_per_s": int(rate.group(2).replace(",", "")),
        "own_cpu_s": float(rate.group(3) or 0),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu_children() - cpu, 2),
        "summary": proc.stdout.strip().splitlines()[-1],
    }


def run_process(db: Database) -> dict[str, Any]:
    """``lastmile mentions process``: what the worker does after an import, by hand."""
    cmd = [*lastmile_cmd(), "mentions", "process", "--quiet"]
    cpu = cpu_children()
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=db.env(), cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    text = proc.stdout + proc.stderr
    m = PROCESSED.search(text)
    if m is None:
        raise RuntimeError(f"no summary line in the processing's output:\n{text[-2000:]}")
    n = int(m.group(1).replace(",", ""))
    scoring = float(m.group(7))
    return {
        "mentions": n,
        "seconds": float(m.group(4)),
        "rows_per_s": int(m.group(5).replace(",", "")),
        "own_cpu_s": float(m.group(6)),
        "score_s": scoring,
        "score_cpu_s": float(m.group(8) or 0),
        "texts_per_s": round(n / scoring) if scoring else 0,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu_children() - cpu, 2),
        "summary": proc.stdout.strip().splitlines()[-1],
    }


def counts(db: Database) -> dict[str, int]:
    conn = db.connect()
    try:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in (
                "listening_mention",
                "cases_case",
                "customers_interaction",
                "loops_loop",
            )
        }
    finally:
        conn.close()


def floor_rows(rows: list[list[str]]) -> list[tuple[Any, ...]]:
    """The mention columns of each row, parsed as the importer parses them (bad rows out)."""
    out = []
    for tid, author, inbound, created, text, _, parent in rows:
        try:
            at = datetime.strptime(created, TWCS_TIME)  # noqa: DTZ007 - %z in it
        except ValueError:
            continue
        parent = parent[:-2] if parent.endswith(".0") else parent
        out.append(
            ("twitter", tid, author.lower(), text, at.isoformat(), parent, inbound == "True")
        )
    return out


FLOOR_COLUMNS = [
    "network",
    "external_id",
    "author",
    "text",
    "posted_at",
    "in_reply_to_id",
    "is_brand",
]


def floor(db: Database, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    return floor_insert(
        db,
        table="floor_mention",
        columns=FLOOR_COLUMNS,
        rows=rows,
        sqlite_ddl="network VARCHAR(30) NOT NULL, external_id VARCHAR(100) NOT NULL, "
        "author VARCHAR(100) NOT NULL, text TEXT NOT NULL, posted_at DATETIME NOT NULL, "
        "in_reply_to_id VARCHAR(100) NOT NULL, is_brand BOOL NOT NULL",
        pg_ddl="network varchar(30) NOT NULL, external_id varchar(100) NOT NULL, "
        "author varchar(100) NOT NULL, text text NOT NULL, posted_at timestamptz NOT NULL, "
        "in_reply_to_id varchar(100) NOT NULL, is_brand boolean NOT NULL",
    )


def bench(vendor: str, path: Path, rows: list[list[str]], before: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if before:
        with source_tree(before):  # its own migrations too
            db = fresh_database(vendor, "mentions-before")
            say(f"  {vendor}: importing with {before} (before) …")
            b = run_import(db, path)
        say(f"  {vendor}: before: {b['summary']}")
        out.update(
            mentions_before_rows_per_s=b["rows_per_s"],
            mentions_before_wall_s=b["wall_s"],
            mentions_before_cpu_s=b["cpu_s"],
        )
        cleanup(db)
    db = fresh_database(vendor, "mentions")
    say(f"  {vendor}: importing {len(rows):,} rows …")
    first = run_import(db, path)
    say(f"  {vendor}: {first['summary']}")
    stored = counts(db)
    if stored["listening_mention"] != first["imported"] or stored["loops_loop"]:
        raise RuntimeError(f"{vendor}: the import reported {first}, the database holds {stored}")
    say(f"  {vendor}: processing the pending mentions (the worker's job) …")
    done = run_process(db)
    say(f"  {vendor}: {done['summary']}")
    stored = counts(db)
    if done["mentions"] != first["imported"] or not stored["loops_loop"]:
        raise RuntimeError(f"{vendor}: the processing reported {done}, the database holds {stored}")
    again = run_import(db, path, "--restart")
    say(f"  {vendor}: again: {again['summary']}")
    if again["imported"] or counts(db) != stored:
        raise RuntimeError(f"{vendor}: the re-import stored something: {again}")
    f = floor(db, floor_rows(rows))
    say(f"  {vendor}: floor {f['per_s']:,.0f} rows/s ({f['method']})")
    out.update(
        mentions_import_rows_per_s=first["rows_per_s"],
        mentions_import_s=first["seconds"],
        mentions_import_wall_s=first["wall_s"],
        mentions_import_cpu_s=first["cpu_s"],
        mentions_import_own_cpu_s=first["own_cpu_s"],
        mentions_process_own_cpu_s=done["own_cpu_s"],
        mentions_score_s=done["score_s"],
        mentions_score_cpu_s=done["score_cpu_s"],
        mentions_scored_texts_per_cpu_s=(
            round(done["mentions"] / done["score_cpu_s"]) if done["score_cpu_s"] else None
        ),
        mentions_reimport_rows_per_s=again["rows_per_s"],
        mentions_process_rows_per_s=done["rows_per_s"],
        mentions_process_wall_s=done["wall_s"],
        mentions_process_cpu_s=done["cpu_s"],
        mentions_scored_texts_per_s=done["texts_per_s"],
        mentions_process_ratio=round(done["rows_per_s"] / f["per_s"], 4),
        mentions_floor_per_s=round(f["per_s"]),
        mentions_floor_method=f["method"],
        mentions_ratio=round(first["rows_per_s"] / f["per_s"], 4),
        mentions_stored=stored,
    )
    cleanup(db)
    return out


def cleanup(db: Database) -> None:
    if db.vendor == "postgresql":
        common.pg_drop()
    shutil.rmtree(db.var_dir, ignore_errors=True)


def write_page(r: dict[str, Any], command: str) -> None:
    def cell(key: str, fmt: str = "{:,.0f}") -> str:
        return fmt.format(r[key]) if key in r else "—"

    lines = [
        "",
        f"Measured {r['date']} on **{r['cores']} cores** shared with other work (load average "
        f"{r['loadavg_start'][0]:.1f} at the start, {r['loadavg_end'][0]:.1f} at the end), "
        f"{r['rows']:,} rows, by:",
        "",
        "```",
        command,
        "```",
        "",
        "| figure | SQLite | PostgreSQL |",
        "|---|---:|---:|",
    ]
    rows = [
        ("import, rows/s (as the command reports)", "mentions_import_rows_per_s", "{:,.0f}"),
        ("import, command wall time s", "mentions_import_wall_s", "{:.1f}"),
        ("import, command CPU s (user + system)", "mentions_import_cpu_s", "{:.1f}"),
        ("import, CPU s over the rate's span", "mentions_import_own_cpu_s", "{:.1f}"),
        ("re-import (`--restart`, all known), rows/s", "mentions_reimport_rows_per_s", "{:,.0f}"),
        ("floor (raw insert of the mention columns), rows/s", "mentions_floor_per_s", "{:,.0f}"),
        ("import / floor", "mentions_ratio", "{:.3f}"),
        (
            "processing (`mentions process`: scored, on the timeline), mentions/s",
            "mentions_process_rows_per_s",
            "{:,.0f}",
        ),
        ("processing, command wall time s", "mentions_process_wall_s", "{:.1f}"),
        ("processing, command CPU s", "mentions_process_cpu_s", "{:.1f}"),
        ("processing, wall s inside the sentiment model's calls", "mentions_score_s", "{:.1f}"),
        ("sentiment scored by the processing, texts/s", "mentions_scored_texts_per_s", "{:,.0f}"),
        ("processing / floor", "mentions_process_ratio", "{:.3f}"),
        ("the model's CPU s in the processing", "mentions_score_cpu_s", "{:.1f}"),
        ("texts scored per CPU second of the model", "mentions_scored_texts_per_cpu_s", "{:,.0f}"),
    ]
    if "mentions_before_rows_per_s" in r:
        rows += [
            ("before (`--before`), rows/s", "mentions_before_rows_per_s", "{:,.0f}"),
            ("before, command wall time s", "mentions_before_wall_s", "{:.1f}"),
            ("before, command CPU s", "mentions_before_cpu_s", "{:.1f}"),
        ]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {cell(key, fmt)} | {cell(key + '_pg', fmt)} |")
    for suffix, engine in (("", "SQLite"), ("_pg", "PostgreSQL")):
        stored = r.get("mentions_stored" + suffix)
        if stored:
            lines += [
                "",
                f"Stored on {engine}: "
                + ", ".join(f"{n:,} rows in `{t}`" for t, n in stored.items())
                + ".",
            ]
    if r.get("pg_skipped"):
        lines += ["", f"PostgreSQL was skipped: {r['pg_skipped']}."]
    page_block_write(PAGE, begin=BEGIN, end=END, lines=[*lines, ""])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--vendor", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--before", metavar="SRC", help="another checkout's src/ to measure first")
    p.add_argument("--no-write", action="store_true", help="print JSON only")
    a = p.parse_args()
    common.PG_DB = PG_DB
    missing = [n for n in FILES if not (DATA / n).exists()]
    if missing:
        sys.exit(f"data not found: {', '.join(str(DATA / n) for n in missing)}")
    out: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
    }
    # Progress goes to stderr: stdout carries only the JSON object that bench/run.py reads.
    with contextlib.redirect_stdout(sys.stderr):
        path, rows = input_file(a.rows)
        out["rows"] = len(rows)
        if a.vendor in ("sqlite", "both"):
            out.update(bench("sqlite", path, rows, a.before))
        if a.vendor in ("postgresql", "both"):
            skip = common.pg_reachable()
            if skip:
                say(f"  PostgreSQL skipped: {skip}")
                out["pg_skipped"] = skip
            else:
                pg = bench("postgresql", path, rows, a.before)
                out.update({f"{k}_pg": v for k, v in pg.items()})
        path.unlink(missing_ok=True)
    out["loadavg_end"] = list(os.getloadavg())
    if not a.no_write:
        write_page(out, " ".join(["python bench/mentions.py", *sys.argv[1:]]))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
