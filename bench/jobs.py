"""Deliveries: drivers replaying offline queues through the jobs API, and building invoices.

    python bench/jobs.py [--drivers N] [--clients N] [--invoices N] [--pdfs N]
                         [--vendor sqlite|postgresql|both] [--no-write]

On each database engine (both by default; PostgreSQL is skipped with the reason when it does
not answer), against ``lastmile serve`` (the server ``make demo`` runs, with its default
gunicorn workers and threads) on a fresh, migrated database:

- setup (a child process, not timed): one team, its slots for tomorrow, ``N`` customers and
  one delivery each needing the customer's PIN (``jobs.services.job_create``);
- drivers: each of the ``N`` drivers has an offline queue of four writes for their job:
  start, arrive, the PIN proof, complete (which issues the invoice and opens the follow-up).
  Every write carries its own ``Idempotency-Key``. The queues are replayed twice, as a phone
  that lost its answers does: all ``N`` drivers at once, interleaved over ``--clients``
  keep-alive HTTP clients. The second replay must answer exactly as the first did. Then the
  database is read to check that nothing was stored twice: one proof, one event of each step
  and one invoice per job, every job completed;
- floor: the same number of rows (one per write), raw, into a bare table with only a
  primary key, in one transaction (``common.floor_insert``), measured in the same run;
- invoices (a child process): ``--invoices`` invoices of three lines issued through
  ``invoices.services.invoice_issue`` (numbered, taxed, one transaction each), then ``--pdfs``
  of them rendered to PDF (``invoices.pdf.invoice_pdf``).

Prints one JSON object (SQLite figures unsuffixed, PostgreSQL ones with ``_pg``, as
``bench/run.py`` does) and rewrites the results block of ``bench/JOBS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import sys
import threading
import time
import uuid
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
    lastmile_serve,
    page_block_write,
    percentile,
    say,
    token_create,
)

TEAM = "bench-delivery"
PG_DB = "lastmile_bench_jobs"  # its own database: never the main bench's
PAGE = BENCH_DIR / "JOBS.md"
BEGIN, END = "<!-- results: written by bench/jobs.py -->", "<!-- /results -->"
STEPS = ("start", "arrive", "proof", "complete")


# --- the child processes (Django) ---------------------------------------------------------


def setup(drivers: int, out: Path) -> None:
    """The team, tomorrow's slots and one PIN delivery per driver; their ids and PINs."""
    import django

    django.setup()
    from datetime import UTC, datetime, timedelta

    from lastmile.customers.identities import IdentityKey
    from lastmile.customers.services.customers import CustomerWanted, customers_resolve
    from lastmile.jobs import services
    from lastmile.jobs.services import LineIn
    from lastmile.people.services import team_ensure

    now = datetime.now(UTC).replace(microsecond=0)
    team = team_ensure(name="Bench deliveries", slug=TEAM, email="deliveries@bench.example")
    day = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0)
    per_slot = 100
    slots = [
        services.slot_create(
            team=team,
            starts_at=day + timedelta(hours=k),
            ends_at=day + timedelta(hours=k + 1),
            capacity=per_slot,
        )
        for k in range((drivers + per_slot - 1) // per_slot)
    ]
    wanted = [
        CustomerWanted(identities=[IdentityKey("email", "", f"driver-{k}@customers.bench.example")])
        for k in range(drivers)
    ]
    customers = customers_resolve(wanted=wanted, now=now)
    from lastmile.customers.models import Customer

    by_id = Customer.objects.in_bulk([r.customer_id for r in customers])
    lines = [
        LineIn(sku="BOX", description="Parcel", quantity=1, unit_price=2499, currency="GBP"),
        LineIn(sku="DEL", description="Delivery", quantity=1, unit_price=499, currency="GBP"),
    ]
    made = []
    for k, r in enumerate(customers):
        slot = slots[k // per_slot]
        job = services.job_create(
            kind="delivery",
            customer=by_id[r.customer_id],
            team=team,
            window_start=slot.starts_at,
            window_end=slot.ends_at,
            address=f"{k + 1} Bench Road, Leeds",
            lines=lines,
            proofs=["pin"],
            actor=None,
            now=now,
        )
        made.append({"id": job.pk, "pin": job.pin})
    out.write_text(json.dumps({"jobs": made}))


def invoices(n: int, pdfs: int, out: Path) -> None:
    """``n`` invoices issued, ``pdfs`` of them rendered; the times."""
    import django

    django.setup()
    from datetime import UTC, datetime

    from lastmile.customers.models import Customer
    from lastmile.invoices.models import Invoice
    from lastmile.invoices.pdf import invoice_pdf
    from lastmile.invoices.services import LineIn, invoice_issue
    from lastmile.people.models import Team

    now = datetime.now(UTC).replace(microsecond=0)
    team = Team.objects.get(slug=TEAM)
    customer_ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:1000])
    lines = [
        LineIn(sku="BOX", description="Parcel", quantity=2, unit_price=2499),
        LineIn(sku="DEL", description="Delivery", quantity=1, unit_price=499),
        LineIn(sku="INS", description="Insurance", quantity=1, unit_price=150),
    ]
    t = time.perf_counter()
    for k in range(n):
        invoice_issue(
            source=f"bench:{k}",
            customer_id=customer_ids[k % len(customer_ids)],
            team_id=team.pk,
            case_id=None,
            currency="GBP",
            lines=lines,
            actor=None,
            now=now,
            send=False,
        )
    issued = time.perf_counter() - t
    rendered, size = 0.0, 0
    if pdfs:
        chosen = list(Invoice.objects.filter(source__startswith="bench:").order_by("pk")[:pdfs])
        t = time.perf_counter()
        for invoice in chosen:
            size += len(invoice_pdf(invoice))
        rendered = time.perf_counter() - t
    numbers = Invoice.objects.filter(source__startswith="bench:").count()
    out.write_text(
        json.dumps(
            {"issued_s": issued, "issued": numbers, "pdf_s": rendered, "pdfs": pdfs, "bytes": size}
        )
    )


def child(db: Database, *args: str) -> dict[str, Any]:
    return common.child_json(db, __file__, *args)


# --- HTTP ----------------------------------------------------------------------------------


def driver_queue(job: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None, str]]:
    """A driver's offline queue: (path, body, Idempotency-Key) in the order tapped."""
    base = f"/api/v1/jobs/{job['id']}"
    return [
        (f"{base}/start", None, str(uuid.uuid4())),
        (f"{base}/arrive", None, str(uuid.uuid4())),
        (f"{base}/proofs", {"kind": "pin", "data": job["pin"]}, str(uuid.uuid4())),
        (f"{base}/complete", None, str(uuid.uuid4())),
    ]


def replay(
    base: str, token: str, queues: list[list[Any]], clients: int
) -> tuple[float, list[float], list[list[tuple[int, str]]]]:
    """Every queue sent once, in order within a queue, all queues at once over ``clients``
    keep-alive clients; the wall time, each request's latency and each queue's answers."""
    work: queue.Queue[int] = queue.Queue()
    for i in range(len(queues)):
        work.put(i)
    answers: list[list[tuple[int, str]]] = [[] for _ in queues]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        mine: list[float] = []
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                break
            for path, body, key in queues[i]:
                t = time.perf_counter()
                r = session.post(
                    base + path, json=body, headers={"Idempotency-Key": key}, timeout=120
                )
                mine.append(time.perf_counter() - t)
                if r.status_code not in (200, 201):
                    with lock:
                        errors.append(f"POST {path}: HTTP {r.status_code} {r.text[:200]}")
                    break
                answers[i].append((r.status_code, r.text))
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
        raise RuntimeError(f"{len(errors)} writes failed, the first: {errors[0]}")
    return wall, latencies, answers


def stored_once(db: Database, jobs: list[dict[str, Any]]) -> dict[str, int]:
    """What the database holds for the bench's jobs, counted by the database itself."""
    conn = db.connect()
    p = "?" if db.vendor == "sqlite" else "%s"
    ids = [j["id"] for j in jobs]
    first, last = min(ids), max(ids)
    try:

        def one(sql: str) -> int:
            return int(conn.execute(sql, (first, last)).fetchone()[0])

        where = f"job_id BETWEEN {p} AND {p}"
        return {
            "completed": one(
                f"SELECT count(*) FROM jobs_job WHERE id BETWEEN {p} AND {p} AND state = 'completed'"
            ),
            "proofs": one(f"SELECT count(*) FROM jobs_proof WHERE {where}"),
            "started": one(
                f"SELECT count(*) FROM jobs_jobevent WHERE {where} AND kind = 'started'"
            ),
            "arrived": one(
                f"SELECT count(*) FROM jobs_jobevent WHERE {where} AND kind = 'arrived'"
            ),
            "completions": one(
                f"SELECT count(*) FROM jobs_jobevent WHERE {where} AND kind = 'completed'"
            ),
            "invoices": int(
                conn.execute(
                    "SELECT count(*) FROM invoices_invoice WHERE source LIKE 'job:%'"
                ).fetchone()[0]
            ),
        }
    finally:
        conn.close()


def bench_one(vendor: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"== jobs: {vendor}")
    db = fresh_database(vendor, "jobs")
    try:
        return _bench(db, args)
    finally:
        if vendor == "postgresql":
            common.pg_drop()
        shutil.rmtree(db.var_dir, ignore_errors=True)


def _bench(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    made = child(db, "setup", "--drivers", str(args.drivers))
    jobs = made["jobs"]
    say(f"  jobs: {len(jobs):,} deliveries booked ({time.perf_counter() - t:.1f}s, not timed)")
    token = token_create(db, "bench-drivers")
    queues = [driver_queue(j) for j in jobs]
    with lastmile_serve(db) as base:
        wall1, lat1, first = replay(base, token, queues, args.clients)
        wall2, lat2, again = replay(base, token, queues, args.clients)
    writes = sum(len(q) for q in queues)
    differing = sum(a != b for a, b in zip(first, again, strict=True))
    counts = stored_once(db, jobs)
    n = len(jobs)
    expected = {
        "completed": n,
        "proofs": n,
        "started": n,
        "arrived": n,
        "completions": n,
        "invoices": n,
    }
    duplicates = sum(max(0, counts[k] - expected[k]) for k in expected)
    missing = sum(max(0, expected[k] - counts[k]) for k in expected)
    say(
        f"  jobs: {writes:,} writes in {wall1:.1f}s ({writes / wall1:,.0f}/s), replayed in "
        f"{wall2:.1f}s ({writes / wall2:,.0f}/s); stored {counts}; {differing} answers differed"
    )
    floor = floor_insert(
        db,
        table="bench_jobs_floor",
        columns=["job_id", "step", "key"],
        rows=[(j["id"], step, str(uuid.uuid4())) for j in jobs for step in STEPS],
        sqlite_ddl="job_id INTEGER, step TEXT, key TEXT",
        pg_ddl="job_id bigint, step text, key text",
    )
    t = time.perf_counter()
    inv = child(db, "invoices", "--invoices", str(args.invoices), "--pdfs", str(args.pdfs))
    say(
        f"  jobs: {inv['issued']:,} invoices issued in {inv['issued_s']:.1f}s, "
        f"{inv['pdfs']:,} PDFs in {inv['pdf_s']:.1f}s ({time.perf_counter() - t:.1f}s in all)"
    )
    return {
        "drivers": n,
        "clients": args.clients,
        "writes": writes,
        "per_s": writes / wall1,
        "replay_per_s": writes / wall2,
        "p50_ms": percentile(lat1, 50) * 1000,
        "p99_ms": percentile(lat1, 99) * 1000,
        "replay_p99_ms": percentile(lat2, 99) * 1000,
        "duplicates": duplicates,
        "missing": missing,
        "answers_differing": differing,
        "floor_per_s": floor["per_s"],
        "floor_method": floor["method"],
        "ratio": (writes / wall1) / floor["per_s"],
        "invoices": inv["issued"],
        "invoices_s": inv["issued_s"],
        "invoices_per_s": inv["issued"] / inv["issued_s"],
        "pdfs": inv["pdfs"],
        "pdf_s": inv["pdf_s"],
        "pdf_ms_each": inv["pdf_s"] / inv["pdfs"] * 1000 if inv["pdfs"] else None,
    }


def figures(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat figures of ``bench/results.json``: SQLite unsuffixed, PostgreSQL ``_pg``."""
    out: dict[str, Any] = {}
    for vendor, r in results.items():
        sfx = "" if vendor == "sqlite" else "_pg"
        out.update(
            {
                f"jobs_transitions_per_s{sfx}": round(r["per_s"], 1),
                f"jobs_replay_per_s{sfx}": round(r["replay_per_s"], 1),
                f"jobs_write_p99_ms{sfx}": round(r["p99_ms"], 1),
                f"jobs_duplicates{sfx}": r["duplicates"],
                f"jobs_floor_per_s{sfx}": round(r["floor_per_s"], 1),
                f"jobs_ratio{sfx}": round(r["ratio"], 4),
                f"invoices_10k_s{sfx}": round(r["invoices_s"] * 10_000 / r["invoices"], 2),
                f"invoice_pdf_ms{sfx}": round(r["pdf_ms_each"], 2) if r["pdf_ms_each"] else None,
            }
        )
    return out


def page(results: dict[str, dict[str, Any]], skipped: dict[str, str]) -> list[str]:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{os.cpu_count()} cores ({platform.machine()}), `lastmile serve` with its defaults.",
        "",
        "| | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
    ]

    def row(label: str, fmt: str, key: str) -> None:
        cells = [format(r[key], fmt) if r.get(key) is not None else "—" for r in results.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("Drivers (one job each, four writes)", ",", "drivers")
    row("HTTP clients at once", ",", "clients")
    row("Writes/s, first send", ",.0f", "per_s")
    row("Writes/s, the whole queue replayed", ",.0f", "replay_per_s")
    row("Write p50 (ms)", ".1f", "p50_ms")
    row("Write p99 (ms)", ".1f", "p99_ms")
    row("Stored twice (must be 0)", ",", "duplicates")
    row("Missing (must be 0)", ",", "missing")
    row("Replayed answers that differed (must be 0)", ",", "answers_differing")
    row("Floor: bare rows/s", ",.0f", "floor_per_s")
    row("Writes/s ÷ floor", ".4f", "ratio")
    row("Invoices issued", ",", "invoices")
    row("Seconds to issue them", ".2f", "invoices_s")
    row("PDFs rendered", ",", "pdfs")
    row("Milliseconds per PDF", ".2f", "pdf_ms_each")
    for vendor, why in skipped.items():
        lines += ["", f"{vendor}: skipped, {why}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("setup")
    s.add_argument("--drivers", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    i = sub.add_parser("invoices")
    i.add_argument("--invoices", type=int, required=True)
    i.add_argument("--pdfs", type=int, required=True)
    i.add_argument("--out", type=Path, required=True)
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--pdfs", type=int, default=1000)
    parser.add_argument("--vendor", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/JOBS.md")
    args = parser.parse_args()
    if args.cmd == "setup":
        setup(args.drivers, args.out)
        return
    if args.cmd == "invoices":
        invoices(args.invoices, args.pdfs, args.out)
        return
    common.PG_DB = PG_DB
    results, skipped = common.on_each_engine(
        "jobs", args.vendor, lambda vendor: bench_one(vendor, args)
    )
    if not args.no_write:
        page_block_write(PAGE, begin=BEGIN, end=END, lines=page(results, skipped))
    print(json.dumps({**figures(results), "jobs": results, "jobs_skipped": skipped}))


if __name__ == "__main__":
    main()
