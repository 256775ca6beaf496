"""The scorecard's loop counts equal a plain recount from the loops, and what the loops API
lists through each row's drill-down links, for random loops, periods and viewers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.loops.models import Loop
from lastmile.scorecards.selectors import period_parse

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 25, tzinfo=UTC)
SPAN = 45 * 86_400  # seconds: from 25 October to 9 December
PERIODS = ["2026-11", "2026-W48", "2026-W44", "2026-11-10..2026-11-20"]


def loop_specs(period):  # type: ignore[no-untyped-def]
    """Loops closing anywhere in five weeks, half of them on the period's edges (and a
    second either side), where off-by-one errors live."""
    edges = [at + timedelta(seconds=d) for at in (period.start, period.end) for d in (-1, 0, 1)]
    anywhere = st.integers(0, SPAN).map(lambda s: T0 + timedelta(seconds=s))
    return st.fixed_dictionaries(
        {
            "assignee": st.sampled_from(["alice", "bob", "charlie", None]),
            "team": st.sampled_from(["front", "back"]),
            "state": st.sampled_from(["open", "closed", "closed", "broken", "cancelled"]),
            "closed_at": st.one_of(st.sampled_from(edges), anywhere),
            # the deadline: none, the very instant it closed, or some time before or after
            "due": st.one_of(st.none(), st.just(0), st.integers(-5 * 86_400, 5 * 86_400)),
            "breached": st.booleans(),
        }
    )


def recount(loops, period, teams, *, who=None, team=None):  # type: ignore[no-untyped-def]
    """The plain count, loop by loop, of what the metric definitions say, for the agent
    ``who`` or the team ``team`` among the loops of ``teams``."""
    mine = [
        lp
        for lp in loops
        if (team is not None or (lp.assignee is not None and lp.assignee.username == who))
        and (team is None or lp.team.slug == team)
        and lp.team.slug in teams
        and lp.closed_at is not None
        and period.start <= lp.closed_at < period.end
    ]
    closed = [lp for lp in mine if lp.state == "closed"]
    dated = [lp for lp in closed if lp.due_at is not None]
    on_time = [lp for lp in dated if lp.closed_at <= lp.due_at]
    return {
        "loops_closed": len(closed),
        "loops_closed_with_deadline": len(dated),
        "loops_closed_on_time": len(on_time),
        "on_time_rate": round(len(on_time) / len(dated), 4) if dated else None,
        "breaches": sum(1 for lp in mine if lp.breached_at is not None),
    }


def follow(api, link):  # type: ignore[no-untyped-def]
    parts = urlsplit(link)
    return api.get(parts.path.removeprefix("/api/v1"), **dict(parse_qsl(parts.query)))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(period_key=st.sampled_from(PERIODS), as_alice=st.booleans(), data=st.data())
def test_scorecard_counts_equal_a_recount_and_the_loops_api(
    api, api_as, customer, team, other_team, alice, bob, charlie, period_key, as_alice, data
):
    # given random loops (each example starts from none)
    period = period_parse(period_key, now=T0)
    specs = data.draw(st.lists(loop_specs(period), max_size=14), label="loops")
    Loop.objects.all().delete()
    users = {"alice": alice, "bob": bob, "charlie": charlie, None: None}
    teams = {"front": team, "back": other_team}
    loops = []
    for spec in specs:
        finished = spec["state"] != "open"
        closed_at = spec["closed_at"] if finished else None
        base = spec["closed_at"]
        due = None if spec["due"] is None else base + timedelta(seconds=spec["due"])
        loops.append(
            Loop(
                customer=customer,
                kind="task",
                title="Random",
                team=teams[spec["team"]],
                assignee=users[spec["assignee"]],
                state=spec["state"],
                opened_at=T0 - timedelta(days=1),
                clock_started_at=T0 - timedelta(days=1),
                closed_at=closed_at,
                due_at=due,
                breached_at=due if spec["breached"] and due is not None else None,
            )
        )
    Loop.objects.bulk_create(loops)
    client = api_as(alice) if as_alice else api
    visible = {"front"} if as_alice else {"front", "back"}

    # when the scorecards are asked for
    r = client.get("/scorecards", period=period_key)
    assert r.status_code == 200, r.content
    rows = {row["agent"]: row for row in r.json()["agents"]}

    # then every row's counts are the recount, and the loops API lists as many
    assert set(rows) == ({"alice"} if as_alice else {"alice", "bob", "charlie"})
    for who, row in rows.items():
        expected = recount(loops, period, visible, who=who)
        assert {k: row[k] for k in expected} == expected, who
        assert follow(client, row["links"]["loops_closed"]).json()["count"] == row["loops_closed"]
        assert follow(client, row["links"]["breaches"]).json()["count"] == row["breaches"]
    # and so are every team row's (a lead's and an admin's view), unassigned loops included
    teams = {row["slug"]: row for row in r.json()["teams"]}
    assert set(teams) == (set() if as_alice else {"front", "back"})
    for slug, row in teams.items():
        expected = recount(loops, period, visible, team=slug)
        assert {k: row[k] for k in expected} == expected, slug
        assert follow(client, row["links"]["loops_closed"]).json()["count"] == row["loops_closed"]
        assert follow(client, row["links"]["breaches"]).json()["count"] == row["breaches"]
