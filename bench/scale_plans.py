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
    chosen = sorted(set(ranked[:TOP]) | {i for i, q in enumerate(queries) if q["ms"] >= SLOW_MS})
    plans = []
    for i in chosen[:8]:
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


def plans(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    import ingest
    from lastmile.api.services import token_create
    from lastmile.loops.services import loops_sweep

    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    host = {"HTTP_HOST": "127.0.0.1"}
    _, token = token_create(name="scale-plans", now=now)
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

    user = get_user_model().objects.filter(username="console-agent").first()
    if user is not None:
        page = Client(**host)
        page.force_login(user)

        def inbox() -> None:
            r = page.get("/")
            assert r.status_code == 200

        out["inbox"] = summary("inbox", captured(inbox))
        if args.case:

            def case() -> None:
                r = page.get(f"/cases/{args.case}/")
                assert r.status_code == 200

            out["case_page"] = summary("case page", captured(case))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["plans"])
    ap.add_argument("--busy", type=int, required=True)
    ap.add_argument("--loops-now", default="")
    ap.add_argument("--case", default="")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    assert os.environ.get("LASTMILE_DATABASE_URL"), "run by bench/scale.py"
    import django

    django.setup()
    t = time.perf_counter()
    result = plans(args)
    result["elapsed_s"] = time.perf_counter() - t
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
