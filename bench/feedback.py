"""Feedback: survey answers recorded through the API, and the summary over a million answers.

    python bench/feedback.py [--responses N] [--clients N] [--summary-rows N]
                             [--vendor sqlite|postgresql|both] [--no-write]

On each database engine (both by default; PostgreSQL is skipped with the reason when it does
not answer), on a fresh, migrated database:

- answers (``feedback_per_s``): a child process (not timed) makes one team, one NPS survey
  and ``N`` customers each with one open invite (``customers_resolve``, then the invites as
  rows: their creation is not what is measured). Then every invite is answered once through
  ``POST /api/v1/surveys/{id}/responses`` (``{"invite", "score", "comment"}``: scores drawn
  0-10, about a quarter detractors, each opening its recovery loop; half with a comment,
  scored by the sentiment model and matched against the reasons) over ``--clients``
  keep-alive clients to ``lastmile serve`` as shipped, after a warm-up of 20 answers.
  Checked afterwards: one response per invite, one recovery loop per detractor.
  The baseline, measured in the same run: the same rows, raw, into a bare table in one
  transaction (``common.floor_insert``: sqlite3 ``executemany`` / psycopg ``COPY``).
- summary (``feedback_summary_1m_s``): ``--summary-rows`` answers (1,000,000) with their
  invites, bulk-loaded (``bench/load.py``: ``executemany`` / ``COPY``, indexes rebuilt
  after, PostgreSQL tables analysed) over 90 days and 5 surveys of 5 teams; then, in a
  child process with ``django.setup()``, ``feedback.selectors.feedback_summary`` as
  ``GET /api/v1/feedback/summary`` calls it for an admin (no filter: every survey), one
  untimed run and then 5 timed, taking turns with the bare SQL aggregate on the same
  connection: ``SELECT band, COUNT(*) FROM feedback_response GROUP BY band`` (the counts
  the summary reports). Medians of the runs; the counts are checked equal. The SQL the
  selector sends and its plans are recorded (``FEEDBACK.md``), with the time of the same
  bare aggregate plus the invites' count the summary also makes (its response rate).

Prints one JSON object (SQLite figures unsuffixed, PostgreSQL ones with ``_pg``, as
``bench/run.py`` does) and rewrites the results block of ``bench/FEEDBACK.md``. Progress
goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import shutil
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import load  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    Database,
    floor_insert,
    fresh_database,
    lastmile_serve,
    page_block_write,
    percentile,
    say,
    token_create,
)

PG_DB = "lastmile_bench_feedback"  # its own database: never the main bench's
PAGE = BENCH_DIR / "FEEDBACK.md"
BEGIN, END = "<!-- results: written by bench/feedback.py -->", "<!-- /results -->"
WARMUP = 20
COMMENTS = {  # by band: an answer's comment says what its score says
    "detractor": ["Still not fixed after three calls.", "The driver was late and nobody told me."],
    "passive": ["Fine, but it took a while.", "OK in the end."],
    "promoter": ["Quick and easy, thank you.", "Very helpful agent."],
}
SUMMARY_KINDS = ("nps", "csat", "ces", "nps", "csat")
BANDS = {"detractor": range(0, 7), "passive": range(7, 9), "promoter": range(9, 11)}


def band(score: int) -> str:
    return next(name for name, scores in BANDS.items() if score in scores)


# --- the child processes (Django) ---------------------------------------------------------


def setup(n: int, out: Path) -> None:
    """A team, an NPS survey, ``n`` customers with one open invite each; their ids."""
    import django

    django.setup()
    import secrets

    from lastmile.customers.identities import IdentityKey
    from lastmile.customers.services.customers import CustomerWanted, customers_resolve
    from lastmile.feedback.models import Invite, InviteState
    from lastmile.feedback.services import survey_create, token_hash
    from lastmile.people.services import team_ensure

    now = datetime.now(UTC).replace(microsecond=0)
    team = team_ensure(name="Bench care", slug="bench-care", email="care@bench.example")
    survey = survey_create(
        actor=None, now=now, name="Bench NPS", kind="nps", team=team, channel="link"
    )
    wanted = [
        CustomerWanted(identities=[IdentityKey("email", "", f"answer-{k}@customers.bench.example")])
        for k in range(n)
    ]
    customers = customers_resolve(wanted=wanted, now=now - timedelta(days=1))
    invites = Invite.objects.bulk_create(
        [
            Invite(
                survey=survey,
                customer_id=r.customer_id,
                channel="link",
                state=InviteState.QUEUED,
                token_hash=token_hash(secrets.token_urlsafe(24)),
                created_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=30),
            )
            for r in customers
        ]
    )
    # The summary's five surveys of five teams (their answers are bulk-loaded later).
    summary = [
        survey_create(
            actor=None,
            now=now - timedelta(days=100),
            name=f"Summary survey {k}",
            kind=SUMMARY_KINDS[k],
            channel="link",
            team=team_ensure(
                name=f"Summary team {k}", slug=f"summary-{k}", email=f"s{k}@bench.example"
            ),
        ).pk
        for k in range(len(SUMMARY_KINDS))
    ]
    out.write_text(
        json.dumps(
            {"survey": survey.pk, "invites": [i.pk for i in invites], "summary_surveys": summary}
        )
    )


def summary_child(runs: int, out: Path) -> None:
    """``feedback_summary`` as the API calls it for an admin, and the bare aggregate, in turn."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lastmile.feedback.selectors import feedback_summary
    from lastmile.people.viewers import SYSTEM

    bare = "SELECT band, COUNT(*) FROM feedback_response GROUP BY band"
    bare_invites = (
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE state = 'answered') FROM feedback_invite "
        "WHERE state <> 'suppressed'"
    )

    def floor() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(bare)
            return {b: int(n) for b, n in cursor.fetchall()}

    def floor_invites() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(bare_invites)
            total, answered = cursor.fetchone()
            return int(total), int(answered)

    with CaptureQueriesContext(connection) as captured:
        s = feedback_summary(viewer=SYSTEM)
    counts = floor()
    floor_invites()
    times: dict[str, list[float]] = {"summary": [], "floor": [], "floor_invites": []}
    for _ in range(runs):
        t = time.perf_counter()
        s = feedback_summary(viewer=SYSTEM)
        times["summary"].append(time.perf_counter() - t)
        t = time.perf_counter()
        counts = floor()
        times["floor"].append(time.perf_counter() - t)
        t = time.perf_counter()
        floor_invites()
        times["floor_invites"].append(time.perf_counter() - t)
    same = (s.nps.promoters, s.nps.passives, s.nps.detractors) == (
        counts.get("promoter", 0),
        counts.get("passive", 0),
        counts.get("detractor", 0),
    )
    plans = []
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    for q in [*captured.captured_queries, {"sql": bare}, {"sql": bare_invites}]:
        with connection.cursor() as cursor:
            cursor.execute(explain + q["sql"])
            rows = cursor.fetchall()
        plan = [str(r[-1]) if connection.vendor == "sqlite" else str(r[0]) for r in rows]
        plans.append({"sql": q["sql"], "plan": plan})
    out.write_text(
        json.dumps(
            {
                "summary_s": statistics.median(times["summary"]),
                "floor_s": statistics.median(times["floor"]),
                "floor_invites_s": statistics.median(times["floor_invites"]),
                "runs": runs,
                "responses": s.nps.responses,
                "nps": s.nps.nps,
                "same_counts": same,
                "queries": len(captured.captured_queries),
                "plans": plans,
            }
        )
    )


def child(db: Database, *args: str) -> dict[str, Any]:
    return common.child_json(db, __file__, *args)


# --- answers through the API ---------------------------------------------------------------


def answers_post(
    base: str, token: str, survey: int, answers: list[dict[str, Any]], clients: int
) -> tuple[float, list[float]]:
    """Every answer posted once over ``clients`` keep-alive clients; wall time, latencies."""
    work: queue.Queue[dict[str, Any]] = queue.Queue()
    for a in answers:
        work.put(a)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    url = f"{base}/api/v1/surveys/{survey}/responses"

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        mine: list[float] = []
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            t = time.perf_counter()
            r = session.post(url, json=body, timeout=120)
            mine.append(time.perf_counter() - t)
            if r.status_code != 201:
                with lock:
                    errors.append(f"HTTP {r.status_code} {r.text[:200]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    if errors:
        raise RuntimeError(f"{len(errors)} answers failed, the first: {errors[0]}")
    return wall, latencies


def stored(db: Database) -> dict[str, int]:
    conn = db.connect()
    try:

        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        return {
            "responses": one("SELECT count(*) FROM feedback_response"),
            "detractors": one("SELECT count(*) FROM feedback_response WHERE band = 'detractor'"),
            "flagged": one(
                "SELECT count(*) FROM feedback_response WHERE recovery_loop_id IS NOT NULL"
            ),
            "recovery_loops": one("SELECT count(*) FROM loops_loop WHERE kind = 'recovery'"),
        }
    finally:
        conn.close()


def bench_answers(db: Database, args: argparse.Namespace) -> tuple[dict[str, Any], list[int]]:
    t = time.perf_counter()
    made = child(db, "setup", "--responses", str(args.responses + WARMUP))
    say(
        f"  feedback: {len(made['invites']):,} invites made ({time.perf_counter() - t:.1f}s, not timed)"
    )
    rng = random.Random(16)
    answers = []
    for pk in made["invites"]:
        score = rng.choice([0, 2, 4, 5, 6, 7, 7, 8, 8, 9, 9, 10, 10, 10, 9, 8])
        comment = rng.choice(COMMENTS[band(score)]) if rng.random() < 0.5 else ""
        answers.append({"invite": pk, "score": score, "comment": comment})
    warm, timed = answers[:WARMUP], answers[WARMUP:]
    token = token_create(db, "bench-feedback")
    with lastmile_serve(db) as base:
        answers_post(base, token, made["survey"], warm, args.clients)
        wall, latencies = answers_post(base, token, made["survey"], timed, args.clients)
    counts = stored(db)
    n = len(timed)
    say(
        f"  feedback: {n:,} answers in {wall:.1f}s ({n / wall:,.0f}/s), p50 "
        f"{percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms; "
        f"stored {counts}"
    )
    if counts["responses"] != len(answers) or counts["flagged"] != counts["recovery_loops"]:
        raise RuntimeError(
            f"stored {counts}, expected {len(answers)} responses, a loop each detractor"
        )
    base_time = datetime.now(UTC)
    floor = floor_insert(
        db,
        table="bench_feedback_floor",
        columns=["invite_id", "survey_id", "score", "band", "comment", "at"],
        rows=[
            (
                a["invite"],
                made["survey"],
                a["score"],
                band(a["score"]),
                a["comment"],
                load.ts(db, base_time),
            )
            for a in timed
        ],
        sqlite_ddl="invite_id INTEGER, survey_id INTEGER, score INTEGER, band TEXT, comment TEXT, at TEXT",
        pg_ddl="invite_id bigint, survey_id bigint, score smallint, band text, comment text, at timestamptz",
    )
    return {
        "answers": n,
        "clients": args.clients,
        "per_s": n / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "detractors": counts["detractors"],
        "recovery_loops": counts["recovery_loops"],
        "floor_per_s": floor["per_s"],
        "floor_method": floor["method"],
        "ratio": (n / wall) / floor["per_s"],
    }, made["summary_surveys"]


# --- the summary over a million answers ----------------------------------------------------


def summary_load(db: Database, rows: int, survey_ids: list[int]) -> dict[str, Any]:
    """``rows`` invites and their answers over 90 days, spread over ``survey_ids`` (the
    setup's five surveys of five teams) and 100,000 customers, bulk-loaded."""
    now = datetime.now(UTC).replace(microsecond=0)
    customers = min(rows, 100_000)
    conn = db.connect()
    try:
        first_customer = _customers_load(db, conn, customers, now)
        before = int(conn.execute("SELECT count(*) FROM feedback_response").fetchone()[0])
        first_invite = _next_id(conn, "feedback_invite")
        first_response = _next_id(conn, "feedback_response")
    finally:
        conn.close()
    kinds = list(SUMMARY_KINDS)
    rng = random.Random(7)
    scores = {
        "nps": ([*range(11)], [3, 2, 2, 3, 3, 5, 7, 12, 16, 22, 25]),
        "csat": ([*range(1, 6)], [7, 7, 14, 34, 38]),
        "ces": ([*range(1, 8)], [26, 24, 20, 12, 8, 6, 4]),
    }
    draws = {k: rng.choices(v[0], v[1], k=4096) for k, v in scores.items()}
    seconds = 90 * 86400

    def band_of(kind: str, score: int) -> str:
        if kind == "nps":
            return band(score)
        if kind == "csat":
            return "detractor" if score <= 2 else "passive" if score == 3 else "promoter"
        return "detractor" if score >= 5 else "passive" if score == 4 else "promoter"

    t = time.perf_counter()
    invite_cols = _columns(db, "feedback_invite")
    response_cols = _columns(db, "feedback_response")

    def invites() -> Any:
        for i in range(rows):
            at = now - timedelta(seconds=(i * 7919) % seconds)
            values = {
                "id": first_invite + i,
                "survey_id": survey_ids[i % 5],
                "customer_id": first_customer + i % customers,
                "channel": "link",
                "state": "answered",
                "token_hash": f"{i:064x}",
                "created_at": load.ts(db, at - timedelta(hours=2)),
                "expires_at": load.ts(db, at + timedelta(days=30)),
            }
            yield tuple(values.get(c, _default(c, invite_cols)) for c in invite_cols)

    def responses() -> Any:
        for i in range(rows):
            kind = kinds[i % 5]
            score = draws[kind][i % 4096]
            b = band_of(kind, score)
            at = now - timedelta(seconds=(i * 7919) % seconds)
            values = {
                "id": first_response + i,
                "invite_id": first_invite + i,
                "survey_id": survey_ids[i % 5],
                "score": score,
                "band": b,
                "detractor": load.boolean(db, b == "detractor"),
                "source": "link",
                "at": load.ts(db, at),
            }
            yield tuple(values.get(c, _default(c, response_cols)) for c in response_cols)

    load.bulk_insert(db, "feedback_invite", list(invite_cols), invites())
    load.bulk_insert(db, "feedback_response", list(response_cols), responses())
    return {
        "rows": rows,
        "total": before + rows,
        "load_s": time.perf_counter() - t,
        "customers": customers,
    }


def _columns(db: Database, table: str) -> dict[str, bool]:
    conn = db.connect()
    try:
        return load.table_columns(conn, db, table)
    finally:
        conn.close()


def _default(column: str, columns: dict[str, bool]) -> Any:
    """A column the bench leaves to its default: NULL when it may be, else empty text."""
    return "" if columns[column] else None


def _next_id(conn: Any, table: str) -> int:
    return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]) + 1


def _customers_load(db: Database, conn: Any, n: int, now: datetime) -> int:
    cols = _columns(db, "customers_customer")
    start = (
        int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM customers_customer").fetchone()[0]) + 1
    )
    known = {
        "display_name": "",
        "timezone": "",
        "attributes": "{}",
        "created_at": load.ts(db, now - timedelta(days=120)),
        "updated_at": load.ts(db, now - timedelta(days=120)),
    }

    def rows() -> Any:
        for k in range(n):
            values = {"id": start + k, **known, "display_name": f"Summary customer {k}"}
            yield tuple(values.get(c, _default(c, cols)) for c in cols)

    load.bulk_insert(db, "customers_customer", list(cols), rows())
    return start


def bench_summary(db: Database, args: argparse.Namespace, surveys: list[int]) -> dict[str, Any]:
    made = summary_load(db, args.summary_rows, surveys)
    say(
        f"  feedback: {made['rows']:,} answers and invites loaded ({made['load_s']:.1f}s, not timed)"
    )
    s = child(db, "summary", "--runs", str(args.runs))
    if not s["same_counts"] or s["responses"] != made["total"]:
        raise RuntimeError(f"the summary counted {s['responses']:,} answers, not {made['total']:,}")
    say(
        f"  feedback: summary over {made['rows']:,} answers {s['summary_s'] * 1000:.0f} ms, "
        f"bare GROUP BY {s['floor_s'] * 1000:.0f} ms (+ invites {s['floor_invites_s'] * 1000:.0f} ms), "
        f"{s['queries']} queries"
    )
    return {
        "summary_rows": made["total"],
        "summary_s": s["summary_s"],
        "summary_floor_s": s["floor_s"],
        "summary_floor_invites_s": s["floor_invites_s"],
        "summary_ratio": s["summary_s"] / s["floor_s"],
        "summary_ratio_both": s["summary_s"] / (s["floor_s"] + s["floor_invites_s"]),
        "summary_queries": s["queries"],
        "summary_runs": s["runs"],
        "summary_plans": s["plans"],
        "summary_load_s": made["load_s"],
    }


def bench_one(vendor: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"== feedback: {vendor}")
    db = fresh_database(vendor, "feedback")
    try:
        out, surveys = bench_answers(db, args)
        out.update(bench_summary(db, args, surveys))
        return out
    finally:
        if vendor == "postgresql":
            common.pg_drop()
        shutil.rmtree(db.var_dir, ignore_errors=True)


def figures(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat figures of ``bench/results.json``: SQLite unsuffixed, PostgreSQL ``_pg``."""
    out: dict[str, Any] = {}
    for vendor, r in results.items():
        sfx = "" if vendor == "sqlite" else "_pg"
        out.update(
            {
                f"feedback_per_s{sfx}": round(r["per_s"], 1),
                f"feedback_p50_ms{sfx}": round(r["p50_ms"], 1),
                f"feedback_p99_ms{sfx}": round(r["p99_ms"], 1),
                f"feedback_floor_per_s{sfx}": round(r["floor_per_s"], 1),
                f"feedback_ratio{sfx}": round(r["ratio"], 5),
                # over 1,000,000 answers (a quick run: 100,000; FEEDBACK.md says how many)
                f"feedback_summary_1m_s{sfx}": round(r["summary_s"], 4),
                f"feedback_summary_floor_1m_s{sfx}": round(r["summary_floor_s"], 4),
                f"feedback_summary_ratio{sfx}": round(r["summary_ratio"], 2),
            }
        )
    return out


def page(results: dict[str, dict[str, Any]], skipped: dict[str, str]) -> list[str]:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{os.cpu_count()} cores ({platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f} at the end, `lastmile serve` with its defaults.",
        "",
        "| | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
    ]

    def row(label: str, fmt: str, key: str, scale: float = 1.0) -> None:
        cells = [
            format(r[key] * scale if scale != 1 else r[key], fmt) if r.get(key) is not None else "—"
            for r in results.values()
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("Answers posted (after 20 warm-up)", ",", "answers")
    row("HTTP clients at once", ",", "clients")
    row("Answers recorded/s through the API", ",.0f", "per_s")
    row("Answer p50 (ms)", ".1f", "p50_ms")
    row("Answer p99 (ms)", ".1f", "p99_ms")
    row("Detractors (each opened a recovery loop)", ",", "detractors")
    row("Baseline: the same rows, bare inserts/s", ",.0f", "floor_per_s")
    row("API ÷ baseline", ".5f", "ratio")
    row("Answers under the summary", ",", "summary_rows")
    row("Summary, `feedback_summary` (ms, median)", ",.1f", "summary_s", 1000)
    row("Bare `GROUP BY band` (ms, median)", ",.1f", "summary_floor_s", 1000)
    row("Summary ÷ bare GROUP BY", ".2f", "summary_ratio")
    row("Bare count of the invites (ms, median)", ",.1f", "summary_floor_invites_s", 1000)
    row("Summary ÷ (GROUP BY + invites count)", ".2f", "summary_ratio_both")
    row("Queries the summary sends", ",", "summary_queries")
    for vendor, r in results.items():
        lines += ["", f"The summary's SQL and plans on {vendor}:", ""]
        for q in r.get("summary_plans", []):
            lines += ["```sql", q["sql"], "```", "", "```", *q["plan"], "```", ""]
    for vendor, why in skipped.items():
        lines += ["", f"{vendor}: skipped, {why}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("setup")
    s.add_argument("--responses", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("summary")
    m.add_argument("--runs", type=int, required=True)
    m.add_argument("--out", type=Path, required=True)
    parser.add_argument("--responses", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--summary-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vendor", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/FEEDBACK.md")
    args = parser.parse_args()
    if args.cmd == "setup":
        setup(args.responses, args.out)
        return
    if args.cmd == "summary":
        summary_child(args.runs, args.out)
        return
    common.PG_DB = PG_DB
    results, skipped = common.on_each_engine(
        "feedback", args.vendor, lambda vendor: bench_one(vendor, args)
    )
    if not args.no_write:
        page_block_write(PAGE, begin=BEGIN, end=END, lines=page(results, skipped))
    print(json.dumps({**figures(results), "feedback": results, "feedback_skipped": skipped}))


if __name__ == "__main__":
    main()
