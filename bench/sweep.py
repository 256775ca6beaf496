"""Sweeper: one ``loops_sweep`` over many open loops of which some are due, and its floor.

Run by ``run.py`` as a child process with the bench database in its environment, because
the sweep runs in-process (``django.setup()``), the way the huey task runs it::

    python bench/sweep.py --vendor sqlite --var-dir DIR --loops N --due D --customers C --out FILE

The loops are bulk-loaded into ``loops_loop`` under a 24/7 SLA policy (4 hours, ladder
75 % notify owner / 100 % breach / 150 % reassign to the lead) with the values
``loops.services._schedule`` computes: ``due_at = clock_started_at + sla``, and
``next_check_at`` at the rung for ``escalation_level``. Due loops (one in ``N / D``,
spread over the table) sit at level 0, 1 or 2 with that rung passed within the last hour,
so one sweep takes each exactly one rung up; the rest are due in the next three hours.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import Database, say
from load import boolean, bulk_insert, ts

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SLA_SECONDS = 4 * 3600
LADDER = [
    {"at": 75, "action": "notify_owner"},
    {"at": 100, "action": "breach"},
    {"at": 150, "action": "reassign_to_lead"},
]
LOOP_COLUMNS = [
    "id",
    "kind",
    "title",
    "state",
    "visible_to_customer",
    "channel",
    "opened_at",
    "closed_at",
    "sla_target",
    "sla_seconds",
    "due_at_fixed",
    "clock_started_at",
    "consumed_seconds",
    "paused_at",
    "paused_seconds",
    "pause_reason",
    "due_at",
    "escalation_level",
    "next_check_at",
    "breached_at",
    "assignee_id",
    "case_id",
    "customer_id",
    "opened_by_id",
    "team_id",
    "sla_policy_id",
]


def setup_owners() -> dict[str, int]:
    """A team with a lead and an agent (with emails, so every rung queues a notification)."""
    from lastmile.loops.models import SlaPolicy
    from lastmile.people.models import Team
    from lastmile.people.services import agent_create, team_ensure

    team = team_ensure(
        name="Bench back office", slug="bench-back-office", email="backoffice@bench.example"
    )
    lead = agent_create(
        username="bench-lead",
        password="bench-lead-pw",
        teams=[team],
        role="lead",
        email="lead@bench.example",
    )
    agent = agent_create(
        username="bench-agent",
        password="bench-agent-pw",
        teams=[team],
        role="agent",
        email="agent@bench.example",
    )
    Team.objects.filter(pk=team.pk).update(lead=lead.user)
    policy = SlaPolicy.objects.create(
        name="Bench tasks, 24/7",
        position=1,
        kind="task",
        resolution_minutes=SLA_SECONDS // 60,
        escalation=LADDER,
        business_hours=None,
    )
    return {"team": team.pk, "lead": lead.user.pk, "agent": agent.user.pk, "policy": policy.pk}


def loop_rows(db: Database, *, loops: int, due: int, customers: int, owners: dict[str, int]) -> Any:
    every = loops // due
    sla = timedelta(seconds=SLA_SECONDS)
    for i in range(loops):
        spread = (i * 7919) % 3600
        if i % every == 0 and i // every < due:
            level = (i // every) % 3
            next_check = NOW - timedelta(seconds=spread)
        else:
            level = 0
            next_check = NOW + timedelta(seconds=1 + (i * 7919) % 10800)
        started = next_check - sla * LADDER[level]["at"] / 100
        due_at = started + sla
        breached = ts(db, due_at) if level >= 2 else None
        yield (
            i + 1,
            "task",
            f"Enable online access for account {i}",
            "open",
            boolean(db, False),
            "email",
            ts(db, started),
            None,
            "resolution",
            SLA_SECONDS,
            boolean(db, False),
            ts(db, started),
            0,
            None,
            0,
            "",
            ts(db, due_at),
            level,
            ts(db, next_check),
            breached,
            owners["agent"],
            None,
            i % customers + 1,
            None,
            owners["team"],
            owners["policy"],
        )


FLOOR_SQL = "SELECT id FROM loops_loop WHERE state = 'open' AND next_check_at <= {p}"


def floor(db: Database, runs: int = 3) -> dict[str, Any]:
    """The bare indexed SELECT of the due rows (best of ``runs``) and its plan."""
    conn = db.connect()
    p = "?" if db.vendor == "sqlite" else "%s"
    sql = FLOOR_SQL.format(p=p)
    now = ts(db, NOW)
    times, count = [], 0
    try:
        for _ in range(runs):
            t = time.perf_counter()
            count = len(conn.execute(sql, (now,)).fetchall())
            times.append(time.perf_counter() - t)
        if db.vendor == "sqlite":
            plan = "; ".join(
                r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, (now,)).fetchall()
            )
        else:
            lines = [r[0] for r in conn.execute("EXPLAIN " + sql, (now,)).fetchall()]
            plan = "; ".join(
                re.sub(r"\s+\(cost=[^)]*\)", "", line).replace("->", "").strip()
                for line in lines
                if "Scan" in line
            )
    finally:
        conn.close()
    return {"s": min(times), "first_s": times[0], "rows": count, "plan": plan}


def snapshot(db: Database) -> dict[str, int]:
    conn = db.connect()
    p = "?" if db.vendor == "sqlite" else "%s"
    try:

        def one(sql: str, *params: Any) -> int:
            return int(conn.execute(sql, params).fetchone()[0] or 0)

        return {
            "due": one(FLOOR_SQL.format(p=p).replace("SELECT id", "SELECT count(*)"), ts(db, NOW)),
            "level_sum": one("SELECT sum(escalation_level) FROM loops_loop"),
            "events": one("SELECT count(*) FROM loops_loopevent"),
            "outbox": one("SELECT count(*) FROM channels_outboxmessage"),
            "breached": one("SELECT count(*) FROM loops_loop WHERE breached_at IS NOT NULL"),
        }
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vendor", required=True, choices=["sqlite", "postgresql"])
    ap.add_argument("--var-dir", required=True, type=Path)
    ap.add_argument("--loops", required=True, type=int)
    ap.add_argument("--due", required=True, type=int)
    ap.add_argument("--customers", required=True, type=int)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--profile", type=Path, help="write a cProfile of the sweep here")
    args = ap.parse_args()

    db = Database(vendor=args.vendor, var_dir=args.var_dir)
    if db.vendor == "sqlite":
        db.sqlite_path = args.var_dir / "lastmile.sqlite3"
    assert os.environ.get("LASTMILE_DATABASE_URL") == db.url, (
        "run by run.py, with the bench database's env"
    )

    import django

    django.setup()
    from django.db import connection

    import lastmile.channels.services  # noqa: F401  (imported by the sweep on first use;
    import lastmile.channels.tasks  # noqa: F401   a running worker has them already)
    from lastmile.loops.services import loops_sweep

    owners = setup_owners()
    bulk_insert(
        db,
        "loops_loop",
        LOOP_COLUMNS,
        loop_rows(db, loops=args.loops, due=args.due, customers=args.customers, owners=owners),
    )
    before = snapshot(db)
    say(f"  sweep: {args.loops:,} open loops, {before['due']:,} due at {NOW:%Y-%m-%d %H:%M} UTC")
    if before["due"] != args.due:
        raise SystemExit(f"expected {args.due} due loops, found {before['due']}")

    fl = floor(db)
    say(
        f"  sweep floor (bare SELECT of the due ids, best of 3): {fl['s'] * 1000:.1f} ms "
        f"({fl['rows']:,} rows); plan: {fl['plan']}"
    )

    connection.ensure_connection()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t = time.perf_counter()
    first = loops_sweep(now=NOW)
    sweep_s = time.perf_counter() - t
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    after = snapshot(db)
    say(
        f"  sweep: {sweep_s:.2f}s for {first.loops:,} loops, {first.rungs:,} rungs, {first.breached:,} breached, "
        f"{first.notifications:,} notifications, {first.batches} batches ({first.actions})"
    )

    changed = {k: after[k] - before[k] for k in ("level_sum", "events", "outbox", "breached")}
    second = loops_sweep(now=NOW)
    again = snapshot(db)
    say(
        f"  sweep verified: {first.loops:,} loops changed (levels +{changed['level_sum']:,}, events "
        f"+{changed['events']:,}, outbox +{changed['outbox']:,}); due after it: {after['due']}; second sweep: "
        f"{second.loops} loops, {second.rungs} rungs, {'nothing changed' if again == after else 'CHANGED ROWS'}"
    )
    ok = (
        first.loops == args.due
        and first.rungs == args.due
        and changed["level_sum"] == args.due
        and changed["events"] == args.due
        and after["due"] == 0
        and second.loops == 0
        and second.rungs == 0
        and again == after
    )
    if not ok:
        raise SystemExit(
            f"sweep check failed: first={first}, second={second}, before={before}, after={after}, again={again}"
        )

    args.out.write_text(
        json.dumps(
            {
                "sweep_s": sweep_s,
                "floor_s": fl["s"],
                "floor_first_s": fl["first_s"],
                "floor_plan": fl["plan"],
                "loops": args.loops,
                "due": args.due,
                "first": {
                    "loops": first.loops,
                    "rungs": first.rungs,
                    "breached": first.breached,
                    "notifications": first.notifications,
                    "batches": first.batches,
                    "actions": first.actions,
                },
                "second": {"loops": second.loops, "rungs": second.rungs},
                "changed": changed,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
