"""Console pages over real HTTP with a signed-in session: inbox, case page, case lists, search.

The agent signs in the way a person does — ``GET /login/``, then the login form posted with
its CSRF token — and every request after that carries the session cookie, nothing else (no
bearer token). Requests are sequential on one keep-alive ``requests`` session, after a
warm-up; each answer is checked (status 200, the rows the page must show).

The data sits in the timeline's database (``timeline.load``: 10,000 customers × 100
interactions), made in a child process with ``django.setup()``
(``python bench/console.py setup ...``), through lastmile's own services where they exist:

- a team with an agent (``agent_create``, a member of that team only), an admin (sees
  every team), another team, and one 24/7 SLA policy per team (``sla_policy_save``);
- ``cases`` open cases of the agent's team (``cases_insert``), one per customer in turn,
  and one open reply loop on each — bulk SQL into ``loops_loop`` (``load.bulk_insert``)
  with the columns ``loops.services.loop_schedule`` computes (checked on a sample): the
  loops opened between now and 6 hours ago under a 4-hour first-reply SLA with the
  ladder 75 % notify owner / 100 % breach / 150 % reassign, so some are on track, some at
  risk, some breached; every third assigned to the agent;
- ``other`` open task loops of the other team (customer loops, no case), so the agent's
  inbox filters them out and the admin's shows them;
- one case of ``messages`` messages (inbound, inbound, outbound, inbound, outbound, ...)
  written with ``customers.services.timeline.interactions_write``, so the loop engine opens
  and closes its reply loops as it does for real traffic.

Figures (each beside floors measured in the same run): p50/p99 of ``GET /`` (the inbox) as
the agent and as the admin, of ``GET /cases/<ref>/`` for the long case, of ``GET /cases/``
(the case lists) and of ``GET /search/?q=`` for four kinds of query over the timeline's
million messages; the floors are ``GET /healthz`` through the same server and session
(what any request costs) and each page's bare SQL timed directly on a raw connection (what
the data costs). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from common import BENCH_DIR, REPO, Database, percentile, say
from load import boolean, bulk_insert, ts
from sweep import LOOP_COLUMNS

AGENT = "console-agent"
ADMIN = "console-admin"
PASSWORD = "console-bench-pw-1"
TEAM_SLUG = "bench-console"
OTHER_SLUG = "bench-console-other"
SLA_SECONDS = 4 * 3600
LADDER = [
    {"at": 75, "action": "notify_owner"},
    {"at": 100, "action": "breach"},
    {"at": 150, "action": "reassign_to_lead"},
]
CHANNELS = ("email", "chat", "phone", "web")
SUBJECTS = (
    "Order #{n} has not arrived",
    "Refund for order #{n} not received",
    "Wrong size delivered, order #{n}",
    "Cannot sign in to my account",
    "Invoice {n} charged twice",
    "Change the delivery address of order #{n}",
)
# The long case's messages: what a month-long thread about one parcel sounds like.
LONG_CASE_BODIES = (
    "Hello, my parcel for order #{n} still has not arrived and the tracking page has not "
    "moved for three days. Can you tell me where it is?",
    "I also tried calling the courier but nobody answers. This is getting frustrating.",
    "Thanks for checking. I have asked the courier to hold it at the depot; reference {n}.",
    "The box finally came but the kettle inside is cracked. I attach photos of the damage.",
    "Sorry for the trouble. I have arranged a replacement and a refund of the delivery fee.",
)
LONG_CASE_DIRECTIONS = ("inbound", "inbound", "outbound", "inbound", "outbound")
CASES_CHUNK = 5_000
# A page measured for longer than its budget stops there, but never before this many
# requests (then its p99 is its slowest); its warm-up stops after a fifth of the budget
# (at least one request)...
MIN_REQUESTS = 10
MIN_WARMUP = 1
# ... unless a request takes seconds: then it stops after three times its budget (at least
# 3 requests), so that one very slow page cannot push the whole bench past its time.
HARD_FACTOR = 3
# Runs of each page's bare SQL (its floor: the p50 of these).
FLOOR_RUNS = 30


# --- the data (in a child process with django.setup()) -----------------------------------


def _loop_row(
    db: Database,
    *,
    pk: int,
    kind: str,
    title: str,
    channel: str,
    opened: datetime,
    now: datetime,
    target: str,
    assignee: int | None,
    case: int | None,
    customer: int,
    team: int,
    policy: int,
) -> tuple[Any, ...]:
    """An open loop's row as ``loop_open`` + ``loop_schedule`` leave it, ``now - opened``
    into a 24/7 SLA of ``SLA_SECONDS`` with every rung already passed taken (as the
    sweeper would have taken them)."""
    from lastmile.loops.services import at_risk_from

    elapsed = (now - opened).total_seconds()
    level = sum(1 for rung in LADDER if elapsed >= SLA_SECONDS * rung["at"] / 100)
    due = opened + timedelta(seconds=SLA_SECONDS)
    next_check = (
        opened + timedelta(seconds=SLA_SECONDS * LADDER[level]["at"] / 100)
        if level < len(LADDER)
        else None
    )
    breached = level > 1  # the breach rung (the second) was taken
    return (
        pk,
        kind,
        title,
        "open",
        boolean(db, False),
        channel,
        ts(db, opened),
        None,
        target,
        SLA_SECONDS,
        boolean(db, False),
        ts(db, opened),
        0,
        None,
        0,
        "",
        ts(db, due),
        level,
        ts(db, next_check) if next_check is not None else None,
        ts(db, due) if breached else None,
        assignee,
        case,
        customer,
        None,
        team,
        policy,
        ts(db, at_risk_from(opened_at=opened, due_at=due, escalated=level > 0)),
    )


def _schedule_check(ids: list[int]) -> int:
    """Loaded loops agree with ``loop_schedule`` (due_at, next_check_at, at_risk_at)."""
    from lastmile.loops.models import Loop
    from lastmile.loops.services import loop_schedule

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


def setup(db: Database, *, cases: int, other: int, messages: int, customers: int) -> dict[str, Any]:
    """The console's data (module docstring); what the HTTP half needs to know of it."""
    from django.db import connection

    from lastmile.cases.models import Case
    from lastmile.cases.services import CaseIn, cases_insert
    from lastmile.customers.models import Customer, Interaction
    from lastmile.customers.services.timeline import InteractionRow, interactions_write
    from lastmile.loops.models import Loop, LoopState, SlaPolicy
    from lastmile.loops.services import sla_policy_save
    from lastmile.people.services import agent_create, team_ensure

    now = datetime.now(UTC).replace(microsecond=0)
    t = time.perf_counter()
    team = team_ensure(name="Bench console", slug=TEAM_SLUG, email="console@bench.example")
    other_team = team_ensure(name="Bench console, other team", slug=OTHER_SLUG)
    agent = agent_create(
        username=AGENT,
        password=PASSWORD,
        teams=[team],
        role="agent",
        email="agent@console.bench.example",
        first_name="Ada",
        last_name="Console",
    )
    admin = agent_create(username=ADMIN, password=PASSWORD, role="admin")
    policies = {}
    for name, kind, owner in (
        ("Bench console replies, 24/7", "reply", team),
        ("Bench console other team's tasks, 24/7", "task", other_team),
    ):
        policies[kind] = sla_policy_save(
            policy=SlaPolicy(
                name=name,
                position=1,
                kind=kind,
                team=owner,
                first_reply_minutes=SLA_SECONDS // 60,
                next_reply_minutes=SLA_SECONDS // 60,
                resolution_minutes=SLA_SECONDS // 60,
                escalation=LADDER,
            ),
            actor=None,
            actor_label="bench",
            now=now,
        )

    # The open cases, through the bulk service, a chunk per transaction.
    for start in range(0, cases, CASES_CHUNK):
        cases_insert(
            cases=[
                CaseIn(
                    customer_id=k % customers + 1,
                    subject=SUBJECTS[k % len(SUBJECTS)].format(n=300000 + k),
                    now=now - timedelta(seconds=6 * 3600 * k // cases),
                    team=team,
                    channel=CHANNELS[k % len(CHANNELS)],
                )
                for k in range(start, min(cases, start + CASES_CHUNK))
            ]
        )
    case_rows = list(
        Case.objects.filter(team=team).order_by("pk").values_list("pk", "customer_id", "channel")
    )
    names = dict(
        Customer.objects.filter(pk__in={c for _, c, _ in case_rows}).values_list(
            "pk", "display_name"
        )
    )
    made_cases = time.perf_counter() - t
    say(f"  console: {len(case_rows):,} open cases ({made_cases:.1f}s)")

    # One open reply loop per case, and the other team's task loops.
    first = int(Loop.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    span = 6 * 3600  # opened between now and 6 hours ago: 1.5 times the SLA

    def rows() -> Any:
        for k, (case_id, customer_id, channel) in enumerate(case_rows):
            yield _loop_row(
                db,
                pk=first + k,
                kind="reply",
                title=f"First reply to {names.get(customer_id) or 'the customer'} ({channel})",
                channel=channel,
                opened=now - timedelta(seconds=(k * 7919) % span),
                now=now,
                target="first_reply",
                assignee=agent.user.pk if k % 3 == 0 else None,
                case=case_id,
                customer=customer_id,
                team=team.pk,
                policy=policies["reply"].pk,
            )
        for j in range(other):
            yield _loop_row(
                db,
                pk=first + len(case_rows) + j,
                kind="task",
                title=f"Check the refund of order #{400000 + j}",
                channel="email",
                opened=now - timedelta(seconds=(j * 7919) % span),
                now=now,
                target="resolution",
                assignee=None,
                case=None,
                customer=j % customers + 1,
                team=other_team.pk,
                policy=policies["task"].pk,
            )

    connection.close()  # the bulk load takes its own connection (SQLite: one writer)
    bulk_insert(db, "loops_loop", LOOP_COLUMNS, rows())
    total = len(case_rows) + other
    checked = _schedule_check(list(range(first, first + total, max(1, total // 300))))

    # The long case: its messages through the timeline's one writer, so reply loops open
    # and close on it as they do for real traffic.
    (long_case,) = cases_insert(
        cases=[
            CaseIn(
                customer_id=1,
                subject="Parcel lost, then delivered damaged: replacement and refund",
                now=now - timedelta(days=30),
                team=team,
                channel="email",
            )
        ]
    )
    step = 30 * 86400 // max(1, messages)
    start = now - timedelta(days=30)
    interactions_write(
        rows=[
            InteractionRow(
                customer_id=1,
                case_id=long_case,
                channel="email",
                direction=LONG_CASE_DIRECTIONS[i % len(LONG_CASE_DIRECTIONS)],
                occurred_at=start + timedelta(seconds=i * step),
                body=LONG_CASE_BODIES[i % len(LONG_CASE_BODIES)].format(n=500000 + i),
                actor=agent.user
                if LONG_CASE_DIRECTIONS[i % len(LONG_CASE_DIRECTIONS)] == "outbound"
                else None,
            )
            for i in range(messages)
        ],
        now=now,
    )
    if db.vendor == "postgresql":
        # What autovacuum does within a minute or so of tables growing this much (on a busy
        # machine it may lag far behind): analyse them, or the planner reads 100,000 cases as
        # the few it saw at the migration; and, since PostgreSQL 13 also after inserts, vacuum
        # them, which marks their pages all-visible so that a count over an index range (the
        # inbox's SLA counts) reads the index alone instead of every row's page.
        with connection.cursor() as cur:
            for table in ("cases_case", "cases_caseevent", "loops_loop", "loops_loopevent"):
                cur.execute(f"VACUUM (ANALYZE) {table}")
    ref = Case.objects.get(pk=long_case).ref
    long_loops = Loop.objects.filter(case_id=long_case).count()
    open_team = Loop.objects.filter(team=team, state=LoopState.OPEN).count()
    open_all = Loop.objects.filter(state=LoopState.OPEN).count()
    unsolved = Case.objects.filter(team=team, status__in=("open", "pending")).count()
    numbers = list(
        Case.objects.filter(team=team, status="open")
        .order_by("number")
        .values_list("number", flat=True)
    )
    thread = Interaction.objects.filter(case_id=long_case).count()
    say(
        f"  console: made {total:,} open loops, {messages} messages on {ref} "
        f"({long_loops} reply loops on it) in {time.perf_counter() - t:.1f}s"
    )
    return {
        "team": team.pk,
        "other_team": other_team.pk,
        "agent": agent.user.pk,
        "admin": admin.user.pk,
        "first_loop": first,
        "long_case": long_case,
        "long_case_ref": ref,
        "long_case_messages": thread,
        "long_case_loops": long_loops,
        "open_team": open_team,
        "open_all": open_all,
        "cases": len(case_rows),
        "unsolved_team": unsolved,
        "case_numbers": numbers[:: max(1, len(numbers) // 1000)],
        "checked": checked,
        "now": now.isoformat(),
    }


def loops_remove(db: Database, first: int) -> None:
    """Take the console's loops (ids from ``first``) and their events out again, so the
    24/7 sweep that follows in this database bulk-loads the table it always loaded."""
    conn = db.connect()
    p = "?" if db.vendor == "sqlite" else "%s"
    try:
        conn.execute(f"DELETE FROM loops_loopevent WHERE loop_id >= {p}", (first,))
        conn.execute(f"DELETE FROM loops_loop WHERE id >= {p}", (first,))
    finally:
        conn.close()


# --- HTTP ---------------------------------------------------------------------------------


def login(base: str, username: str, password: str) -> requests.Session:
    """A session signed in through the console's login form (CSRF token and all)."""
    session = requests.Session()
    page = session.get(base + "/login/", timeout=60)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if page.status_code != 200 or not found:
        raise RuntimeError(f"GET /login/: HTTP {page.status_code}, no CSRF token in the form")
    r = session.post(
        base + "/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": found.group(1),
            "next": "/",
        },
        headers={"Referer": base + "/login/"},
        allow_redirects=False,
        timeout=60,
    )
    if r.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"POST /login/ as {username}: HTTP {r.status_code}, not signed in")
    return session


def _enough(latencies: list[float], elapsed: float, budget_s: float) -> bool:
    """Whether a page measured for ``elapsed`` seconds has been measured enough."""
    if elapsed > HARD_FACTOR * budget_s:
        return len(latencies) >= 3
    return elapsed > budget_s and len(latencies) >= MIN_REQUESTS


def timed(
    session: requests.Session,
    url: str,
    *,
    n: int,
    warmup: int,
    check: Callable[[requests.Response], str | None] | None = None,
    budget_s: float = float("inf"),
) -> dict[str, float]:
    """p50/p99/max of ``n`` sequential GETs after ``warmup``; every answer checked. A slow
    page stops after ``budget_s`` of measuring (at least ``MIN_REQUESTS``), so that the
    whole bench keeps to its time; ``n`` in the answer is how many were measured."""
    latencies: list[float] = []
    warmed = 0
    started = time.perf_counter()
    for i in range(warmup + n):
        if i < warmup and i >= MIN_WARMUP and time.perf_counter() - started > budget_s / 5:
            continue  # a slow page: enough warm-up
        warmed += i < warmup
        if i == warmup:
            started = time.perf_counter()
        elif _enough(latencies, time.perf_counter() - started, budget_s):
            break
        t = time.perf_counter()
        r = session.get(url, timeout=60, allow_redirects=False)
        dt = time.perf_counter() - t
        problem = f"HTTP {r.status_code}" if r.status_code != 200 else (check and check(r))
        if problem:
            raise RuntimeError(f"GET {url}: {problem}: {r.text[:300]}")
        if i >= warmup:
            latencies.append(dt)
    return {**_stats(latencies), "warmup": warmed}


def sql_timed(db: Database, sql: str, params: tuple[Any, ...], *, n: int) -> dict[str, Any]:
    """The page's bare SQL on a raw connection: median and p99 of ``n`` runs, rows fetched."""
    conn = db.connect()
    if db.vendor != "sqlite":
        sql = sql.replace("?", "%s")
    times, rows = [], 0
    try:
        for _ in range(n):
            t = time.perf_counter()
            rows = len(conn.execute(sql, params).fetchall())
            times.append(time.perf_counter() - t)
    finally:
        conn.close()
    return {
        "p50_ms": percentile(times, 50) * 1000,
        "p99_ms": percentile(times, 99) * 1000,
        "rows": rows,
    }


def _open_total(r: requests.Response) -> int:
    found = re.search(
        r'<span class="count-n">(\d+)</span><span class="count-label">Open</span>', r.text
    )
    return int(found.group(1)) if found else -1


def inbox_check(expect_total: int) -> Callable[[requests.Response], str | None]:
    def check(r: requests.Response) -> str | None:
        rows, total = r.text.count('class="loop-row"'), _open_total(r)
        if rows != 50 or total != expect_total:
            return f"{rows} rows and {total} open loops, expected 50 and {expect_total}"
        return None

    return check


# lastmile.console.selectors.THREAD_PAGE (this process has no Django to import it from).
THREAD_PAGE = 50


def case_check(messages: int) -> Callable[[requests.Response], str | None]:
    """The page shows the case's newest messages (``THREAD_PAGE`` of them, older ones load on
    request) and says how many there are in all."""
    shown_expected = min(messages, THREAD_PAGE)

    def check(r: requests.Response) -> str | None:
        shown = r.text.count('id="interaction-')
        if shown != shown_expected or f"of {messages} shown" not in r.text:
            return f"{shown} messages shown, expected the newest {shown_expected} of {messages}"
        return None

    return check


def cases_list_check(expect_total: int) -> Callable[[requests.Response], str | None]:
    def check(r: requests.Response) -> str | None:
        rows = r.text.count('class="case-row"')
        found = re.search(r"· (\d+) cases", r.text)
        total = int(found.group(1)) if found else -1
        if rows != 50 or total != expect_total:
            return f"{rows} rows and {total} cases, expected 50 and {expect_total}"
        return None

    return check


# The pages' bare SQL: the first page of the inbox (the team's open loops, most urgent
# first, with what a row shows) and its count; the long case's thread.
INBOX_SQL = (
    "SELECT l.*, c.number, c.subject, cu.display_name, t.name FROM loops_loop l "
    "LEFT JOIN cases_case c ON c.id = l.case_id "
    "LEFT JOIN customers_customer cu ON cu.id = l.customer_id "
    "LEFT JOIN people_team t ON t.id = l.team_id "
    "WHERE l.state = 'open' AND l.team_id = ? ORDER BY l.due_at, l.id LIMIT 50"
)
INBOX_COUNT_SQL = "SELECT count(*) FROM loops_loop WHERE state = 'open' AND team_id = ?"
CASES_LIST_SQL = (
    "SELECT c.*, cu.display_name, t.name FROM cases_case c "
    "JOIN customers_customer cu ON cu.id = c.customer_id "
    "LEFT JOIN people_team t ON t.id = c.team_id "
    "WHERE c.team_id = ? AND c.status IN ('open', 'pending') "
    "ORDER BY c.updated_at DESC, c.id DESC LIMIT 50"
)
CASES_COUNT_SQL = (
    "SELECT count(*) FROM cases_case WHERE team_id = ? AND status IN ('open', 'pending')"
)
CASE_SQL = (
    "SELECT i.*, cu.display_name FROM customers_interaction i "
    "JOIN customers_customer cu ON cu.id = i.customer_id "
    "WHERE i.case_id = ? ORDER BY i.occurred_at, i.id"
)


# --- search -------------------------------------------------------------------------------

# What an agent types into the search box, by kind: a word in very many messages (every
# timeline message says "delivery slot and refund"), rare words (the long case's thread: one
# message in five of it, 100 of the million), a customer's name, a case reference (which
# answers with a redirect to the case).
COMMON_WORDS = ("refund", "delivery", "slot", "delivery slot")
RARE_WORDS = ("kettle", "cracked kettle", "depot", "courier")


def search_queries(made: dict[str, Any], *, customers: int, n: int) -> dict[str, list[str]]:
    """``n`` queries of each kind, varied so that no answer is served from a warm repeat."""
    prefix = made["long_case_ref"].split("-")[0]
    numbers = made["case_numbers"]
    return {
        "common": [COMMON_WORDS[i % len(COMMON_WORDS)] for i in range(n)],
        "rare": [RARE_WORDS[i % len(RARE_WORDS)] for i in range(n)],
        "customer": [f"Customer {(i * 7919) % customers + 1}" for i in range(n)],
        "case_ref": [f"{prefix}-{numbers[(i * 7919) % len(numbers)]}" for i in range(n)],
    }


def search_check(kind: str) -> Callable[[requests.Response], str | None]:
    def check(r: requests.Response) -> str | None:
        if kind == "case_ref":
            where = r.headers.get("Location", "")
            return (
                None if r.status_code == 302 and "/cases/" in where else "no redirect to the case"
            )
        if r.status_code != 200:
            return None  # timed() reports the status
        hits = r.text.count('class="search-hit"')
        if kind in ("common", "rare") and 'id="results-interactions"' not in r.text:
            return "no messages found"
        return None if hits else "nothing found"

    return check


def search_timed(
    session: requests.Session,
    base: str,
    queries: list[str],
    *,
    kind: str,
    warmup: int,
    budget_s: float = float("inf"),
) -> list[float]:
    """Latencies of ``GET /search/?q=`` for each query (after ``warmup`` of them), for at
    most ``budget_s`` of measuring (at least ``MIN_REQUESTS``)."""
    check = search_check(kind)
    latencies: list[float] = []
    started = time.perf_counter()
    for i, q in enumerate(queries[:warmup] + queries):
        if i < warmup and i >= MIN_WARMUP and time.perf_counter() - started > budget_s / 5:
            continue  # a slow page: enough warm-up
        if i == warmup:
            started = time.perf_counter()
        elif _enough(latencies, time.perf_counter() - started, budget_s):
            break
        t = time.perf_counter()
        r = session.get(base + "/search/", params={"q": q}, timeout=60, allow_redirects=False)
        dt = time.perf_counter() - t
        ok = r.status_code == 200 or (kind == "case_ref" and r.status_code == 302)
        problem = None if ok else f"HTTP {r.status_code}"
        problem = problem or check(r)
        if problem:
            raise RuntimeError(f"GET /search/?q={q}: {problem}: {r.text[:300]}")
        if i >= warmup:
            latencies.append(dt)
    return latencies


def search_floor(db: Database, words: list[str], *, n: int) -> dict[str, Any]:
    """The bare full-text query of the message words (the index the search page uses,
    newest first, ``LIMIT 21``), on a raw connection: p50 over ``n`` runs of each."""
    if db.vendor == "sqlite":
        sql = (
            "SELECT rowid FROM search_interaction_fts WHERE search_interaction_fts MATCH ? "
            "ORDER BY rowid DESC LIMIT 21"
        )
        params = [(" ".join(f'"{w}"' for w in q.split()),) for q in words]
    else:
        sql = (
            "SELECT id FROM customers_interaction WHERE to_tsvector('english'::regconfig, body) "
            "@@ plainto_tsquery('english'::regconfig, ?) ORDER BY id DESC LIMIT 21"
        )
        params = [(q,) for q in words]
    times: list[float] = []
    for p in params:
        r = sql_timed(db, sql, p, n=max(1, n // len(params)))
        if not r["rows"]:
            raise RuntimeError(f"the search floor found nothing for {p}: {sql}")
        times.append(r["p50_ms"])
    return {"p50_ms": percentile(times, 50), "words": words}


def setup_run(db: Database, sizes: dict[str, int]) -> dict[str, Any]:
    """``python bench/console.py setup ...`` in a child process; what it made."""
    out_path = db.var_dir / "console.json"
    t = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH_DIR / "console.py"),
            "setup",
            "--vendor",
            db.vendor,
            "--var-dir",
            str(db.var_dir),
            "--cases",
            str(sizes["console_open_loops"]),
            "--other",
            str(sizes["console_other_loops"]),
            "--messages",
            str(sizes["console_case_messages"]),
            "--customers",
            str(sizes["timeline_customers"]),
            "--out",
            str(out_path),
        ],
        env=db.env(),
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the console setup on {db.vendor} failed (exit {proc.returncode})")
    made: dict[str, Any] = json.loads(out_path.read_text())
    say(f"  console: setup {time.perf_counter() - t:.1f}s")
    return made


def _said(name: str, r: dict[str, float], warmup: int) -> None:
    say(
        f"  console: {name}: {r['n']} requests after {r.get('warmup', warmup)} warm-up: "
        f"p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms"
    )


def _stats(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "n": len(latencies),
    }


def bench(
    db: Database,
    sizes: dict[str, int],
    base_of: Callable[[], Any],
    *,
    pages: bool = True,
    search: bool = True,
) -> dict[str, Any]:
    """The console's figures on one database (the timeline's, loaded): the data made in a
    child process, then the pages (``pages``: inbox, case page) and the search page
    (``search``) through the server ``base_of()`` starts, as a signed-in agent."""
    made = setup_run(db, sizes)
    n, warmup = sizes["console_requests"], sizes["console_warmup"]
    out: dict[str, Any] = {"console_made": made}
    errors: list[str] = []
    out["console_errors"] = errors
    try:
        with base_of() as base:
            agent = login(base, AGENT, PASSWORD)
            admin = login(base, ADMIN, PASSWORD)
            health = timed(agent, base + "/healthz", n=n, warmup=warmup)
            _said("healthz", health, warmup)
            out.update(
                console_healthz_p50_ms=health["p50_ms"], console_healthz_p99_ms=health["p99_ms"]
            )
            if pages:
                _pages(
                    out,
                    errors,
                    db,
                    made,
                    {"agent": agent, "admin": admin},
                    base,
                    health,
                    n=n,
                    warmup=warmup,
                    budget=sizes["console_budget_s"],
                )
            if search:
                _search(out, errors, db, made, agent, base, health, sizes=sizes, warmup=warmup)
    finally:
        queries_cancel(db)
    out["console_setup"] = (
        f"{made['cases']:,} open cases of one team, one open reply loop on each (the agent "
        f"is a member of that team only: {made['open_team']:,} open loops in its inbox), "
        f"{sizes['console_other_loops']:,} open task loops of another team (the admin's "
        f"inbox: {made['open_all']:,}); the case page's case has "
        f"{made['long_case_messages']} messages and {made['long_case_loops']} reply loops"
    )
    return out


def queries_cancel(db: Database) -> None:
    """Cancel what the stopped server left running in the bench database (PostgreSQL goes on
    with a query whose client has gone), so that it does not weigh on what runs next."""
    if db.vendor != "postgresql":
        return
    conn = db.connect()
    try:
        conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        conn.close()


def _measured(errors: list[str], name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fn()``'s figures, or none (and why, in ``errors``) when a request failed or timed
    out: that page's figures are then missing, the others are still measured."""
    try:
        return fn()
    except (requests.RequestException, RuntimeError) as exc:
        note = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        say(f"  console: FAILED {note}")
        errors.append(note)
        return {}


def _pages(
    out: dict[str, Any],
    errors: list[str],
    db: Database,
    made: dict[str, Any],
    sessions: dict[str, requests.Session],
    base: str,
    health: dict[str, float],
    *,
    n: int,
    warmup: int,
    budget: float,
) -> None:
    """The inbox (as the agent, as the admin), the long case's page and the case lists,
    each beside its bare SQL; their figures into ``out``."""
    agent, admin = sessions["agent"], sessions["admin"]

    def page(
        name: str,
        session: requests.Session,
        url: str,
        check: Callable[[requests.Response], str | None],
    ) -> dict[str, Any]:
        r = timed(session, url, n=n, warmup=warmup, check=check, budget_s=budget)
        _said(name, r, warmup)
        return r

    def inbox() -> dict[str, Any]:
        r = page("inbox as the agent", agent, base + "/", inbox_check(made["open_team"]))
        sql = sql_timed(db, INBOX_SQL, (made["team"],), n=FLOOR_RUNS)
        count = sql_timed(db, INBOX_COUNT_SQL, (made["team"],), n=FLOOR_RUNS)
        say(
            f"  console: inbox's bare SQL: page {sql['p50_ms']:.2f} ms + count "
            f"{count['p50_ms']:.2f} ms (p50 of {FLOOR_RUNS})"
        )
        return {
            "inbox_p50_ms": r["p50_ms"],
            "inbox_p99_ms": r["p99_ms"],
            "inbox_max_ms": r["max_ms"],
            "inbox_requests": r["n"],
            "inbox_sql_ms": sql["p50_ms"] + count["p50_ms"],
            "inbox_ratio": r["p50_ms"] / health["p50_ms"],
        }

    def inbox_admin() -> dict[str, Any]:
        r = page("inbox as the admin", admin, base + "/", inbox_check(made["open_all"]))
        return {
            "inbox_admin_p50_ms": r["p50_ms"],
            "inbox_admin_p99_ms": r["p99_ms"],
            "inbox_admin_requests": r["n"],
        }

    def case() -> dict[str, Any]:
        r = page(
            f"case page ({made['long_case_messages']} messages)",
            agent,
            f"{base}/cases/{made['long_case_ref']}/",
            case_check(made["long_case_messages"]),
        )
        sql = sql_timed(db, CASE_SQL, (made["long_case"],), n=FLOOR_RUNS)
        say(f"  console: case thread's bare SQL: {sql['p50_ms']:.2f} ms (p50 of {FLOOR_RUNS})")
        return {
            "case_page_p50_ms": r["p50_ms"],
            "case_page_p99_ms": r["p99_ms"],
            "case_page_max_ms": r["max_ms"],
            "case_page_requests": r["n"],
            "case_page_sql_ms": sql["p50_ms"],
            "case_page_ratio": r["p50_ms"] / health["p50_ms"],
        }

    def cases_list() -> dict[str, Any]:
        r = page(
            "case lists (my teams, unsolved, recently updated)",
            agent,
            base + "/cases/",
            cases_list_check(made["unsolved_team"]),
        )
        sql = sql_timed(db, CASES_LIST_SQL, (made["team"],), n=FLOOR_RUNS)
        count = sql_timed(db, CASES_COUNT_SQL, (made["team"],), n=FLOOR_RUNS)
        say(
            f"  console: case lists' bare SQL: page {sql['p50_ms']:.2f} ms + count "
            f"{count['p50_ms']:.2f} ms (p50 of {FLOOR_RUNS})"
        )
        return {
            "cases_list_p50_ms": r["p50_ms"],
            "cases_list_p99_ms": r["p99_ms"],
            "cases_list_requests": r["n"],
            "cases_list_sql_ms": sql["p50_ms"] + count["p50_ms"],
            "cases_list_ratio": r["p50_ms"] / health["p50_ms"],
        }

    for name, fn in (
        ("inbox", inbox),
        ("inbox as the admin", inbox_admin),
        ("case page", case),
        ("case lists", cases_list),
    ):
        out.update(_measured(errors, name, fn))


def _search(
    out: dict[str, Any],
    errors: list[str],
    db: Database,
    made: dict[str, Any],
    agent: requests.Session,
    base: str,
    health: dict[str, float],
    *,
    sizes: dict[str, int],
    warmup: int,
) -> None:
    """The search page for each kind of query, and the whole mix; figures into ``out``.
    A kind that fails leaves the mix's figures missing (they would leave it out)."""
    per_kind = sizes["search_requests"]
    queries = search_queries(made, customers=sizes["timeline_customers"], n=per_kind)
    out["search_queries"] = {kind: list(dict.fromkeys(qs))[:4] for kind, qs in queries.items()}
    every: list[float] = []
    complete = True
    for kind, qs in queries.items():

        def one(kind: str = kind, qs: list[str] = qs) -> dict[str, Any]:
            latencies = search_timed(
                agent,
                base,
                qs,
                kind=kind,
                warmup=min(warmup, len(qs)),
                budget_s=sizes["console_budget_s"] / 2,
            )
            every.extend(latencies)
            r = _stats(latencies)
            _said(f"search, {kind} ({', '.join(dict.fromkeys(qs[:4]))}, ...)", r, warmup)
            return {f"search_{kind}_p50_ms": r["p50_ms"], f"search_{kind}_p99_ms": r["p99_ms"]}

        figures = _measured(errors, f"search, {kind}", one)
        complete = complete and bool(figures)
        out.update(figures)
    floor = search_floor(db, [*COMMON_WORDS, *RARE_WORDS], n=FLOOR_RUNS * 2)
    say(f"  console: bare full-text query of the words: p50 {floor['p50_ms']:.2f} ms")
    out["search_sql_ms"] = floor["p50_ms"]
    if not complete:
        return
    mix = _stats(every)
    _said("search, the whole mix", mix, warmup)
    out.update(
        search_p50_ms=mix["p50_ms"],
        search_p99_ms=mix["p99_ms"],
        search_max_ms=mix["max_ms"],
        search_requests=mix["n"],
        search_ratio=mix["p50_ms"] / health["p50_ms"],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="run by run.py: python bench/console.py setup ...")
    ap.add_argument("command", choices=["setup"])
    ap.add_argument("--vendor", required=True, choices=["sqlite", "postgresql"])
    ap.add_argument("--var-dir", required=True, type=Path)
    ap.add_argument("--cases", required=True, type=int)
    ap.add_argument("--other", required=True, type=int)
    ap.add_argument("--messages", required=True, type=int)
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
    made = setup(
        db,
        cases=args.cases,
        other=args.other,
        messages=args.messages,
        customers=args.customers,
    )
    args.out.write_text(json.dumps(made))


if __name__ == "__main__":
    sys.exit(main())
