"""The plans of the hot queries, captured from the product itself (run by bench/scale.py).

    python bench/scale_plans.py plans --busy N --loops-now ISO --case REF --out FILE

In a child process with ``django.setup()`` on the scale database: each request (or the
sweep) runs once through Django's test client (or the service) while its SQL is captured
(``CaptureQueriesContext``), inside a transaction that is rolled back, so nothing stays
written; then every statement that took longer than ``SLOW_MS`` or is one of the slowest
``TOP`` of its request is explained with ``EXPLAIN (ANALYZE, BUFFERS)`` (a write in a
savepoint rolled back). The JSON written: for each workload, its statements (count, total
ms) and the plans.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TOP = 3
SLOW_MS = 2.0


class Rollback(Exception):
    pass


def captured(fn: Any) -> list[dict[str, Any]]:
    """The statements ``fn()`` sends, in a transaction rolled back afterwards."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    ctx = CaptureQueriesContext(connection)
    try:
        with transaction.atomic(), ctx:
            fn()
            raise Rollback
    except Rollback:
        pass
    return [{"sql": q["sql"], "ms": float(q["time"]) * 1000} for q in ctx.captured_queries]


def explain(sql: str) -> str:
    from django.db import connection, transaction

    if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "SET", "BEGIN")):
        return ""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join(r[0] for r in cur.fetchall())
            raise Rollback(plan)
    except Rollback as done:
        return str(done)
    except Exception as exc:  # noqa: BLE001  (a statement that cannot be explained alone)
        return f"(not explained: {type(exc).__name__}: {str(exc).splitlines()[0][:200]})"


def summary(name: str, queries: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(range(len(queries)), key=lambda i: -queries[i]["ms"])
    slow = [i for i in ranked if queries[i]["ms"] >= SLOW_MS]
    chosen = sorted(set(ranked[:TOP]) | set(slow[:8]))  # the slowest, in the order sent
    plans = []
    for i in chosen:
        q = queries[i]
        plans.append({"sql": q["sql"][:3000], "ms": q["ms"], "plan": explain(q["sql"])})
    print(
        f"  plans: {name}: {len(queries)} statements, {sum(q['ms'] for q in queries):.1f} ms",
        file=sys.stderr,
    )
    return {
        "statements": len(queries),
        "total_ms": sum(q["ms"] for q in queries),
        "all": [{"ms": round(q["ms"], 2), "sql": q["sql"][:300]} for q in queries],
        "plans": plans,
    }


def sweep_claim(at: datetime) -> dict[str, Any]:
    """The sweep's claim (``loops.services._claim_due``: it runs on a raw psycopg cursor,
    which the capture above does not see), built from the same queryset, explained."""
    import psycopg
    from django.db import connection

    from lastmile.loops.models import Loop, LoopState
    from lastmile.loops.services import SWEEP_FIELDS

    due = (
        Loop.objects.filter(
            state=LoopState.OPEN, next_check_at__isnull=False, next_check_at__lte=at
        )
        .order_by("next_check_at", "pk")
        .select_for_update(skip_locked=True, of=("self",))
    )
    from django.db import transaction

    with transaction.atomic():
        sql, params = due.values_list("pk", *SWEEP_FIELDS)[:2000].query.sql_with_params()
        text = psycopg.ClientCursor(connection.connection).mogrify(sql, params)
    t = time.perf_counter()
    plan = explain(text)
    print("  plans: the sweep's claim explained", file=sys.stderr)
    return {
        "statements": 1,
        "total_ms": (time.perf_counter() - t) * 1000,
        "all": [],
        "plans": [{"sql": text[:3000], "ms": 0.0, "plan": plan}],
    }


def plans(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    import ingest
    from lastmile.api.services import token_create
    from lastmile.loops.services import loops_sweep

    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    host = {"HTTP_HOST": "127.0.0.1"}
    _, token = token_create(name=f"scale-plans-{int(time.time())}", now=now)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", **host)

    def timeline() -> None:
        r = api.get(f"/api/v1/customers/{args.busy // 2 + 1}/timeline?limit=50")
        assert r.status_code == 200, r.content[:300]

    out["timeline"] = summary("timeline", captured(timeline))

    w = ingest.workload(1000, 1000)
    for item in w.items:
        item["source_id"] = "plans-" + item["source_id"]
        for ident in item["customer"]["identities"]:
            ident["value"] = (
                "plans-" + ident["value"] if ident["kind"] == "email" else ident["value"]
            )
    body = json.dumps({"items": w.items})

    def ingest_batch() -> None:
        r = api.post("/api/v1/interactions/batch", data=body, content_type="application/json")
        assert r.status_code == 200, r.content[:300]

    out["ingest_batch"] = summary("ingest batch of 1,000", captured(ingest_batch))

    if args.loops_now:
        at = datetime.fromisoformat(args.loops_now) + timedelta(hours=2)

        def sweep() -> None:
            loops_sweep(now=at, max_batches=1)

        out["sweep_batch"] = summary(f"one sweep batch at {at:%Y-%m-%d %H:%M}", captured(sweep))
        out["sweep_claim"] = sweep_claim(at)

    user = get_user_model().objects.filter(username="console-agent").first()
    if user is not None:
        page = Client(**host)
        page.force_login(user)

        def inbox() -> None:
            r = page.get("/")
            assert r.status_code == 200

        out["inbox"] = summary("inbox", captured(inbox))
        admin = get_user_model().objects.filter(username="console-admin").first()
        if admin is not None:
            every = Client(**host)
            every.force_login(admin)

            def inbox_admin() -> None:
                r = every.get("/")
                assert r.status_code == 200

            out["inbox_admin"] = summary("inbox as the admin", captured(inbox_admin))
        if args.case:

            def case() -> None:
                r = page.get(f"/cases/{args.case}/")
                assert r.status_code == 200

            out["case_page"] = summary("case page", captured(case))
    return out


def console_reset() -> dict[str, Any]:
    """Take out what an earlier run's console setup made (bench/console.py: its two teams,
    their cases and loops, the agent and the admin), so that it can run again on a kept
    database."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from console import ADMIN, AGENT, OTHER_SLUG, TEAM_SLUG
    from lastmile.cases.models import Case
    from lastmile.customers.models import Interaction
    from lastmile.loops.models import Loop, LoopEvent, SlaPolicy
    from lastmile.people.models import Team

    teams = list(Team.objects.filter(slug__in=[TEAM_SLUG, OTHER_SLUG]).values_list("pk", flat=True))
    with transaction.atomic():
        loops = Loop.objects.filter(team_id__in=teams)
        LoopEvent.objects.filter(loop__in=loops).delete()
        gone = {"loops": loops.delete()[0]}
        cases = Case.objects.filter(team_id__in=teams)
        gone["interactions"] = Interaction.objects.filter(case__in=cases).delete()[0]
        gone["cases"] = cases.delete()[0]
        gone["policies"] = SlaPolicy.objects.filter(team_id__in=teams).delete()[0]
        gone["users"] = get_user_model().objects.filter(username__in=[AGENT, ADMIN]).delete()[0]
        gone["teams"] = Team.objects.filter(pk__in=teams).delete()[0]
    print(f"  console reset: took out {gone}", file=sys.stderr)
    return gone


def sweep_reset() -> dict[str, Any]:
    """Take out what an earlier run's sweep made (bench/sweep.py, bench/org.py: the loops
    of the organisation's 50 teams, their events and notifications, the teams, their leads
    and agents, policies and calendars), so that it can run again on a kept database."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from lastmile.loops.models import BusinessHours, SlaPolicy
    from lastmile.people.models import Team

    teams = list(Team.objects.filter(slug__regex=r"^bench-[0-9]{2}$").values_list("pk", flat=True))
    gone: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM channels_outboxmessage WHERE key LIKE 'loop:%%'")
        gone["outbox"] = cur.rowcount
        cur.execute(
            "DELETE FROM loops_loopevent WHERE loop_id IN "
            "(SELECT id FROM loops_loop WHERE team_id = ANY(%s))",
            (teams,),
        )
        gone["events"] = cur.rowcount
        cur.execute("DELETE FROM loops_loop WHERE team_id = ANY(%s)", (teams,))
        gone["loops"] = cur.rowcount
        gone["policies"] = SlaPolicy.objects.filter(team_id__in=teams).delete()[0]
        users = get_user_model().objects.filter(username__regex=r"^bench-[0-9]{2}-(lead|agent)$")
        Team.objects.filter(pk__in=teams).update(lead=None)
        gone["users"] = users.delete()[0]
        gone["teams"] = Team.objects.filter(pk__in=teams).delete()[0]
        gone["calendars"] = BusinessHours.objects.filter(name__startswith="Bench ").delete()[0]
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) loops_loop")
    print(f"  sweep reset: took out {gone}", file=sys.stderr)
    return gone


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["plans", "console-reset", "sweep-reset"])
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--loops-now", default="")
    ap.add_argument("--case", default="")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    assert os.environ.get("LASTMILE_DATABASE_URL"), "run by bench/scale.py"
    import django

    django.setup()
    t = time.perf_counter()
    result = (
        {"plans": plans, "console-reset": console_reset, "sweep-reset": sweep_reset}[args.command]()
        if args.command != "plans"
        else plans(args)
    )
    result["elapsed_s"] = time.perf_counter() - t
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
