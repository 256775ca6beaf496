"""What the database needs at scale, measured on the scale database (run by bench/scale.py).

    python bench/scale_db.py partition --busy N --requests R --out FILE
    python bench/scale_db.py migrations --out FILE

``partition``: a copy of ``customers_interaction`` partitioned by month of ``occurred_at``
(the columns Django reads, the timeline's index, the primary key with the partition key),
filled from the table; then the timeline's bare SELECT (same customers, same seed) and a
one-month count on the table as it is and on the copy, taking turns, with their plans; the
copy is dropped afterwards.

``migrations``: each migration created since the 1M-row bench (2026-11-25) that touches a
big table (interactions, customers, loops, cases) or uses ``AddIndexOnline``, re-run on
this database: its backward SQL (``sqlmigrate --backwards``, or the module's own statement
lists for the search app's ``RunPython``), then its forward SQL as ``migrate`` sends it (in
one transaction when the migration is atomic; asked of ``sqlmigrate`` *after* the backward
ran, since ``drop_field_indexes`` looks at the live schema: before it, there is no index to
drop and its forward is empty), timed, while probes read (``SELECT ... LIMIT
1``) and write (``UPDATE ... SET id = id`` of one row, rolled back) each big table every
0.1 s on their own connections: the longest each waited is how long the migration kept
readers and writers out. The locks the migrating session held on those tables are sampled
from ``pg_locks``. The schema ends as it began; ``django_migrations`` is not touched. What
is measured so far is written to ``--out`` after each migration (``"partial": true``), so a
run stopped in the middle keeps the migrations it timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

SEED = 20260105  # bench/timeline.py's
COLUMNS = (
    "id, channel, direction, occurred_at, recorded_at, body, data, source_id, actor_id, "
    "case_id, customer_id, sentiment_label, sentiment_score"
)
TIMELINE = (
    f"SELECT {COLUMNS} FROM {{table}} WHERE customer_id = %s "
    "ORDER BY occurred_at DESC, id DESC LIMIT 51"
)
MONTH_COUNT = (
    "SELECT count(*) FROM {table} WHERE occurred_at >= '2026-03-01' AND occurred_at < '2026-04-01'"
)
BIG = (
    "customers_interaction",
    "customers_customer",
    "loops_loop",
    "cases_case",
    "channels_outboxmessage",
    "webhooks_delivery",
    "live_notification",
)
# (app, migration): created since the 1M-row bench, touching a big table
MIGRATIONS = [
    ("customers", "0002_interaction_sentiment"),
    ("customers", "0003_interaction_case_partial"),
    ("cases", "0003_case_customer_title"),
    ("cases", "0004_tags_saved_views_list_indexes"),
    ("cases", "0005_unsolved_list_indexes"),
    ("loops", "0003_loop_team_own"),
    ("loops", "0005_loop_at_risk_at"),
    ("loops", "0006_team_own_kinds_closed_indexes"),
    ("loops", "0007_loop_fk_indexes_in_composites"),
    ("loops", "0008_loop_open_due_breached"),
    ("loops", "0009_loop_team_due_id"),
    ("customers", "0004_drop_covered_fk_index"),
    ("channels", "0006_outbox_failed_index"),
    ("channels", "0007_drop_covered_fk_index"),
    ("live", "0002_drop_covered_fk_index"),
    ("webhooks", "0002_delivery_failed_index"),
    ("search", "0002_case_customer_substring"),
    ("search", "0003_interaction_tsvector_stored"),
]


def url() -> str:
    u = os.environ["LASTMILE_DATABASE_URL"]
    return u.replace("postgres://", "postgresql://", 1)


def connect() -> psycopg.Connection[Any]:
    conn = psycopg.connect(url(), autocommit=True)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, int(pid), 10)
    return conn


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


# --- partitioning -----------------------------------------------------------------------


def partition(args: argparse.Namespace) -> dict[str, Any]:
    conn = connect()
    out: dict[str, Any] = {}
    try:
        conn.execute("SET maintenance_work_mem = '1GB'")
        lo, hi = conn.execute(
            "SELECT date_trunc('month', min(occurred_at)), max(occurred_at) FROM customers_interaction"
        ).fetchone()  # type: ignore[misc]
        conn.execute("DROP TABLE IF EXISTS scale_part_interaction")
        conn.execute(
            "CREATE TABLE scale_part_interaction (id bigint NOT NULL, channel varchar(40) NOT NULL, "
            "direction varchar(10) NOT NULL, occurred_at timestamptz NOT NULL, "
            "recorded_at timestamptz NOT NULL, body text NOT NULL, data jsonb, "
            "source_id varchar(200), actor_id integer, case_id bigint, customer_id bigint NOT NULL, "
            "sentiment_label varchar(8), sentiment_score double precision) "
            "PARTITION BY RANGE (occurred_at)"
        )
        months = conn.execute(
            "SELECT m, m + interval '1 month' FROM generate_series(%s::timestamptz, %s, "
            "interval '1 month') m",
            (lo, hi),
        ).fetchall()
        for n, (a, b) in enumerate(months):
            conn.execute(
                f"CREATE TABLE scale_part_interaction_{n:02d} PARTITION OF scale_part_interaction "
                "FOR VALUES FROM (%s) TO (%s)".replace("%s", "'{}'").format(a, b)
            )
        out["partitions"] = len(months)
        t = time.perf_counter()
        conn.execute(
            f"INSERT INTO scale_part_interaction ({COLUMNS}) SELECT {COLUMNS} FROM customers_interaction"
        )
        out["fill_s"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("ALTER TABLE scale_part_interaction ADD PRIMARY KEY (id, occurred_at)")
        conn.execute(
            "CREATE INDEX scale_part_timeline ON scale_part_interaction "
            "(customer_id, occurred_at DESC, id DESC)"
        )
        out["index_s"] = time.perf_counter() - t
        conn.execute("VACUUM (ANALYZE) scale_part_interaction")
        print(
            f"  partition: copy of {len(months)} monthly partitions filled in {out['fill_s']:.0f}s, "
            f"indexed in {out['index_s']:.0f}s",
            file=sys.stderr,
        )
        rng = random.Random(SEED)
        customers = [rng.randrange(1, args.busy + 1) for _ in range(args.requests + 200)]
        times: dict[str, list[float]] = {"plain": [], "partitioned": []}
        tables = {"plain": "customers_interaction", "partitioned": "scale_part_interaction"}
        for k, cid in enumerate(customers):  # taking turns, so both see the same machine
            for name, table in tables.items():
                t = time.perf_counter()
                rows = conn.execute(TIMELINE.format(table=table), (cid,)).fetchall()
                dt = time.perf_counter() - t
                if len(rows) != 51:
                    raise SystemExit(f"{table}: customer {cid}: {len(rows)} rows")
                if k >= 200:
                    times[name].append(dt * 1000)
        for name, table in tables.items():
            out[f"timeline_{name}_p50_ms"] = pct(times[name], 50)
            out[f"timeline_{name}_p99_ms"] = pct(times[name], 99)
            out[f"timeline_{name}_plan"] = plan(conn, TIMELINE.format(table=table), (customers[0],))
            mt = []
            for _ in range(5):
                t = time.perf_counter()
                conn.execute(MONTH_COUNT.format(table=table)).fetchone()
                mt.append((time.perf_counter() - t) * 1000)
            out[f"month_count_{name}_ms"] = pct(mt, 50)
            out[f"month_count_{name}_plan"] = plan(conn, MONTH_COUNT.format(table=table), ())
        # retention: a month out of the partitioned table (detached, then dropped)
        t = time.perf_counter()
        conn.execute(
            "ALTER TABLE scale_part_interaction DETACH PARTITION scale_part_interaction_00"
        )
        conn.execute("DROP TABLE scale_part_interaction_00")
        out["drop_month_partitioned_ms"] = (time.perf_counter() - t) * 1000
        print(
            "  partition: timeline p50/p99 plain {:.2f}/{:.2f} ms, partitioned {:.2f}/{:.2f} ms; "
            "a month's count plain {:.0f} ms, partitioned {:.0f} ms".format(
                out["timeline_plain_p50_ms"],
                out["timeline_plain_p99_ms"],
                out["timeline_partitioned_p50_ms"],
                out["timeline_partitioned_p99_ms"],
                out["month_count_plain_ms"],
                out["month_count_partitioned_ms"],
            ),
            file=sys.stderr,
        )
    finally:
        conn.execute("DROP TABLE IF EXISTS scale_part_interaction")
        conn.close()
    return out


def plan(conn: Any, sql: str, params: tuple[Any, ...]) -> str:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)


# --- migrations -------------------------------------------------------------------------


class Probes:
    """Read and write probes on each big table, every 0.1 s, each on its own connection."""

    def __init__(self, tables: list[str]) -> None:
        self.stop = threading.Event()
        self.samples: list[tuple[str, str, float, float]] = []  # table, kind, start, wait
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.run, args=(t, kind), daemon=True)
            for t in tables
            for kind in ("read", "write")
        ]

    def run(self, table: str, kind: str) -> None:
        conn = psycopg.connect(url(), autocommit=True)
        try:
            row = conn.execute(f"SELECT min(id) FROM {table}").fetchone()
            pk = (row[0] if row else None) or 0
            while not self.stop.is_set():
                t = time.monotonic()
                if kind == "read":
                    conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
                else:
                    conn.execute("BEGIN")
                    conn.execute(f"UPDATE {table} SET id = id WHERE id = %s", (pk,))
                    conn.execute("ROLLBACK")
                with self.lock:
                    self.samples.append((table, kind, t, time.monotonic() - t))
                self.stop.wait(0.1)
        except Exception as exc:  # noqa: BLE001  (a probe that fails says so in the report)
            with self.lock:
                self.samples.append(
                    (table, kind + " failed: " + str(exc)[:100], time.monotonic(), 0)
                )
        finally:
            conn.close()

    def __enter__(self) -> Probes:
        for th in self.threads:
            th.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for th in self.threads:
            th.join(timeout=600)

    def waits(self, a: float, b: float) -> dict[str, dict[str, float]]:
        """The longest wait of each probe that overlapped [a, b], in ms."""
        out: dict[str, dict[str, float]] = {}
        with self.lock:
            for table, kind, t, wait in self.samples:
                if t <= b and t + wait >= a:
                    d = out.setdefault(table, {})
                    d[kind] = max(d.get(kind, 0.0), wait * 1000)
        return out


class LockSampler(threading.Thread):
    def __init__(self, pid: int, tables: list[str]) -> None:
        super().__init__(daemon=True)
        self.pid, self.tables = pid, tables
        self.stop = threading.Event()
        self.modes: dict[str, set[str]] = {}

    def run(self) -> None:
        conn = psycopg.connect(url(), autocommit=True)
        try:
            while not self.stop.is_set():
                for rel, mode in conn.execute(
                    "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.pid = %s AND l.granted AND c.relname = ANY(%s)",
                    (self.pid, self.tables),
                ).fetchall():
                    self.modes.setdefault(rel, set()).add(mode)
                self.stop.wait(0.05)
        finally:
            conn.close()


def statements(app: str, name: str, *, backwards: bool) -> list[str]:
    from django.core.management import call_command

    buf = io.StringIO()
    call_command("sqlmigrate", app, name, backwards=backwards, stdout=buf)
    out, current = [], []
    for line in buf.getvalue().splitlines():
        if line.startswith("--") or line.strip() in ("BEGIN;", "COMMIT;") or not line.strip():
            if line.startswith("-- Raw Python operation"):
                out.append("-- RunPython")
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    return out


def migration_sql(app: str, name: str) -> tuple[list[str], list[str], bool]:
    """(backward statements, forward statements, atomic) as ``migrate`` would send them."""
    import importlib

    module = importlib.import_module(f"lastmile.{app}.migrations.{name}")
    atomic = getattr(module.Migration, "atomic", True)
    if app == "search" and name == "0003_interaction_tsvector_stored":
        # Its own backward re-creates 0001's expression index over every row first (as
        # long as the forward); dropping the column is the state before it as far as the
        # forward is concerned (whose DROP INDEX IF EXISTS of that index is then a no-op).
        return (
            [
                "DROP INDEX IF EXISTS search_interaction_body_tsv",
                "ALTER TABLE customers_interaction DROP COLUMN IF EXISTS search_body",
            ],
            list(module.POSTGRES_FORWARD),
            atomic,
        )
    if app == "search":
        return list(module.POSTGRES_BACKWARD), list(module.POSTGRES_FORWARD), atomic
    return (
        statements(app, name, backwards=True),
        statements(app, name, backwards=False),
        atomic,
    )


def run_forward(app: str, name: str, forward: list[str], atomic: bool) -> None:
    from django.apps import apps
    from django.db import connection, transaction

    def body() -> None:
        for sql in forward:
            if sql == "-- RunPython":
                if (app, name) == ("loops", "0005_loop_at_risk_at"):
                    import importlib

                    module = importlib.import_module(f"lastmile.{app}.migrations.{name}")
                    with connection.schema_editor(atomic=False) as editor:
                        module.fill(apps, editor)
                continue
            with connection.cursor() as cur:
                cur.execute(sql)

    if atomic:
        with transaction.atomic():
            body()
    else:
        body()


def migrations(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection, transaction

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, int(pid), 10)
    with connection.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)", (list(BIG),))
        tables = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)", (tables,)
        )
        rows = dict(cur.fetchall())
    out: dict[str, Any] = {"tables": rows, "migrations": []}
    # Migrations written since this database was made: applied by ``migrate`` itself,
    # with the same probes.
    from django.core.management import call_command
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = [
        f"{m.app_label}.{m.name}"
        for m, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())
    ]
    if pending:
        sampler = LockSampler(pid, tables)
        with Probes(tables) as probes:
            sampler.start()
            a = time.monotonic()
            call_command("migrate", verbosity=0)
            b = time.monotonic()
            time.sleep(0.3)
            sampler.stop.set()
        sampler.join()
        out["migrations"].append(
            {
                "migration": " + ".join(pending) + " (pending: `migrate`)",
                "atomic": True,
                "forward_s": b - a,
                "backward_s": 0.0,
                "statements": [],
                "locks": {k: sorted(v) for k, v in sampler.modes.items()},
                "waits_ms": probes.waits(a, b),
                "error": None,
            }
        )
        print(f"  migrations: pending {pending} applied in {b - a:.1f}s", file=sys.stderr)
    only = [x for x in (args.only or "").split(",") if x]
    for app, name in MIGRATIONS:
        if only and app not in only and f"{app}.{name}" not in only:
            continue
        backward, forward, atomic = migration_sql(app, name)
        t = time.perf_counter()
        with transaction.atomic() if atomic else contextlib.nullcontext():
            for sql in backward:
                if sql != "-- RunPython":
                    with connection.cursor() as cur:
                        cur.execute(sql)
        back_s = time.perf_counter() - t
        if app != "search":
            # asked again now: a RunPython that looks at the schema (drop_field_indexes)
            # has something to drop only once the backward has made it again
            forward = statements(app, name, backwards=False)
        sampler = LockSampler(pid, tables)
        with Probes(tables) as probes:
            sampler.start()
            a = time.monotonic()
            error = None
            try:
                run_forward(app, name, forward, atomic)
            except Exception as exc:  # noqa: BLE001  (reported, the next one still runs)
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            b = time.monotonic()
            time.sleep(0.3)  # let a probe that was waiting finish and be counted
            sampler.stop.set()
        sampler.join()
        entry = {
            "migration": f"{app}.{name}",
            "atomic": atomic,
            "forward_s": b - a,
            "backward_s": back_s,
            "statements": [s[:300] for s in forward],
            "locks": {k: sorted(v) for k, v in sampler.modes.items()},
            "waits_ms": probes.waits(a, b),
            "error": error,
        }
        out["migrations"].append(entry)
        worst = {
            tbl: max(w.values()) for tbl, w in entry["waits_ms"].items() if max(w.values()) > 150
        }
        print(
            f"  migrations: {app}.{name}: {b - a:.1f}s forward (backward {back_s:.1f}s); "
            f"locks {entry['locks']}; probes waited (ms) {worst or 'never over 150 ms'}"
            + (f"; ERROR {error}" if error else ""),
            file=sys.stderr,
        )
        args.out.write_text(json.dumps({**out, "partial": True}, default=str))
    return out


def variants(args: argparse.Namespace) -> dict[str, Any]:
    """The lock-friendly way of two migrations that blocked a big table, measured the same way
    (the table put back as before them, then the variant's statements with the probes):

    - ``loops.0005`` batched: the column added alone (no rewrite), the fill in batches of
      10,000 loops each in its own transaction, the two indexes ``CONCURRENTLY``;
    - ``loops.0006`` with its constraint added ``NOT VALID`` then validated (``SHARE UPDATE
      EXCLUSIVE``), its indexes ``CONCURRENTLY``.
    """
    import importlib

    from django.apps import apps
    from django.db import connection, transaction

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, int(pid), 10)
    tables = ["loops_loop", "customers_customer", "cases_case"]
    out: list[dict[str, Any]] = []

    def run(sql: str) -> None:
        with connection.cursor() as cur:
            cur.execute(sql)

    def measured(name: str, backward: list[str], forward: Any) -> None:
        with transaction.atomic():
            for sql in backward:
                run(sql)
        sampler = LockSampler(pid, tables)
        with Probes(tables) as probes:
            sampler.start()
            a = time.monotonic()
            forward()
            b = time.monotonic()
            time.sleep(0.3)
            sampler.stop.set()
        sampler.join()
        entry = {
            "migration": name,
            "atomic": False,
            "forward_s": b - a,
            "backward_s": 0.0,
            "statements": [],
            "locks": {k: sorted(v) for k, v in sampler.modes.items()},
            "waits_ms": probes.waits(a, b),
            "error": None,
        }
        out.append(entry)
        print(
            f"  variants: {name}: {b - a:.1f}s; locks {entry['locks']}; waits {entry['waits_ms']}",
            file=sys.stderr,
        )

    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('loop_team_risk', 'loop_team_breached', 'loop_assignee_closed', 'loop_team_closed')"
        )
        defs = dict(cur.fetchall())
    online = {k: v.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1) for k, v in defs.items()}
    m5 = importlib.import_module("lastmile.loops.migrations.0005_loop_at_risk_at")

    def loops_0005() -> None:
        run("ALTER TABLE loops_loop ADD COLUMN at_risk_at timestamp with time zone NULL")
        Loop = apps.get_model("loops", "Loop")
        last = 0
        while True:
            with transaction.atomic():
                rows = list(
                    Loop.objects.filter(state="open", due_at__isnull=False, pk__gt=last)
                    .order_by("pk")
                    .values_list("pk", "opened_at", "due_at", "escalation_level", "breached_at")[
                        :10_000
                    ]
                )
                if not rows:
                    break
                params = [
                    (m5._at_risk_at(o, d, lv > 0 or br is not None), pk)
                    for pk, o, d, lv, br in rows
                ]
                with connection.cursor() as cur:
                    cur.executemany("UPDATE loops_loop SET at_risk_at = %s WHERE id = %s", params)
                last = rows[-1][0]
        for name in ("loop_team_risk", "loop_team_breached"):
            run(online[name])

    measured(
        "loops.0005_loop_at_risk_at, batched (a variant: not the migration as written)",
        [
            "DROP INDEX IF EXISTS loop_team_risk",
            "DROP INDEX IF EXISTS loop_team_breached",
            "ALTER TABLE loops_loop DROP COLUMN at_risk_at",
        ],
        loops_0005,
    )

    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'loop_team_own'"
        )
        check = cur.fetchone()[0]

    def loops_0006() -> None:
        run(f"ALTER TABLE loops_loop ADD CONSTRAINT loop_team_own {check} NOT VALID")
        run("ALTER TABLE loops_loop VALIDATE CONSTRAINT loop_team_own")
        for name in ("loop_assignee_closed", "loop_team_closed"):
            run(online[name])

    measured(
        "loops.0006_team_own_kinds_closed_indexes, NOT VALID + VALIDATE, indexes CONCURRENTLY "
        "(a variant)",
        [
            "ALTER TABLE loops_loop DROP CONSTRAINT loop_team_own",
            "DROP INDEX IF EXISTS loop_assignee_closed",
            "DROP INDEX IF EXISTS loop_team_closed",
        ],
        loops_0006,
    )
    return {"variants": out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["partition", "migrations", "variants"])
    ap.add_argument("--busy", type=int, default=100)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", default="", help="migrations: apps or app.migration, comma-separated")
    args = ap.parse_args()
    assert os.environ.get("LASTMILE_DATABASE_URL"), "run by bench/scale.py"
    if args.command == "partition":
        result = partition(args)
    else:
        import django

        django.setup()
        result = migrations(args) if args.command == "migrations" else variants(args)
    args.out.write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    sys.exit(main())
