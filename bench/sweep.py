"""Sweeper: one ``loops_sweep`` over many open loops of which some are due, and its floor.

Run by ``run.py`` as a child process with the bench database in its environment, because
the sweep runs in-process (``django.setup()``), the way the huey task runs it::

    python bench/sweep.py --vendor sqlite --var-dir DIR --loops N --due D --customers C \
        --calendar business|24/7 --out FILE

``--calendar business`` (the headline figure): the organisation of ``org.py`` — 50 teams in
10 time zones with their holidays, 200 SLA policies — at Wednesday 27 May 2026 13:00 UTC, two
days after a bank holiday in Britain, Germany and the US and on a holiday in India and
Singapore; at that instant half the zones are open. Each loop belongs to one of the 200
policies (its team, its channel) with that policy's resolution time, ladder and calendar.

``--calendar 24/7`` (the earlier workload, kept for comparison): one team with a lead and an
agent, one 24/7 policy of 4 hours with the ladder 75 % notify owner / 100 % breach / 150 %
reassign to the lead, at Monday 2 March 2026 12:00 UTC.

Either way the loops are bulk-loaded into ``loops_loop`` with the columns
``loops.services.loop_schedule`` computes: ``due_at`` at 100 % of the SLA in business time
from ``clock_started_at`` and ``next_check_at`` at the rung for ``escalation_level``; a
sample of the loaded rows is checked against ``loop_schedule`` itself. Due loops (one in
``N / D``, spread over the table) sit on some rung of their ladder with that rung passed
less than an hour of business time ago and the next rung still ahead, so one sweep takes
each exactly one rung up; the rest have their first rung ahead of them.
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

NOW_247 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW_BUSINESS = datetime(2026, 5, 27, 13, 0, tzinfo=UTC)
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
    "at_risk_at",
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
    from lastmile.loops.services import at_risk_from

    every = loops // due
    sla = timedelta(seconds=SLA_SECONDS)
    for i in range(loops):
        spread = (i * 7919) % 3600
        if i % every == 0 and i // every < due:
            level = (i // every) % 3
            next_check = NOW_247 - timedelta(seconds=spread)
        else:
            level = 0
            next_check = NOW_247 + timedelta(seconds=1 + (i * 7919) % 10800)
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
            ts(db, at_risk_from(opened_at=started, due_at=due_at, escalated=level > 0)),
        )


class BusinessSchedule:
    """Loop columns under a policy's calendar, worked back from the sweep's ``now``.

    ``started(zone, elapsed)`` is the instant with exactly ``elapsed`` seconds of open time
    between it and ``now``; from it the rung and due times come from ``add_business_time``,
    as ``loop_schedule`` computes them. Loops share few distinct (zone, elapsed, SLA, rung)
    combinations, so each is worked out once.
    """

    def __init__(self, org: Any, now: datetime) -> None:
        from lastmile.loops.business_time import open_intervals

        self.now = now
        self.calendars = org.calendars
        # Open intervals of the last 90 days, newest first (the longest SLA here, 200 % of
        # 40 business hours, spans three weeks even across holidays).
        self.open = [
            list(reversed(list(open_intervals(cal, now - timedelta(days=90), now))))
            for cal in org.calendars
        ]
        self.cache: dict[tuple[int, int, int, int], tuple[datetime, datetime, datetime]] = {}

    def started(self, zone: int, elapsed: int) -> datetime:
        remaining = timedelta(seconds=elapsed)
        for a, b in self.open[zone]:
            if remaining <= b - a:
                return b - remaining
            remaining -= b - a
        raise RuntimeError(f"no {elapsed} s of open time in 90 days before {self.now}")

    def columns(
        self, zone: int, elapsed: int, sla: int, at: int
    ) -> tuple[datetime, datetime, datetime]:
        """(clock_started_at, due_at, next_check_at at ``at`` % of the SLA)."""
        key = (zone, elapsed, sla, at)
        hit = self.cache.get(key)
        if hit is None:
            from lastmile.loops.business_time import add_business_time

            cal = self.calendars[zone]
            start = self.started(zone, elapsed)
            hit = (
                start,
                add_business_time(start, timedelta(seconds=sla), cal),
                add_business_time(start, timedelta(seconds=round(sla * at / 100)), cal),
            )
            self.cache[key] = hit
        return hit


def loop_rows_business(
    db: Database, *, loops: int, due: int, customers: int, org: Any, now: datetime
) -> Any:
    """Loops over the organisation's 200 policies; one in ``loops / due`` is due now.

    A due loop sits on rung ``level`` of its policy's ladder, passed 1 to 59 minutes of
    business time ago and less than the distance to the next rung; the others sit before
    their first rung, 1 minute to the whole of it still to go, in business time.
    """
    from lastmile.loops.services import at_risk_from

    every = loops // due
    schedule = BusinessSchedule(org, now)
    for i in range(loops):
        policy = org.policies[(i * 7) % len(org.policies)]
        sla = policy.resolution_seconds
        ladder = policy.ladder
        spread = i * 7919
        if i % every == 0 and i // every < due:
            level = (i // every) % len(ladder)
            reached = sla * ladder[level]["at"] // 100
            ahead = (
                sla * (ladder[level + 1]["at"] - ladder[level]["at"]) // 100
                if level + 1 < len(ladder)
                else 3600
            )
            elapsed = reached + 60 * (1 + spread % (min(60, ahead // 60) - 1))
        else:
            level = 0
            first = sla * ladder[0]["at"] // 100
            elapsed = first - 60 * (1 + spread % (first // 60 - 1))
        started, due_at, next_check = schedule.columns(
            policy.zone, elapsed, sla, ladder[level]["at"]
        )
        reached_breach = any(r["action"] == "breach" for r in ladder[:level])
        yield (
            i + 1,
            "task",
            f"Enable online access for account {i}",
            "open",
            boolean(db, False),
            policy.channel,
            ts(db, started),
            None,
            "resolution",
            sla,
            boolean(db, False),
            ts(db, started),
            0,
            None,
            0,
            "",
            ts(db, due_at),
            level,
            ts(db, next_check),
            ts(db, due_at) if reached_breach else None,
            org.agents[policy.team],
            None,
            i % customers + 1,
            None,
            org.teams[policy.team],
            policy.pk,
            ts(db, at_risk_from(opened_at=started, due_at=due_at, escalated=level > 0)),
        )


def schedule_check(db: Database, *, loops: int, sample: int = 500) -> int:
    """Loaded rows agree with ``loop_schedule`` (due_at, next_check_at, at_risk_at) on a
    spread sample."""
    from lastmile.loops.models import Loop
    from lastmile.loops.services import loop_schedule

    ids = list(range(1, loops + 1, max(1, loops // sample)))
    checked = 0
    for loop in Loop.objects.filter(pk__in=ids).select_related("sla_policy__business_hours"):
        stored = (loop.due_at, loop.next_check_at, loop.at_risk_at)
        loop_schedule(loop)
        if (loop.due_at, loop.next_check_at, loop.at_risk_at) != stored:
            raise SystemExit(
                f"loop {loop.pk}: loaded due_at, next_check_at, at_risk_at = {stored}, "
                f"loop_schedule computes {(loop.due_at, loop.next_check_at, loop.at_risk_at)}"
            )
        checked += 1
    return checked


def customers_ensure(db: Database, customers: int) -> None:
    """Customers 1..C for the loops to belong to (a fresh database has none)."""
    conn = db.connect()
    try:
        have = int(conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0])
    finally:
        conn.close()
    if have >= customers:
        return
    if have:
        raise SystemExit(f"found {have} customers, fewer than the {customers} the loops name")
    created = ts(db, NOW_BUSINESS - timedelta(days=365))
    rows = ((k, "", "", "{}", created, None) for k in range(1, customers + 1))
    bulk_insert(
        db,
        "customers_customer",
        ["id", "display_name", "timezone", "attributes", "created_at", "merged_into_id"],
        rows,
    )


FLOOR_SQL = "SELECT id FROM loops_loop WHERE state = 'open' AND next_check_at <= {p}"


def floor(db: Database, now: datetime, runs: int = 3) -> dict[str, Any]:
    """The bare indexed SELECT of the due rows (best of ``runs``) and its plan."""
    conn = db.connect()
    p = "?" if db.vendor == "sqlite" else "%s"
    sql = FLOOR_SQL.format(p=p)
    at = ts(db, now)
    times, count = [], 0
    try:
        for _ in range(runs):
            t = time.perf_counter()
            count = len(conn.execute(sql, (at,)).fetchall())
            times.append(time.perf_counter() - t)
        if db.vendor == "sqlite":
            plan = "; ".join(
                r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, (at,)).fetchall()
            )
        else:
            lines = [r[0] for r in conn.execute("EXPLAIN " + sql, (at,)).fetchall()]
            plan = "; ".join(
                re.sub(r"\s+\(cost=[^)]*\)", "", line).replace("->", "").strip()
                for line in lines
                if "Scan" in line
            )
    finally:
        conn.close()
    return {"s": min(times), "first_s": times[0], "rows": count, "plan": plan}


def snapshot(db: Database, now: datetime) -> dict[str, int]:
    conn = db.connect()
    p = "?" if db.vendor == "sqlite" else "%s"
    try:

        def one(sql: str, *params: Any) -> int:
            return int(conn.execute(sql, params).fetchone()[0] or 0)

        return {
            "due": one(FLOOR_SQL.format(p=p).replace("SELECT id", "SELECT count(*)"), ts(db, now)),
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
    ap.add_argument(
        "--calendar",
        choices=["business", "24/7"],
        default="business",
        help="business: 50 teams, 200 policies on business hours (the headline); "
        "24/7: one team, one 24/7 policy (the earlier workload)",
    )
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

    customers_ensure(db, args.customers)
    if args.calendar == "business":
        from org import organisation_create

        now = NOW_BUSINESS
        t = time.perf_counter()
        org = organisation_create(now=now - timedelta(days=120))
        setup = org.describe()
        say(f"  sweep: made {setup} ({time.perf_counter() - t:.1f}s)")
        rows = loop_rows_business(
            db, loops=args.loops, due=args.due, customers=args.customers, org=org, now=now
        )
    else:
        now = NOW_247
        owners = setup_owners()
        setup = (
            "one team with a lead and an agent; one 24/7 SLA policy of 4 hours, ladder "
            "75% notify owner/100% breach/150% reassign to lead"
        )
        rows = loop_rows(
            db, loops=args.loops, due=args.due, customers=args.customers, owners=owners
        )
    bulk_insert(db, "loops_loop", LOOP_COLUMNS, rows)
    checked = schedule_check(db, loops=args.loops)
    before = snapshot(db, now)
    say(
        f"  sweep: {args.loops:,} open loops, {before['due']:,} due at {now:%Y-%m-%d %H:%M} UTC; "
        f"{checked} sampled rows agree with loop_schedule"
    )
    if before["due"] != args.due:
        raise SystemExit(f"expected {args.due} due loops, found {before['due']}")

    fl = floor(db, now)
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
    first = loops_sweep(now=now)
    sweep_s = time.perf_counter() - t
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    after = snapshot(db, now)
    say(
        f"  sweep: {sweep_s:.2f}s for {first.loops:,} loops, {first.rungs:,} rungs, {first.breached:,} breached, "
        f"{first.notifications:,} notifications, {first.batches} batches ({first.actions})"
    )

    changed = {k: after[k] - before[k] for k in ("level_sum", "events", "outbox", "breached")}
    second = loops_sweep(now=now)
    again = snapshot(db, now)
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
                "calendar": args.calendar,
                "now": now.isoformat(),
                "setup": setup,
                "schedule_checked": checked,
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
