"""Ingest: the batch interactions API over real HTTP, and its floor.

The workload: ``n`` interactions for ``n / 10`` customers, each customer known by an email
address. Item ``j`` belongs to customer ``j % customers``, so the first tenth of the run
creates the customers and the rest finds them by identity. Every tenth customer carries a
phone number beside the email in the second half of the run: the first such item attaches
the phone to the customer already found by email (identity resolution's slow path), later
ones find both identities on one customer.

The floor: the same interaction rows with a raw ``executemany`` (SQLite, WAL) or ``COPY``
(PostgreSQL) into a bare table with the same columns and no index but the primary key.

Ingest on cases (:func:`bench_cases`): every item names a case, so it takes the path through
the loop engine — an inbound message opens a reply loop under the matching SLA policy (or
finds the one open), a reply closes it. The organisation of ``org.py`` (50 teams in 10 time
zones, 200 SLA policies on business hours) is made first, through the services, in a child
process (``python bench/ingest.py cases-setup``); then one customer per case is created
through the API and one case per customer with ``cases.services.cases_insert``, each case
on one team and channel. Each case gets 4 messages in time order — inbound (opens a
first-reply loop), inbound (finds it open), outbound (closes it), inbound (opens a
next-reply loop) — all four in the same batch, so the two clients never race on one case.
Afterwards the rows are checked: every interaction on its case, two reply loops per case,
each with a deadline from a policy, one closed and one open.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from common import BENCH_DIR, REPO, Database, floor_insert, percentile, say
from lastmile.customers.columns import INTERACTION_COLUMNS

CHANNELS = ("email", "chat", "phone", "sms", "web")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BATCH = 1000
CLIENTS = 2


@dataclass
class Workload:
    interactions: int
    customers: int
    items: list[dict[str, Any]] = field(default_factory=list)
    case_ids: list[int | None] = field(default_factory=list)  # per item, for the floor


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
                    posted = sum(len(v) for v in ids.values())
                if done % progress_every == 0:
                    say(f"    {posted:,} / {len(w.items):,} interactions posted")

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


def run_sentiment(db: Database, w: Workload) -> dict[str, Any]:
    """The ingest stored its inbound messages unscored; score them as the worker does
    (``lastmile sentiment process``, one process, batches of 512) and check every one got
    its label (the workload's and any a setup step ingested before it)."""

    def counts() -> tuple[int, int]:
        conn = db.connect()
        try:
            labelled = conn.execute(
                "SELECT count(*) FROM customers_interaction WHERE sentiment_label IS NOT NULL"
            ).fetchone()[0]
            pending = conn.execute("SELECT count(*) FROM customers_sentimentpending").fetchone()[0]
        finally:
            conn.close()
        return int(labelled), int(pending)

    inbound = sum(1 for item in w.items if item["direction"] == "inbound" and item.get("body"))
    labelled_before, pending_before = counts()
    if pending_before < inbound:
        raise RuntimeError(f"{pending_before} messages pending; the workload has {inbound}")
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "sentiment", "process", "--quiet"],
        env=db.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"lastmile sentiment process failed:\n{proc.stderr}")
    labelled, pending = counts()
    if labelled != labelled_before + pending_before or pending:
        raise RuntimeError(
            f"{labelled - labelled_before} messages scored, {pending} pending; "
            f"expected {pending_before}"
        )
    # The wall time holds the process's start and the model's load (about 2 s).
    return {"messages": pending_before, "wall_s": wall, "per_s": pending_before / wall}


def floor_rows(db: Database, w: Workload) -> list[tuple[Any, ...]]:
    """The workload's rows as the API stored them, in the columns its writer fills: a column
    added there and not here fails the floor instead of leaving it out."""
    conn = db.connect()
    try:
        sentiments = {
            source_id: (label, score)
            for source_id, label, score in conn.execute(
                "SELECT source_id, sentiment_label, sentiment_score FROM customers_interaction"
            ).fetchall()
        }
    finally:
        conn.close()
    now = datetime.now(UTC)
    recorded = str(now.replace(tzinfo=None)) if db.vendor == "sqlite" else now
    rows = []
    for j, item in enumerate(w.items):
        at = datetime.fromisoformat(item["occurred_at"])
        label, score = sentiments[item["source_id"]]
        row = {
            "customer_id": j % w.customers + 1,
            "case_id": w.case_ids[j] if w.case_ids else None,
            "channel": item["channel"],
            "direction": item["direction"],
            "occurred_at": str(at.replace(tzinfo=None)) if db.vendor == "sqlite" else at,
            "recorded_at": recorded,
            "actor_id": None,
            "body": item["body"],
            "data": None,
            "source_id": item["source_id"],
            "sentiment_label": label,
            "sentiment_score": score,
        }
        rows.append(tuple(row[c] for c in INTERACTION_COLUMNS))
    return rows


def run_floor(db: Database, w: Workload) -> dict[str, Any]:
    """The same rows, raw, into a bare table (primary key only), in one transaction."""
    rows = floor_rows(db, w)
    return floor_insert(
        db,
        table="floor_interaction",
        columns=list(INTERACTION_COLUMNS),
        rows=rows,
        sqlite_ddl="customer_id INTEGER NOT NULL, case_id INTEGER, channel VARCHAR(40) NOT NULL, "
        "direction VARCHAR(10) NOT NULL, occurred_at DATETIME NOT NULL, "
        "recorded_at DATETIME NOT NULL, actor_id INTEGER, body TEXT NOT NULL, data TEXT, "
        "source_id VARCHAR(200), sentiment_label VARCHAR(8), sentiment_score REAL",
        pg_ddl="customer_id bigint NOT NULL, case_id bigint, channel varchar(40) NOT NULL, "
        "direction varchar(10) NOT NULL, occurred_at timestamptz NOT NULL, "
        "recorded_at timestamptz NOT NULL, actor_id integer, body text NOT NULL, data jsonb, "
        "source_id varchar(200), sentiment_label varchar(8), sentiment_score double precision",
    )


def measure(
    db: Database,
    base: str,
    token: str,
    w: Workload,
    *,
    name: str,
    verify: Callable[[Database, Workload], dict[str, int]],
) -> dict[str, Any]:
    """Post the workload through the API, check the rows it wrote, then time its floor;
    each step said as it ends, under ``name``."""
    api = run_api(base, token, w)
    say(
        f"  {name}: {api['per_s']:,.0f} interactions/s ({api['wall_s']:.1f}s); per batch p50 "
        f"{api['batch_p50_ms']:.0f} ms, p99 {api['batch_p99_ms']:.0f} ms"
    )
    rows = verify(db, w)
    say(f"  {name} verified: {rows}")
    scored = run_sentiment(db, w)
    say(
        f"  {name} sentiment, scored afterwards as a worker does: {scored['per_s']:,.0f} "
        f"messages/s ({scored['messages']:,} in {scored['wall_s']:.1f}s, one process)"
    )
    floor = run_floor(db, w)
    say(
        f"  {name} floor ({floor['method']}): {floor['per_s']:,.0f} rows/s ({floor['wall_s']:.2f}s)"
    )
    return {"api": api, "floor": floor, "rows": rows, "sentiment": scored}


def bench(db: Database, base: str, token: str, interactions: int, customers: int) -> dict[str, Any]:
    w = workload(interactions, customers)
    say(
        f"  ingest: {interactions:,} interactions for {customers:,} customers, batches of {BATCH:,}, {CLIENTS} clients"
    )
    return measure(db, base, token, w, name="ingest", verify=verify)


# --- ingest on cases -----------------------------------------------------------------------

CASE_DIRECTIONS = ("inbound", "inbound", "outbound", "inbound")
CASE_ITEMS = len(CASE_DIRECTIONS)
CASE_CHANNELS = ("email", "chat", "phone", "web")  # org.CHANNELS: each has a policy per team
T_CASES = datetime(2026, 5, 26, 6, 0, tzinfo=UTC)  # a Tuesday; 2 s apart, over the day


def customers_seed(base: str, token: str, customers: int) -> None:
    """One message per customer through the API, so the customers exist (not timed)."""
    seed = Workload(customers, customers)
    for k in range(customers):
        seed.items.append(
            {
                "source_id": f"bench-seed-{k}",
                "channel": "email",
                "direction": "inbound",
                "occurred_at": (T_CASES - timedelta(days=30, seconds=-k))
                .isoformat()
                .replace("+00:00", "Z"),
                "customer": {"identities": [{"kind": "email", "value": email_of(k)}]},
                "body": f"Hello, this is customer {k}.",
            }
        )
    run_api(base, token, seed)


def cases_workload(interactions: int, cases: list[tuple[int, str]]) -> Workload:
    """Four messages per case (see the module's docstring), a case's four in one batch."""
    w = Workload(interactions, len(cases))
    for j in range(interactions):
        c, step = divmod(j, CASE_ITEMS)
        case_id, ref = cases[c]
        w.items.append(
            {
                "source_id": f"bench-case-{j}",
                "channel": CASE_CHANNELS[c % len(CASE_CHANNELS)],
                "direction": CASE_DIRECTIONS[step],
                "occurred_at": (T_CASES + timedelta(seconds=2 * j))
                .isoformat()
                .replace("+00:00", "Z"),
                "customer": {"identities": [{"kind": "email", "value": email_of(c)}]},
                "case": ref,
                "body": _body(j),
            }
        )
        w.case_ids.append(case_id)
    return w


def verify_cases(db: Database, w: Workload) -> dict[str, int]:
    """Every interaction on its case; per case two reply loops with a policy's deadline,
    one closed by the reply and one open."""
    conn = db.connect()
    try:

        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        got = {
            "interactions_on_cases": one(
                "SELECT count(*) FROM customers_interaction WHERE case_id IS NOT NULL"
            ),
            "reply_loops": one("SELECT count(*) FROM loops_loop WHERE kind = 'reply'"),
            "with_policy_deadline": one(
                "SELECT count(*) FROM loops_loop WHERE kind = 'reply' "
                "AND sla_policy_id IS NOT NULL AND due_at IS NOT NULL"
            ),
            "closed": one("SELECT count(*) FROM loops_loop WHERE state = 'closed'"),
            "open": one("SELECT count(*) FROM loops_loop WHERE state = 'open'"),
        }
    finally:
        conn.close()
    cases = w.customers
    want = {
        "interactions_on_cases": w.interactions,
        "reply_loops": 2 * cases,
        "with_policy_deadline": 2 * cases,
        "closed": cases,
        "open": cases,
    }
    if got != want:
        raise RuntimeError(f"ingest on cases wrote {got}, expected {want}")
    return got


def bench_cases(db: Database, base: str, token: str, interactions: int) -> dict[str, Any]:
    """Ingest where every item is on a case; the organisation and cases are made first."""
    n_cases = interactions // CASE_ITEMS
    interactions = n_cases * CASE_ITEMS
    t = time.perf_counter()
    customers_seed(base, token, n_cases)
    out_path = db.var_dir / "cases.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH_DIR / "ingest.py"),
            "cases-setup",
            "--vendor",
            db.vendor,
            "--var-dir",
            str(db.var_dir),
            "--customers",
            str(n_cases),
            "--out",
            str(out_path),
        ],
        env=db.env(),
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the cases setup on {db.vendor} failed (exit {proc.returncode})")
    made = json.loads(out_path.read_text())
    say(f"  ingest on cases: made {made['setup']} ({time.perf_counter() - t:.1f}s)")
    w = cases_workload(interactions, [tuple(c) for c in made["cases"]])
    say(
        f"  ingest on cases: {interactions:,} interactions on {n_cases:,} cases, "
        f"batches of {BATCH:,}, {CLIENTS} clients"
    )
    out = measure(db, base, token, w, name="ingest on cases", verify=verify_cases)
    out["setup"] = (
        f"{n_cases:,} cases, one per customer, spread over the 50 teams and 4 channels of the "
        "business-hours organisation the sweep uses (below), so each reply loop takes its "
        f"deadline from one of its 200 policies; {CASE_ITEMS} messages per case in time order "
        "(inbound, inbound, outbound, inbound: two reply loops opened, one closed), all "
        "four in one batch"
    )
    return out


def cases_setup(customers: int) -> dict[str, Any]:
    """In a django.setup() process: the organisation, then one case per seeded customer."""
    from lastmile.cases.models import Case
    from lastmile.cases.services import CaseIn, cases_insert
    from lastmile.customers.models import Identity
    from lastmile.people.models import Team
    from org import organisation_create

    now = T_CASES - timedelta(days=1)
    org = organisation_create(now=now - timedelta(days=120))
    emails = [email_of(k) for k in range(customers)]
    owner = dict(
        Identity.objects.filter(kind="email", value__in=emails).values_list("value", "customer_id")
    )
    teams = Team.objects.in_bulk(org.teams)
    ids = cases_insert(
        cases=[
            CaseIn(
                customer_id=owner[email_of(k)],
                subject=f"Order #{100000 + k} has not arrived",
                now=now,
                team=teams[org.teams[k % len(org.teams)]],
                channel=CASE_CHANNELS[k % len(CASE_CHANNELS)],
            )
            for k in range(customers)
        ]
    )
    refs = {c.pk: c.ref for c in Case.objects.filter(pk__in=ids)}
    return {"cases": [[pk, refs[pk]] for pk in ids], "setup": org.describe()}


def main() -> None:
    ap = argparse.ArgumentParser(
        description="run by run.py: python bench/ingest.py cases-setup ..."
    )
    ap.add_argument("command", choices=["cases-setup"])
    ap.add_argument("--vendor", required=True, choices=["sqlite", "postgresql"])
    ap.add_argument("--var-dir", required=True, type=Path)
    ap.add_argument("--customers", required=True, type=int)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    db = Database(vendor=args.vendor, var_dir=args.var_dir)
    if db.vendor == "sqlite":
        db.sqlite_path = args.var_dir / "lastmile.sqlite3"
    assert os.environ.get("LASTMILE_DATABASE_URL") == db.url, (
        "run by run.py, with the bench database's env"
    )
    import django

    django.setup()
    args.out.write_text(json.dumps(cases_setup(args.customers)))


if __name__ == "__main__":
    sys.exit(main())
