"""The inbox's SLA counts (``loop_state_counts``, index-range counts over the stored
``at_risk_at``) agree with ``loop_sla_state`` (the rule in Python) for every loop, to the
microsecond, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lastmile.loops.models import Loop
from lastmile.loops.selectors import loop_list, loop_sla_state, loop_state_counts
from lastmile.loops.services import loop_at_risk_at, loop_open
from lastmile.people.viewers import SYSTEM

pytestmark = pytest.mark.django_db

MICRO = timedelta(microseconds=1)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    span_us=st.integers(min_value=-10_000_000, max_value=10 * 86_400 * 1_000_000),
    elapsed_us=st.integers(min_value=-1_000_000, max_value=11 * 86_400 * 1_000_000),
    opened_us=st.integers(min_value=0, max_value=999_999),
    level=st.sampled_from([0, 0, 0, 1]),
)
# A 4-hour span with exactly a quarter left is not at risk; a microsecond later it is.
@example(span_us=4 * 3600 * 10**6, elapsed_us=3 * 3600 * 10**6, opened_us=0, level=0)
@example(span_us=4 * 3600 * 10**6, elapsed_us=3 * 3600 * 10**6 + 1, opened_us=0, level=0)
@example(span_us=4, elapsed_us=3, opened_us=999_999, level=0)
@example(span_us=4, elapsed_us=4, opened_us=999_997, level=0)
@example(span_us=0, elapsed_us=-1, opened_us=0, level=0)
def test_counts_match_the_python_rule_to_the_microsecond(
    customer, team, now, span_us, elapsed_us, opened_us, level
):
    loop = Loop.objects.first() or loop_open(
        customer=customer, kind="task", title="t", team=team, now=now
    )
    opened_at = now + timedelta(microseconds=opened_us)
    Loop.objects.filter(pk=loop.pk).update(
        opened_at=opened_at,
        due_at=opened_at + span_us * MICRO,
        escalation_level=level,
        breached_at=None,
        paused_at=None,
    )
    loop.refresh_from_db()
    # at_risk_at as the services store it beside those columns
    Loop.objects.filter(pk=loop.pk).update(at_risk_at=loop_at_risk_at(loop))
    loop.refresh_from_db()
    at = opened_at + elapsed_us * MICRO
    expected = loop_sla_state(loop, now=at)
    counts = loop_state_counts(loop_list(viewer=SYSTEM, now=at, state="open"), now=at)
    assert counts[expected] == 1, (expected, counts)
    assert sum(counts.values()) == 1


def test_the_inbox_counts_its_loops_once(customer, team, alice, now):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lastmile.console.selectors import InboxFilters, inbox

    for title in ("a", "b", "c"):
        loop_open(customer=customer, kind="task", title=title, team=team, now=now)
    with CaptureQueriesContext(connection) as queries:
        page = inbox(viewer=alice, now=now, filters=InboxFilters())
    assert (page.total, page.page.paginator.count, len(page.rows)) == (3, 3, 3)
    # the SLA counts are the only counts, each over a range of due_at or at_risk_at; the
    # paginator reuses them (no count of every listed row)
    counted = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert len(counted) == 5, counted
    assert all('"due_at"' in sql or '"at_risk_at"' in sql for sql in counted), counted


def test_the_loop_grant_probes_loops_by_case_not_by_team(case, other_team):
    """On SQLite (no statistics) a probe by team reads every loop of the team per case."""
    from django.db import connection
    from django.db.models import Exists, OuterRef

    from lastmile.cases.models import Case
    from lastmile.loops.selectors import loops_grant_cases

    if connection.vendor != "sqlite":
        pytest.skip("the plan checked is SQLite's")
    qs = Case.objects.filter(Exists(loops_grant_cases({other_team.pk}, OuterRef("pk"))))
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " / ".join(row[-1] for row in cur.fetchall())
    assert "(case_id=?)" in plan and "team_id=?" not in plan, plan
