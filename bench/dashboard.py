"""The CCO dashboard at scale: ``/scorecards/dashboard/`` over 1,000,000 loops and 10,000,000
interactions, read from the rollups the worker keeps, beside the bare aggregate they replace.

    python bench/dashboard.py [--loops N] [--interactions N] [--requests N]
                              [--vendor sqlite|postgresql|both] [--no-write]

On each database engine (both by default; PostgreSQL is skipped with the reason when it does
not answer), on a fresh, migrated database (PostgreSQL: its own database
``lm_bench_dashboard``):

1. Setup, through the services in a child process (not timed): 20 teams, 500 agents (25 a
   team), each team's lead, an admin, a CSAT and an NPS survey, a watch term and a delivery
   slot per team.
2. Build (timed, reported): the bench data written **raw** into lastmile's own tables, not
   through the services — this is bench data, not product writes (``bench/load.py``: sqlite3
   ``executemany`` / psycopg ``COPY``, secondary indexes dropped and rebuilt, FTS rebuilt,
   PostgreSQL tables analysed): 100,000 customers; ``loops / 2`` cases over 16 weeks up to
   now, each with two loops (a reply loop due 4 hours after it opened and a task or promise
   due a day after) and ``interactions / cases`` messages (inbound and outbound in turn, the
   inbound ones with a sentiment score); loop states: about 3 % open (most of the last three
   days), 2 % broken, 2 % cancelled, the rest closed, on time at each team's own rate, which
   drifts over the weeks; a breach on every loop finished or still open past its deadline.
   Also promises (one in 10 cases: kept, broken or open), survey invites and answers (CSAT
   and NPS, one in 5 cases), deliveries (jobs) for 4 teams, and alerts (resolved but one a
   term) so every figure of the rollups has data.
3. Rollups, in a child process with ``django.setup()`` as the worker runs them:
   ``rollups_rebuild(weeks=13)`` and then ``rollups_refresh`` (the worker's run every
   ``LASTMILE_ROLLUP_MINUTES``: the week in progress and the one before). How fresh the
   dashboard is: at worst the refresh interval plus one refresh's duration. In the same
   child the **bare aggregate** the rollups replace, taking turns with a repeat of the
   refresh: one plain SQL ``GROUP BY team, week`` over the loops that finished in the 13
   weeks (the closed / on-time / breached counts), median of 3. And the page rendered once
   in-process (Django's test client) as the admin and as the lead with
   ``CaptureQueriesContext``: how many queries a request sends.
4. The page over real HTTP: ``lastmile serve`` as shipped, signed in through the login form,
   as the admin (every team) and as a lead (one team): 5 warm-up then ``--requests``
   sequential keep-alive ``GET /scorecards/dashboard/`` each, every answer checked (200 and
   the teams' names); p50 / p99 (nearest rank). Figures: page p99 against the 300 ms target
   and page p99 / bare aggregate.

Prints one JSON object (SQLite figures unsuffixed, PostgreSQL ``_pg``, as ``bench/run.py``
does) and rewrites the results block of ``bench/DASHBOARD.md``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import load  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    Database,
    fresh_database,
    lastmile_serve,
    page_block_write,
    percentile,
    say,
)
from console import login  # noqa: E402
from sweep import LOOP_COLUMNS  # noqa: E402

# Its own scratch directory and database (never the main bench's); another name lets a
# second run go beside it (LASTMILE_BENCH_DASHBOARD_NAME).
NAME = os.environ.get("LASTMILE_BENCH_DASHBOARD_NAME", "dashboard")
PG_DB = f"lm_bench_{NAME}"
PAGE = BENCH_DIR / "DASHBOARD.md"
BEGIN, END = "<!-- results: written by bench/dashboard.py -->", "<!-- /results -->"
TARGET_MS = 300
TEAMS = 20
AGENTS_PER_TEAM = 25
CUSTOMERS = 100_000
WEEKS = 16  # of data; the dashboard shows 13
WARMUP = 5
PASSWORD = "bench-dashboard-1"
URL = "/scorecards/dashboard/"
MIN = 60


# --- the child processes (Django) ---------------------------------------------------------


def setup(out: Path) -> None:
    """Teams, agents, leads, an admin, surveys, watch terms and slots; their ids."""
    import django

    django.setup()
    from django.test import override_settings

    from lastmile.feedback.services import survey_create
    from lastmile.jobs.services import slot_create
    from lastmile.listening.models import WatchTerm
    from lastmile.people.models import Role
    from lastmile.people.services import agent_create, team_ensure, team_set_lead

    now = datetime.now(UTC).replace(microsecond=0)
    teams = [
        team_ensure(name=f"Bench team {t:02d}", slug=f"bench-{t:02d}", email=f"t{t}@bench.example")
        for t in range(TEAMS)
    ]
    admin = agent_create(
        username="bench-admin", password=PASSWORD, teams=teams, role=Role.ADMIN
    ).user
    lead = None
    for t, team in enumerate(teams):
        user = agent_create(
            username=f"bench-lead-{t:02d}",
            password=PASSWORD,
            teams=[team],
            role=Role.LEAD,
            email=f"lead{t}@bench.example",
        ).user
        team_set_lead(team=team, lead=user)
        lead = lead or user
    agents: dict[int, list[int]] = {}
    # Agents never sign in here: a quick hash (the admin's and the leads' are the real one).
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        for t, team in enumerate(teams):
            agents[team.pk] = [
                agent_create(
                    username=f"bench-agent-{t:02d}-{a:02d}", password=PASSWORD, teams=[team]
                ).user.pk
                for a in range(AGENTS_PER_TEAM)
            ]
    surveys = {
        kind: survey_create(
            actor=None,
            now=now - timedelta(weeks=WEEKS + 1),
            name=f"Bench {kind.upper()}",
            kind=kind,
            channel="link",
            team=teams[0],
        ).pk
        for kind in ("csat", "nps")
    }
    terms = [
        WatchTerm.objects.create(
            name=f"bench term {t:02d}",
            query=f"benchbrand{t}",
            kind="brand",
            team=team,
            created_at=now - timedelta(weeks=WEEKS + 1),
        ).pk
        for t, team in enumerate(teams)
    ]
    day = (now - timedelta(weeks=WEEKS + 1)).replace(hour=8, minute=0, second=0)
    slots = {
        team.pk: slot_create(
            team=team, starts_at=day, ends_at=day + timedelta(hours=2), capacity=100_000
        ).pk
        for team in teams[:4]
    }
    out.write_text(
        json.dumps(
            {
                "teams": [t.pk for t in teams],
                "team_names": [t.name for t in teams],
                "agents": {str(k): v for k, v in agents.items()},
                "admin": admin.username,
                "admin_id": admin.pk,
                "lead": lead.username if lead else "",
                "lead_team": teams[0].name,
                "surveys": surveys,
                "terms": terms,
                "slots": {str(k): v for k, v in slots.items()},
            }
        )
    )


BARE = {
    "sqlite": (
        "SELECT team_id, date(closed_at, 'weekday 0', '-6 days') AS week, COUNT(*), "
        "SUM(breached_at IS NOT NULL), SUM(state = 'closed'), "
        "SUM(state = 'closed' AND due_at IS NOT NULL), "
        "SUM(state = 'closed' AND due_at IS NOT NULL AND closed_at <= due_at) "
        "FROM loops_loop WHERE team_id IS NOT NULL AND closed_at >= %s AND closed_at < %s "
        "AND kind NOT IN ('ack', 'coaching', 'dispute') "
        "GROUP BY team_id, week"
    ),
    "postgresql": (
        "SELECT team_id, date_trunc('week', closed_at AT TIME ZONE 'UTC') AS week, COUNT(*), "
        "COUNT(*) FILTER (WHERE breached_at IS NOT NULL), "
        "COUNT(*) FILTER (WHERE state = 'closed'), "
        "COUNT(*) FILTER (WHERE state = 'closed' AND due_at IS NOT NULL), "
        "COUNT(*) FILTER (WHERE state = 'closed' AND due_at IS NOT NULL AND closed_at <= due_at) "
        "FROM loops_loop WHERE team_id IS NOT NULL AND closed_at >= %s AND closed_at < %s "
        "AND kind NOT IN ('ack', 'coaching', 'dispute') "
        "GROUP BY team_id, week"
    ),
}


def rollups_child(admin: str, lead: str, runs: int, out: Path) -> None:
    """The worker's rollups (rebuild, refresh), the bare aggregate in turn with a refresh, and
    the page's queries in-process."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from lastmile.scorecards.models import TeamWeekRollup
    from lastmile.scorecards.rollups import (
        rollup_minutes,
        rollups_rebuild,
        rollups_refresh,
        week_start,
        weeks_back,
    )

    now = datetime.now(UTC)
    t = time.perf_counter()
    rows = rollups_rebuild(weeks=13, now=now)
    rebuild_s = time.perf_counter() - t
    shown = weeks_back(now, 13)
    start, end = week_start(shown[0]), now
    sql = BARE[connection.vendor]

    def bare() -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute(sql, [start, end])
            return cursor.fetchall()

    bare()  # one untimed run each: caches warm as the page's would be
    t = time.perf_counter()
    rollups_refresh(now=datetime.now(UTC))
    first_refresh_s = time.perf_counter() - t
    times: dict[str, list[float]] = {"refresh": [first_refresh_s], "bare": []}
    for _ in range(runs):
        t = time.perf_counter()
        groups = bare()
        times["bare"].append(time.perf_counter() - t)
        t = time.perf_counter()
        rollups_refresh(now=datetime.now(UTC))
        times["refresh"].append(time.perf_counter() - t)
    # The bare aggregate's counts equal the rollups' (same loops, same weeks; the week in
    # progress as of the last refresh).
    finished = sum(int(g[2]) for g in groups)
    rolled = sum(r.loops_finished for r in TeamWeekRollup.objects.filter(week__gte=shown[0]))
    plans = []
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, [start, end])
        plan = [str(r[-1]) if connection.vendor == "sqlite" else str(r[0]) for r in cursor]
        plans.append({"sql": sql, "plan": plan})
    # The page in-process: its queries, and its time without HTTP.
    User = get_user_model()
    pages: dict[str, Any] = {}
    for who in (admin, lead):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(username=who))
        client.get(URL)
        with CaptureQueriesContext(connection) as captured:
            t = time.perf_counter()
            r = client.get(URL)
            ms = (time.perf_counter() - t) * 1000
        pages[who] = {
            "status": r.status_code,
            "queries": len(captured.captured_queries),
            "in_process_ms": ms,
            "bytes": len(r.content),
            "sql": [q["sql"][:300] for q in captured.captured_queries],
        }
    result = json.dumps(
        {
            "rows": rows,
            "rebuild_s": rebuild_s,
            "refresh_s": statistics.median(times["refresh"]),
            "refresh_max_s": max(times["refresh"]),
            "bare_s": statistics.median(times["bare"]),
            "bare_groups": len(groups),
            "bare_finished": finished,
            "rollup_finished": rolled,
            "minutes": rollup_minutes(),
            "runs": runs,
            "plans": plans,
            "pages": pages,
        }
    )
    out.write_text(result)
    # Kept beside the run's other scratch files too (the var dir goes at the end of a run).
    (common.WORK / f"{NAME}-rollups-{connection.vendor}.json").write_text(result)


def child(db: Database, *args: str) -> dict[str, Any]:
    return common.child_json(db, __file__, *args)


# --- the build: bench data written raw ----------------------------------------------------


class Clock:
    """Minute stamps over the data's weeks, formatted once each (a million rows share them)."""

    def __init__(self, db: Database, now: datetime) -> None:
        self.now = now.replace(second=0, microsecond=0)
        self.start = self.now - timedelta(weeks=WEEKS)
        self.minutes = WEEKS * 7 * 24 * 60
        base = self.start
        self.stamps = [load.ts(db, base + timedelta(minutes=m)) for m in range(self.minutes + 1)]

    def at(self, minute: int) -> Any:
        return self.stamps[min(max(minute, 0), self.minutes)]


def _team_rate(t: int, week: int) -> float:
    """A team's share of loops finished on time in a week: its own level, drifting."""
    level = 0.72 + 0.2 * ((t * 37) % 11) / 10
    drift = (0.012 if t % 3 == 0 else -0.01 if t % 3 == 1 else 0.0) * (week - WEEKS / 2)
    return max(0.3, min(0.98, level + drift))


def build(db: Database, made: dict[str, Any], *, loops: int, interactions: int) -> dict[str, Any]:
    """Every bench row, raw (``load.bulk_insert``); the rows per table and the time taken."""
    t0 = time.perf_counter()
    clock = Clock(db, datetime.now(UTC))
    teams: list[int] = made["teams"]
    agents = {int(k): v for k, v in made["agents"].items()}
    cases = loops // 2
    per_case = max(1, interactions // cases)
    now_min = clock.minutes
    B = lambda v: load.boolean(db, v)  # noqa: E731
    counts: dict[str, int] = {}

    def put(table: str, columns: list[str], rows: Any) -> None:
        counts[table] = load.bulk_insert(db, table, columns, rows)

    created = clock.at(0)
    put(
        "customers_customer",
        ["id", "display_name", "timezone", "attributes", "created_at", "merged_into_id"],
        ((k, f"Customer {k}", "", "{}", created, None) for k in range(1, CUSTOMERS + 1)),
    )

    # A case opens at minute ``case_min(c)`` (spread evenly over the weeks, slightly more
    # recent than old), lives a few hours to days.
    def case_min(c: int) -> int:
        return int(now_min * (c / cases) ** 0.9) - (c * 7919) % 30

    def case_team(c: int) -> int:
        return c % TEAMS

    first_case = 1

    def case_rows() -> Any:
        for c in range(cases):
            t = case_team(c)
            m = case_min(c)
            recent = now_min - m < 3 * 24 * 60
            status = "open" if recent and c % 3 else "solved" if c % 5 else "closed"
            yield (
                first_case + c,
                100_000 + c,
                c % CUSTOMERS + 1,
                f"Bench case {c}",
                "",
                status,
                "normal",
                "email",
                teams[t],
                agents[teams[t]][c % AGENTS_PER_TEAM],
                clock.at(m),
                clock.at(min(m + 600, now_min)),
                None if status == "open" else clock.at(min(m + 600, now_min)),
            )

    put(
        "cases_case",
        [
            "id",
            "number",
            "customer_id",
            "subject",
            "customer_title",
            "status",
            "priority",
            "channel",
            "team_id",
            "assignee_id",
            "created_at",
            "updated_at",
            "solved_at",
        ],
        case_rows(),
    )

    def loop_rows() -> Any:
        for i in range(loops):
            c = i // 2
            t = case_team(c)
            opened = case_min(c) + (60 if i % 2 else 0)
            sla = 24 * 60 if i % 2 else 4 * 60
            due = opened + sla
            h = (i * 2654435761) % 1000
            week = opened // (7 * 24 * 60)
            age = now_min - opened
            state, closed = "closed", None
            if (age < 3 * 24 * 60 and h < 600) or h < 10:
                state = "open"
            elif h < 30:
                state = "broken"
            elif h < 50:
                state = "cancelled"
            if state != "open":
                on_time = (h % 100) / 100 < _team_rate(t, week)
                took = (sla * (10 + h % 85)) // 100 if on_time else sla + 30 + (h * 13) % (sla * 2)
                closed = opened + took
                if closed >= now_min:  # would finish after now: still open
                    state, closed = "open", None
            late = (closed if closed is not None else now_min) > due
            kind = "reply" if i % 2 == 0 else ("promise" if c % 10 == 0 else "task")
            yield (
                i + 1,
                kind,
                f"Bench loop {i}",
                state,
                B(False),
                "email",
                clock.at(opened),
                None if closed is None else clock.at(closed),
                "first_reply" if kind == "reply" else "resolution",
                sla * 60,
                B(False),
                clock.at(opened),
                0,
                None,
                0,
                "",
                clock.at(due),
                2 if late else 0,
                clock.at(due) if state == "open" and not late else None,
                clock.at(due) if late else None,
                agents[teams[t]][c % AGENTS_PER_TEAM],
                first_case + c,
                c % CUSTOMERS + 1,
                None,
                teams[t],
                None,
                clock.at(opened + (sla * 3) // 4),
            )

    put(
        "loops_loop",
        LOOP_COLUMNS,  # the loops table's columns, as the sweep bench writes them
        loop_rows(),
    )

    from lastmile.customers.columns import INTERACTION_COLUMNS

    def interaction_rows() -> Any:
        i = 0
        for c in range(cases):
            m0 = case_min(c)
            customer = c % CUSTOMERS + 1
            case = first_case + c
            for j in range(per_case):
                i += 1
                m = min(m0 + j * 37 + (i * 7) % 20, now_min)
                inbound = j % 2 == 0
                score = (((c * 31 + j * 17) % 200) - 100) / 100 if inbound else None
                label = (
                    None
                    if score is None
                    else "positive"
                    if score > 0.3
                    else "negative"
                    if score < -0.3
                    else "neutral"
                )
                row = {
                    "customer_id": customer,
                    "case_id": case,
                    "channel": "email",
                    "direction": "inbound" if inbound else "outbound",
                    "occurred_at": clock.at(m),
                    "recorded_at": clock.at(m),
                    "actor_id": None,
                    "body": "",
                    "data": None,
                    "source_id": None,
                    "sentiment_label": label,
                    "sentiment_score": score,
                }
                yield (i, *(row[k] for k in INTERACTION_COLUMNS))

    put("customers_interaction", ["id", *INTERACTION_COLUMNS], interaction_rows())

    # Promises: one case in ten (its promise loop is the case's second loop).
    def promise_rows() -> Any:
        for c in range(0, cases, 10):
            t = case_team(c)
            m = case_min(c) + 60
            h = (c * 2654435761) % 100
            state = "kept" if h < 80 else "broken" if h < 92 else "open"
            outcome = min(m + 600, now_min) if state != "open" else None
            yield (
                c // 10 + 1,
                c % CUSTOMERS + 1,
                first_case + c,
                "We'll call you back tomorrow",
                "{}",
                "email",
                teams[t],
                agents[teams[t]][c % AGENTS_PER_TEAM],
                "Bench agent",
                teams[t],
                clock.at(m),
                clock.at(m + 24 * 60),
                B(True),
                "console",
                state,
                "[]",
                "",
                None if outcome is None else clock.at(outcome),
                "",
            )

    put(
        "promises_promise",
        [
            "id",
            "customer_id",
            "case_id",
            "text",
            "terms",
            "channel",
            "team_id",
            "made_by_id",
            "made_by_name",
            "made_by_team_id",
            "made_at",
            "due_at",
            "visible_to_customer",
            "recorded_via",
            "state",
            "verdicts",
            "approval_reason",
            "outcome_at",
            "outcome_reason",
        ],
        promise_rows(),
    )

    # Survey invites and answers: one case in five, answered two times in three.
    surveys = made["surveys"]

    def invite_rows() -> Any:
        for k, c in enumerate(range(0, cases, 5)):
            m = case_min(c) + 700
            yield (
                k + 1,
                surveys["nps"] if c % 2 else surveys["csat"],
                c % CUSTOMERS + 1,
                first_case + c,
                "link",
                "answered" if k % 3 else "expired",
                "",
                "",
                f"{k:064x}",
                "en",
                f"case_solved:{first_case + c}",
                clock.at(m),
                clock.at(m + 14 * 24 * 60),
                "none",
                "",
                "",
            )

    put(
        "feedback_invite",
        [
            "id",
            "survey_id",
            "customer_id",
            "case_id",
            "channel",
            "state",
            "rule_check",
            "reason",
            "token_hash",
            "language",
            "key",
            "created_at",
            "expires_at",
            "reminder_state",
            "reminder_check",
            "reminder_reason",
        ],
        invite_rows(),
    )

    def response_rows() -> Any:
        for k, c in enumerate(range(0, cases, 5)):
            if not k % 3:
                continue
            nps = bool(c % 2)
            h = (c * 2654435761) % 100
            score = h % 11 if nps else 1 + h % 5
            if nps:
                band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            else:
                band = "promoter" if score >= 4 else "passive" if score == 3 else "detractor"
            yield (
                k + 1,
                k + 1,
                surveys["nps"] if nps else surveys["csat"],
                score,
                band,
                "",
                "",
                B(band == "detractor"),
                "link",
                clock.at(min(case_min(c) + 800, now_min)),
                "none",
                "",
            )

    put(
        "feedback_response",
        [
            "id",
            "invite_id",
            "survey_id",
            "score",
            "band",
            "comment",
            "sentiment",
            "detractor",
            "source",
            "at",
            "recovery_outcome",
            "recovery_note",
        ],
        response_rows(),
    )

    # Deliveries: the four teams with a slot, one case in 25 of theirs.
    slots = {int(k): v for k, v in made["slots"].items()}

    def job_rows() -> Any:
        k = 0
        for c in range(0, cases, 25):
            team = teams[case_team(c)]
            if team not in slots:
                continue
            k += 1
            start = case_min(c) + 24 * 60
            end = start + 120
            if end >= now_min:  # the window is still to come: the clock's stamps end at now
                continue
            else:
                h = (c * 2654435761) % 100
                state = "completed" if h < 90 else "failed" if h < 95 else "cancelled"
                done = (end - 30 if h < 75 else end + 45) if state == "completed" else None
            yield (
                k,
                "delivery",
                c % CUSTOMERS + 1,
                team,
                agents[team][0],
                first_case + c,
                slots[team],
                "1 Bench Street",
                "",
                clock.at(start),
                clock.at(end),
                state,
                f"{k:032x}",
                f"{k % 10000:04d}",
                "[]",
                "",
                clock.at(start - 24 * 60),
                clock.at(start),
                None if done is None else clock.at(done),
            )

    put(
        "jobs_job",
        [
            "id",
            "kind",
            "customer_id",
            "team_id",
            "assignee_id",
            "case_id",
            "slot_id",
            "address",
            "notes",
            "window_start",
            "window_end",
            "state",
            "tracking_token",
            "pin",
            "required_proofs",
            "fail_reason",
            "created_at",
            "updated_at",
            "completed_at",
        ],
        job_rows(),
    )

    # Alerts: 25 a team's term over the weeks, all resolved but the last.
    def alert_rows() -> Any:
        k = 0
        for t, term in enumerate(made["terms"]):
            for a in range(25):
                k += 1
                m = (now_min * (a + 1)) // 26 + t * 13
                last = a == 24
                yield (
                    k,
                    term,
                    teams[t],
                    "volume",
                    clock.at(m),
                    clock.at(m + 15),
                    40.0 + (k * 7) % 300,
                    12.0,
                    3.0 + (k % 50) / 10,
                    1.0,
                    "{}",
                    "[]",
                    "[]",
                    "open" if last else "resolved",
                    clock.at(m + 15),
                    None if last else clock.at(m + 120),
                )

    put(
        "crisis_alert",
        [
            "id",
            "term_id",
            "team_id",
            "signal",
            "bucket_start",
            "bucket_end",
            "observed",
            "baseline",
            "score",
            "sensitivity",
            "details",
            "top_mentions",
            "top_authors",
            "state",
            "raised_at",
            "resolved_at",
        ],
        alert_rows(),
    )
    return {"counts": counts, "build_s": time.perf_counter() - t0, "per_case": per_case}


# --- the page over HTTP --------------------------------------------------------------------


def page_requests(base: str, who: str, names: list[str], n: int) -> dict[str, Any]:
    session = login(base, who, PASSWORD)
    latencies: list[float] = []
    for k in range(WARMUP + n):
        t = time.perf_counter()
        r = session.get(base + URL, timeout=120)
        dt = time.perf_counter() - t
        if r.status_code != 200:
            raise RuntimeError(f"GET {URL} as {who}: HTTP {r.status_code}")
        missing = [name for name in names if name not in r.text]
        if missing:
            raise RuntimeError(f"GET {URL} as {who}: the page does not name {missing[:3]}")
        if k >= WARMUP:
            latencies.append(dt)
    return {
        "requests": n,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "bytes": len(r.content),
    }


def bench_one(vendor: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"== dashboard: {vendor}")
    db = fresh_database(vendor, NAME)
    try:
        t = time.perf_counter()
        made = child(db, "setup")
        say(f"  dashboard: teams, agents, surveys made ({time.perf_counter() - t:.1f}s, not timed)")
        built = build(db, made, loops=args.loops, interactions=args.interactions)
        say(f"  dashboard: built {built['counts']} in {built['build_s']:.1f}s")
        r = child(db, "rollups", "--admin", made["admin"], "--lead", made["lead"])
        say(
            f"  dashboard: rebuild (13 weeks) {r['rebuild_s']:.1f}s, refresh {r['refresh_s']:.2f}s, "
            f"bare aggregate {r['bare_s'] * 1000:.0f} ms; page queries "
            + ", ".join(f"{k} {v['queries']}" for k, v in r["pages"].items())
        )
        if r["bare_finished"] != r["rollup_finished"]:
            say(
                f"  dashboard: NOTE bare aggregate counted {r['bare_finished']:,} finished loops, "
                f"the rollups {r['rollup_finished']:,}"
            )
        with lastmile_serve(db) as base:
            admin = page_requests(base, made["admin"], made["team_names"], args.requests)
            lead = page_requests(base, made["lead"], [made["lead_team"]], args.requests)
        say(
            f"  dashboard: page as admin p50 {admin['p50_ms']:.0f} ms p99 {admin['p99_ms']:.0f} ms; "
            f"as lead p50 {lead['p50_ms']:.0f} ms p99 {lead['p99_ms']:.0f} ms"
        )
        return {
            "loops": built["counts"].get("loops_loop"),
            "interactions": built["counts"].get("customers_interaction"),
            "counts": built["counts"],
            "build_s": built["build_s"],
            "rebuild_s": r["rebuild_s"],
            "refresh_s": r["refresh_s"],
            "refresh_max_s": r["refresh_max_s"],
            "rollup_rows": r["rows"],
            "minutes": r["minutes"],
            "bare_s": r["bare_s"],
            "bare_groups": r["bare_groups"],
            "bare_finished": r["bare_finished"],
            "rollup_finished": r["rollup_finished"],
            "plans": r["plans"],
            "pages_in_process": {
                k: {kk: vv for kk, vv in v.items() if kk != "sql"} for k, v in r["pages"].items()
            },
            "page_sql": r["pages"].get(made["admin"], {}).get("sql", []),
            "admin": admin,
            "lead": lead,
            "ratio": admin["p99_ms"] / (r["bare_s"] * 1000),
            "lead_ratio": lead["p99_ms"] / (r["bare_s"] * 1000),
        }
    finally:
        if vendor == "postgresql" and not args.keep:
            common.pg_drop()
        if not args.keep:
            shutil.rmtree(db.var_dir, ignore_errors=True)


def figures(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat figures of ``bench/results.json``: SQLite unsuffixed, PostgreSQL ``_pg``."""
    out: dict[str, Any] = {}
    for vendor, r in results.items():
        sfx = "" if vendor == "sqlite" else "_pg"
        out.update(
            {
                f"dashboard_p50_ms{sfx}": round(r["admin"]["p50_ms"], 1),
                f"dashboard_p99_ms{sfx}": round(r["admin"]["p99_ms"], 1),
                f"dashboard_lead_p50_ms{sfx}": round(r["lead"]["p50_ms"], 1),
                f"dashboard_lead_p99_ms{sfx}": round(r["lead"]["p99_ms"], 1),
                f"dashboard_bare_ms{sfx}": round(r["bare_s"] * 1000, 1),
                f"dashboard_ratio{sfx}": round(r["ratio"], 4),
                f"dashboard_rebuild_s{sfx}": round(r["rebuild_s"], 2),
                f"dashboard_refresh_s{sfx}": round(r["refresh_s"], 2),
                f"dashboard_build_s{sfx}": round(r["build_s"], 1),
            }
        )
    return out


def page(results: dict[str, dict[str, Any]], skipped: dict[str, str], args: Any) -> list[str]:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"**{os.cpu_count()} cores** ({platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f} at the end, `lastmile serve` with its defaults; "
        f"{args.requests} requests per user after {WARMUP} warm-up.",
        "",
        "| | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
    ]

    def row(label: str, get: Any) -> None:
        cells = []
        for r in results.values():
            try:
                cells.append(get(r))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("Loops", lambda r: f"{r['loops']:,}")
    row("Interactions", lambda r: f"{r['interactions']:,}")
    row("Build, raw bulk inserts, every table (s)", lambda r: f"{r['build_s']:.0f}")
    row(
        "Dashboard as the admin (20 teams), p50 / p99 (ms)",
        lambda r: (
            f"{r['admin']['p50_ms']:.0f} / **{r['admin']['p99_ms']:.0f}**"
            + (" ✅" if r["admin"]["p99_ms"] <= TARGET_MS else " ❌")
        ),
    )
    row(
        "Dashboard as a lead (1 team), p50 / p99 (ms)",
        lambda r: (
            f"{r['lead']['p50_ms']:.0f} / **{r['lead']['p99_ms']:.0f}**"
            + (" ✅" if r["lead"]["p99_ms"] <= TARGET_MS else " ❌")
        ),
    )
    row("Target: p99 under (ms)", lambda r: f"{TARGET_MS}")
    row(
        "Bare aggregate (GROUP BY team, week over the loops), median (ms)",
        lambda r: f"{r['bare_s'] * 1000:,.0f}",
    )
    row("Admin page p99 ÷ bare aggregate", lambda r: f"{r['ratio']:.3f}")
    row("Lead page p99 ÷ bare aggregate", lambda r: f"{r['lead_ratio']:.3f}")
    row("`rollups_rebuild`, 13 weeks, all teams (s)", lambda r: f"{r['rebuild_s']:.1f}")
    row("`rollups_refresh`, the worker's run (s, median)", lambda r: f"{r['refresh_s']:.2f}")
    row(
        "Rollups at most this old (refresh interval + slowest refresh)",
        lambda r: f"{r['minutes']} min + {r['refresh_max_s']:.0f} s",
    )
    row(
        "Queries per page, admin / lead (in-process)",
        lambda r: " / ".join(str(v["queries"]) for v in r["pages_in_process"].values()),
    )
    row(
        "Page in-process, admin / lead (ms)",
        lambda r: " / ".join(f"{v['in_process_ms']:.0f}" for v in r["pages_in_process"].values()),
    )
    row("Page size, admin (bytes)", lambda r: f"{r['admin']['bytes']:,}")
    row(
        "Finished loops in the 13 weeks: bare aggregate / rollups",
        lambda r: f"{r['bare_finished']:,} / {r['rollup_finished']:,}",
    )
    for vendor, r in results.items():
        lines += [
            "",
            f"Rows built on {vendor}: "
            + ", ".join(f"{k} {v:,}" for k, v in r["counts"].items())
            + ".",
        ]
        lines += ["", f"The bare aggregate and its plan on {vendor}:", ""]
        for q in r.get("plans", []):
            lines += ["```sql", q["sql"], "```", "", "```", *q["plan"], "```"]
        lines += ["", f"The queries the admin's page sends on {vendor}:", ""]
        lines += ["```sql", *r.get("page_sql", []), "```"]
    for vendor, why in skipped.items():
        lines += ["", f"{vendor}: skipped, {why}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("setup")
    s.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("rollups")
    m.add_argument("--admin", required=True)
    m.add_argument("--lead", required=True)
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--out", type=Path, required=True)
    parser.add_argument("--loops", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--vendor", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/DASHBOARD.md")
    args = parser.parse_args()
    if args.cmd == "setup":
        setup(args.out)
        return
    if args.cmd == "rollups":
        rollups_child(args.admin, args.lead, args.runs, args.out)
        return
    common.PG_DB = PG_DB
    results, skipped = common.on_each_engine(
        "dashboard", args.vendor, lambda vendor: bench_one(vendor, args)
    )
    if not args.no_write:
        page_block_write(PAGE, begin=BEGIN, end=END, lines=page(results, skipped, args))
    print(json.dumps({**figures(results), "dashboard": results, "dashboard_skipped": skipped}))


if __name__ == "__main__":
    main()
