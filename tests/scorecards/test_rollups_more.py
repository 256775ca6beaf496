"""The rollups' newer figures beside a plain recount, week by week and team by team (and
agent by agent): first-contact resolution from random solved cases, replies and reopenings;
the recovery close rate and the revenue recovered per currency from random recoveries; the
week's five loudest alerts of each team; and the agents' loop counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.cases.models import Case
from lastmile.crisis.models import Alert
from lastmile.customers.models import Interaction
from lastmile.listening.models import WatchTerm
from lastmile.loops.models import TEAM_OWN_KINDS, Loop
from lastmile.recovery.models import Recovery
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollup_models import AgentWeekRollup
from lastmile.scorecards.rollups import figures, rollups_rebuild, week_of, week_start
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.scorecards.rows_helpers import recovery, recovery_rule, reopened, reply

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday
WEEKS = 3
FIRST = week_start(week_of(NOW)) - timedelta(weeks=WEEKS - 1)
SPAN = int((NOW - FIRST).total_seconds())
EDGES = [
    week_start(week_of(NOW)) - timedelta(weeks=i) + timedelta(seconds=d)
    for i in range(WEEKS)
    for d in (-1, 0, 1)
] + [NOW - timedelta(seconds=1)]
SLOW = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def instant():  # type: ignore[no-untyped-def]
    anywhere = st.integers(-86_400, SPAN - 1).map(lambda s: FIRST + timedelta(seconds=s))
    return st.one_of(st.sampled_from(EDGES), anywhere)


def weeks():  # type: ignore[no-untyped-def]
    return [week_of(NOW) - timedelta(weeks=i) for i in range(WEEKS)]


def in_week(at, week):  # type: ignore[no-untyped-def]
    return at is not None and week_start(week) <= at < week_start(week) + timedelta(days=7)


@SLOW
@given(data=st.data())
def test_first_contact_resolution_per_team_and_week_equals_a_recount(team, other_team, alice, data):
    Interaction.objects.all().delete()
    Case.objects.all().delete()
    specs = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "team": st.sampled_from(["front", "back"]),
                    "mine": st.booleans(),
                    "solved_at": st.one_of(st.none(), instant()),
                    "replies": st.integers(0, 2),
                    "automatic": st.integers(0, 1),
                    "reopened": st.booleans(),
                }
            ),
            max_size=12,
        )
    )
    teams = {"front": team, "back": other_team}
    customer = CustomerFactory()
    for s in specs:
        case = CaseFactory(
            customer=customer,
            team=teams[s["team"]],
            assignee=alice if s["mine"] else None,
            status="solved" if s["solved_at"] else "open",
            solved_at=s["solved_at"],
        )
        at = (s["solved_at"] or NOW) - timedelta(hours=1)
        for _ in range(s["replies"]):
            reply(case, at, alice)
        for _ in range(s["automatic"]):
            reply(case, at, None)
        if s["reopened"]:
            reopened(case, at)

    rollups_rebuild(weeks=WEEKS, now=NOW)

    def recount(mine, week):  # type: ignore[no-untyped-def]
        solved = [s for s in mine if in_week(s["solved_at"], week)]
        first = [s for s in solved if s["replies"] == 1 and not s["reopened"]]
        return len(solved), len(first)

    for slug, t in teams.items():
        for week in weeks():
            row = TeamWeekRollup.objects.get(team=t, week=week)
            want = recount([s for s in specs if s["team"] == slug], week)
            assert (row.cases_solved, row.first_contact_resolved) == want, (slug, week)
            shown = figures(row)["first_contact_resolution"]
            assert shown == (round(100 * want[1] / want[0], 1) if want[0] else None)
    for week in weeks():
        row = AgentWeekRollup.objects.filter(agent=alice, week=week).first()
        want = recount([s for s in specs if s["mine"]], week)
        got = (row.cases_solved, row.first_contact_resolved) if row else (0, 0)
        assert got == want, week


@SLOW
@given(data=st.data())
def test_recoveries_and_revenue_per_team_and_week_equal_a_recount(team, other_team, now, data):
    Recovery.objects.all().delete()
    Loop.objects.all().delete()
    specs = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "team": st.sampled_from(["front", "back"]),
                    "outcome": st.sampled_from(["recovered", "recovered", "lost", "open"]),
                    "at": instant(),
                    "revenue": st.one_of(st.none(), st.integers(1, 10**6)),
                    "currency": st.sampled_from(["EUR", "GBP", ""]),
                }
            ),
            max_size=12,
        )
    )
    teams = {"front": team, "back": other_team}
    rule = recovery_rule(team, now)
    for s in specs:
        done = s["outcome"] != "open"
        loop = Loop.objects.create(
            customer=CustomerFactory(),
            kind="recovery",
            title="Cart",
            team=teams[s["team"]],
            state="closed" if done else "open",
            opened_at=FIRST - timedelta(days=2),
            clock_started_at=FIRST - timedelta(days=2),
            closed_at=s["at"] if done else None,
        )
        cents = s["revenue"]
        recovery(
            rule,
            loop,
            outcome=s["outcome"],
            closed_at=s["at"] if done else None,
            revenue=None if cents is None else f"{cents / 100:.2f}",
            currency=s["currency"],
        )

    rollups_rebuild(weeks=WEEKS, now=NOW)

    for slug, t in teams.items():
        for week in weeks():
            ended = [
                s
                for s in specs
                if s["team"] == slug and s["outcome"] != "open" and in_week(s["at"], week)
            ]
            won = [s for s in ended if s["outcome"] == "recovered"]
            sums: dict[str, int] = {}
            for s in won:
                if s["revenue"] is not None:
                    sums[s["currency"]] = sums.get(s["currency"], 0) + s["revenue"]
            row = TeamWeekRollup.objects.get(team=t, week=week)
            assert (row.recoveries_recovered, row.recoveries_lost) == (
                len(won),
                len(ended) - len(won),
            )
            assert {c: Decimal(v) for c, v in row.revenue_recovered.items()} == {
                c: Decimal(v) / 100 for c, v in sums.items()
            }
            rate = figures(row)["recovery_rate"]
            assert rate == (round(100 * len(won) / len(ended), 1) if ended else None)


def alert(term, team, at, mentions, signal="volume", state="resolved"):  # type: ignore[no-untyped-def]
    return Alert.objects.create(
        term=term,
        team=team,
        signal=signal,
        bucket_start=at - timedelta(minutes=5),
        bucket_end=at,
        observed=float(mentions),
        score=0.9,
        sensitivity=0.5,
        details={"mentions": mentions},
        state=state,
        raised_at=at,
    )


def test_the_loudest_five_alerts_of_each_team_and_week(team, other_team, now):
    term = WatchTerm.objects.create(name="Acme", query="acme", kind="brand", created_at=now)
    this = week_start(week_of(NOW))
    ours = [
        alert(term, team, this + timedelta(hours=i), m)
        for i, m in enumerate([3, 40, 7, 12, 40, 1, 9])
    ]
    alert(term, team, this - timedelta(seconds=1), 500)  # last week's
    alert(term, other_team, this + timedelta(hours=1), 900)  # another team's
    alert(term, None, this + timedelta(hours=1), 999)  # no team's

    rollups_rebuild(weeks=2, now=NOW)

    row = TeamWeekRollup.objects.get(team=team, week=this.date())
    assert row.alerts == 7
    # most mentions first; a tie goes to the later one
    assert [a["id"] for a in row.alerts_top] == [
        ours[4].pk,
        ours[1].pk,
        ours[3].pk,
        ours[6].pk,
        ours[2].pk,
    ]
    assert row.alerts_top[0] == {
        "id": ours[4].pk,
        "term": "Acme",
        "signal": "Mention volume",
        "mentions": 40,
        "state": "resolved",
    }
    last = TeamWeekRollup.objects.get(team=team, week=(this - timedelta(weeks=1)).date())
    assert last.alerts == 1 and last.alerts_top[0]["mentions"] == 500
    assert TeamWeekRollup.objects.get(team=other_team, week=this.date()).alerts == 1


def test_agent_rollups_count_their_customers_loops_and_are_replaced(team, alice, bob):
    customer = CustomerFactory()
    at = week_start(week_of(NOW)) - timedelta(days=5)  # last week's Wednesday

    def loop(kind, who, *, late):  # type: ignore[no-untyped-def]
        due = at - timedelta(hours=1) if late else at + timedelta(hours=1)
        return Loop.objects.create(
            customer=None if kind in TEAM_OWN_KINDS else customer,
            kind=kind,
            title="x",
            team=team,
            assignee=who,
            state="closed",
            opened_at=at - timedelta(days=1),
            clock_started_at=at - timedelta(days=1),
            closed_at=at,
            due_at=due,
            breached_at=due if late else None,
        )

    loop("task", alice, late=False)
    moved = loop("task", alice, late=True)
    loop("coaching", alice, late=True)  # a team's own: not counted
    rollups_rebuild(weeks=2, now=NOW)
    row = AgentWeekRollup.objects.get(agent=alice, week=week_of(at))
    assert (row.loops_closed, row.loops_closed_on_time, row.breaches) == (2, 1, 1)
    assert not AgentWeekRollup.objects.filter(agent=bob).exists()

    # when the late loop is given to bob and the week recomputed, each has their own
    Loop.objects.filter(pk=moved.pk).update(assignee=bob)
    rollups_rebuild(weeks=2, now=NOW)
    mine = AgentWeekRollup.objects.get(agent=alice, week=week_of(at))
    his = AgentWeekRollup.objects.get(agent=bob, week=week_of(at))
    assert (mine.loops_closed, mine.breaches, his.loops_closed, his.breaches) == (1, 0, 1, 1)
    assert AgentWeekRollup.objects.count() == 2
