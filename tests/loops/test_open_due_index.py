"""The partial indexes of loops.0008 fit the queries they are for: the inbox unfiltered by team
(an admin's: every open loop, by deadline) walks ``loop_open_due`` in its order and stops
after the page, and the coaching catch-up reads its window of breaches from
``loop_breached``. On PostgreSQL, with sorting and table scans priced out, a plan that still
sorts means the index does not match the query's predicate or order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.coaching.services import breach_lessons_catch_up
from lastmile.console.selectors import InboxFilters, inbox
from lastmile.loops.models import Loop
from lastmile.loops.selectors import loop_list
from lastmile.loops.services import loop_open
from lastmile.people.viewers import SYSTEM

pytestmark = pytest.mark.django_db


def _indexes() -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, Loop._meta.db_table)


def test_the_indexes_exist_on_their_columns():
    found = _indexes()
    assert found["loop_open_due"]["columns"] == ["due_at", "id"]
    assert found["loop_breached"]["columns"] == ["breached_at", "id"]


def _plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the plans checked are PostgreSQL's")


def test_the_admin_inbox_page_walks_loop_open_due(customer, team, now):
    _postgresql()
    for i in range(3):
        loop_open(customer=customer, kind="task", title=f"t{i}", team=team, now=now)
    with CaptureQueriesContext(connection) as captured:
        page = inbox(viewer=SYSTEM, now=now, filters=InboxFilters(), page_number=1)
    assert len(page.rows) == 3
    [listed] = [
        q["sql"]
        for q in captured.captured_queries
        if "LIMIT" in q["sql"] and "ORDER BY" in q["sql"]
    ]
    qs = loop_list(viewer=SYSTEM, now=now, state="open")[:50]
    sql, params = qs.query.sql_with_params()
    assert '"loops_loop"."due_at" ASC' in listed and '"loops_loop"."due_at" ASC' in sql
    plan = _plan(sql, params)
    assert "loop_open_due" in plan and "Sort" not in plan, plan


def test_the_breach_catch_up_reads_loop_breached(customer, team, now):
    _postgresql()
    loop = loop_open(customer=customer, kind="task", title="late", team=team, now=now)
    Loop.objects.filter(pk=loop.pk).update(breached_at=now - timedelta(hours=1))
    with CaptureQueriesContext(connection) as captured:
        breach_lessons_catch_up(now=now)
    [sql] = [q["sql"] for q in captured.captured_queries if '"breached_at" >=' in q["sql"]]
    plan = _plan(sql, None)
    assert "loop_breached" in plan and "Sort" not in plan, plan
