"""The dashboard's weekly rollups equal a plain recount from the loops, week by week and
team by team, for random loops around the weeks' edges; computing twice writes the same
rows; the worker's run touches only the week in progress and the one before."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.customers.models import Customer
from lastmile.loops.models import TEAM_OWN_KINDS, Loop
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollups import rollups_rebuild, rollups_refresh, week_of, week_start
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday
WEEKS = 4
FIRST = week_start(week_of(NOW)) - timedelta(weeks=WEEKS - 1)
SPAN = int((NOW - FIRST).total_seconds()) + 7 * 86_400
EDGES = [
    week_start(week_of(NOW)) - timedelta(weeks=i) + timedelta(seconds=d)
    for i in range(WEEKS)
    for d in (-1, 0, 1)
] + [NOW]


def instant():  # type: ignore[no-untyped-def]
    anywhere = st.integers(-7 * 86_400, SPAN).map(lambda s: FIRST + timedelta(seconds=s))
    return st.one_of(st.sampled_from(EDGES), anywhere)


def loop_specs():  # type: ignore[no-untyped-def]
    return st.fixed_dictionaries(
        {
            "team": st.sampled_from(["front", "back"]),
            # a team's own loops (no customer) are left out of every figure
            "kind": st.sampled_from(["task", "task", "reply", "ack", "coaching"]),
            "opened_at": instant(),
            "state": st.sampled_from(["open", "open", "closed", "closed", "broken", "cancelled"]),
            "closes_after": st.integers(0, 10 * 86_400),
            "due": st.one_of(st.none(), st.just(0), st.integers(-3 * 86_400, 9 * 86_400)),
            "breached": st.booleans(),
        }
    )


def customer_for_loops():  # type: ignore[no-untyped-def]
    return Customer.objects.first() or CustomerFactory()


def make_loops(specs, teams):  # type: ignore[no-untyped-def]
    rows = []
    for s in specs:
        closed_at = None
        if s["state"] != "open":
            closed_at = s["opened_at"] + timedelta(seconds=s["closes_after"])
            if closed_at > NOW:
                closed_at = NOW
        due = None if s["due"] is None else s["opened_at"] + timedelta(seconds=s["due"])
        kind = s.get("kind", "task")
        rows.append(
            Loop(
                kind=kind,
                customer=None if kind in TEAM_OWN_KINDS else customer_for_loops(),
                title="a loop",
                team=teams[s["team"]],
                state=s["state"],
                opened_at=s["opened_at"],
                clock_started_at=s["opened_at"],
                closed_at=closed_at,
                due_at=due,
                breached_at=due if (s["breached"] and due is not None) else None,
            )
        )
    return Loop.objects.bulk_create(rows)


def recount(loops, team, week):  # type: ignore[no-untyped-def]
    """Loop by loop, what the definitions say for ``team`` in the week of Monday ``week``."""
    start = week_start(week)
    end = start + timedelta(days=7)
    at = min(end, NOW)
    mine = [lp for lp in loops if lp.team_id == team.pk and lp.kind not in TEAM_OWN_KINDS]
    open_ = [
        lp for lp in mine if lp.opened_at <= at and (lp.closed_at is None or lp.closed_at > at)
    ]
    late = sorted(
        (at - lp.due_at).total_seconds() / 3600
        for lp in open_
        if lp.due_at is not None and lp.due_at < at
    )
    finished = [lp for lp in mine if lp.closed_at is not None and start <= lp.closed_at < at]
    closed = [lp for lp in finished if lp.state == "closed"]
    dated = [lp for lp in closed if lp.due_at is not None]
    return {
        "open_loops": len(open_),
        "overdue_loops": len(late),
        "overdue_mean_hours": round(sum(late) / len(late), 2) if late else None,
        "overdue_p95_hours": round(late[math.ceil(0.95 * len(late)) - 1], 2) if late else None,
        "loops_finished": len(finished),
        "breaches": sum(1 for lp in finished if lp.breached_at is not None),
        "loops_closed": len(closed),
        "loops_closed_with_deadline": len(dated),
        "loops_closed_on_time": sum(1 for lp in dated if lp.closed_at <= lp.due_at),
    }


def stored(team, week):  # type: ignore[no-untyped-def]
    row = TeamWeekRollup.objects.get(team=team, week=week)
    return {
        "open_loops": row.open_loops,
        "overdue_loops": row.overdue_loops,
        "overdue_mean_hours": row.overdue_mean_hours,
        "overdue_p95_hours": row.overdue_p95_hours,
        "loops_finished": row.loops_finished,
        "breaches": row.breaches,
        "loops_closed": row.loops_closed,
        "loops_closed_with_deadline": row.loops_closed_with_deadline,
        "loops_closed_on_time": row.loops_closed_on_time,
    }


def close_enough(got, want):  # type: ignore[no-untyped-def]
    """Equal, the hours to within 0.01 (SQLite's julianday is a float of days)."""
    for name, value in want.items():
        if isinstance(value, float) and got[name] is not None:
            assert got[name] == pytest.approx(value, abs=0.011), name
        else:
            assert got[name] == value, name


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(loop_specs(), max_size=40))
def test_rollups_equal_a_plain_recount_of_the_loops(team, other_team, specs):
    # given random loops opening, closing and falling due around the weeks' edges
    Loop.objects.all().delete()
    TeamWeekRollup.objects.all().delete()
    loops = make_loops(specs, {"front": team, "back": other_team})

    # when the last four weeks are rolled up
    written = rollups_rebuild(weeks=WEEKS, now=NOW)

    # then every team has a row for every week, each equal to the recount
    assert written == 2 * WEEKS
    for t in (team, other_team):
        for i in range(WEEKS):
            week = week_of(NOW) - timedelta(weeks=i)
            close_enough(stored(t, week), recount(loops, t, week))


def snapshot():  # type: ignore[no-untyped-def]
    return sorted(
        TeamWeekRollup.objects.values_list(
            "team_id", "week", *[f for f in ("open_loops", "overdue_loops", "breaches")]
        )
    ), sorted(
        (r.team_id, r.week, tuple(getattr(r, f.attname) for f in TeamWeekRollup._meta.fields[1:]))
        for r in TeamWeekRollup.objects.all()
    )


def test_rolling_up_twice_writes_the_same_rows(team, other_team):
    # given a few loops, rolled up once
    make_loops(
        [
            {
                "team": "front",
                "opened_at": NOW - timedelta(days=9),
                "state": "open",
                "closes_after": 0,
                "due": 3600,
                "breached": True,
            },
            {
                "team": "back",
                "opened_at": NOW - timedelta(days=2),
                "state": "closed",
                "closes_after": 7200,
                "due": 86_400,
                "breached": False,
            },
        ],
        {"front": team, "back": other_team},
    )
    rollups_rebuild(weeks=WEEKS, now=NOW)
    first = snapshot()
    ids = set(TeamWeekRollup.objects.values_list("pk", flat=True))

    # when it runs again at the same instant
    rollups_rebuild(weeks=WEEKS, now=NOW)

    # then the rows are the same rows with the same figures, none added
    assert snapshot() == first
    assert set(TeamWeekRollup.objects.values_list("pk", flat=True)) == ids
    assert TeamWeekRollup.objects.count() == 2 * WEEKS
    front_now = TeamWeekRollup.objects.get(team=team, week=week_of(NOW))
    assert (front_now.open_loops, front_now.overdue_loops) == (1, 1)
    assert front_now.computed_at == NOW and front_now.snapshot_at == NOW


def test_the_workers_run_recomputes_this_week_and_the_last_only(team):
    # given thirteen weeks rolled up an hour ago, and a loop opened since
    rollups_rebuild(now=NOW - timedelta(hours=1))
    assert TeamWeekRollup.objects.count() == 13
    make_loops(
        [
            {
                "team": "front",
                "opened_at": NOW - timedelta(minutes=5),
                "state": "open",
                "closes_after": 0,
                "due": None,
                "breached": False,
            }
        ],
        {"front": team},
    )

    # when the worker runs
    assert rollups_refresh(now=NOW) == 2

    # then this week's row counts the loop and says when; older weeks are as they were
    row = TeamWeekRollup.objects.get(team=team, week=week_of(NOW))
    assert row.open_loops == 1 and row.computed_at == NOW
    last = TeamWeekRollup.objects.get(team=team, week=week_of(NOW) - timedelta(weeks=1))
    assert last.computed_at == NOW
    older = TeamWeekRollup.objects.exclude(computed_at=NOW)
    assert older.count() == 11
    assert set(older.values_list("computed_at", flat=True)) == {NOW - timedelta(hours=1)}


def test_no_team_no_rows(db):
    assert rollups_rebuild(weeks=3, now=NOW) == 0
    assert not TeamWeekRollup.objects.exists()


def count_queries(fn):  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_loops(team, other_team):
    # given a few loops, then many more
    spec = {
        "team": "front",
        "opened_at": NOW - timedelta(days=3),
        "state": "closed",
        "closes_after": 3600,
        "due": 7200,
        "breached": False,
    }
    make_loops([spec] * 3, {"front": team, "back": other_team})
    few = count_queries(lambda: rollups_rebuild(weeks=WEEKS, now=NOW))
    make_loops([dict(spec, team="back", state="open")] * 200, {"front": team, "back": other_team})
    many = count_queries(lambda: rollups_rebuild(weeks=WEEKS, now=NOW))

    # then computing reads them in the same number of grouped queries: one per figure (two
    # for the alerts: the counts and the loudest), one per week's snapshot, the teams, the
    # agents' two, the answers of no team, the live funnels (none here: the engine is not
    # asked), and the writes (two more: no team's and the funnels' weeks replaced)
    assert few == many
    assert many <= 1 + WEEKS + 10 + 2 + 2 + 5 + 2


def test_the_worker_task_writes_this_weeks_rows(team, settings):  # noqa: F811
    from lastmile.core.clock import utcnow
    from lastmile.scorecards.rollups import rollup_minutes
    from lastmile.scorecards.tasks import rollups_task

    rollups_task.call_local()
    row = TeamWeekRollup.objects.get(team=team, week=week_of(utcnow()))
    assert row.computed_at <= utcnow()
    assert TeamWeekRollup.objects.count() == 2

    assert rollup_minutes() == 10
    settings.LASTMILE_ROLLUP_MINUTES = 5
    assert rollup_minutes() == 5
    settings.LASTMILE_ROLLUP_MINUTES = 0
    assert rollup_minutes() == 1
