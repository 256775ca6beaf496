"""The scorecard's counts equal a plain recount, for random rows, periods and viewers: the
loop counts (a team's own loops left out) and what the loops API and the drill-down page list
through each row's links; first-contact resolution from random solved cases, replies and
reopenings; recovered and the revenue recovered per currency from random recoveries; and
the promise counts and what the promises API lists through their links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.cases.models import Case
from lastmile.customers.models import Interaction
from lastmile.loops.models import TEAM_OWN_KINDS, Loop
from lastmile.promises.models import Promise
from lastmile.recovery.models import Recovery
from lastmile.scorecards.selectors import period_parse
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.scorecards.rows_helpers import recovery, recovery_rule, reopened, reply

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
            # a team's own loops (no customer) are not customers' work: never counted
            "kind": st.sampled_from(["task", "task", "reply", "ack", "coaching", "dispute"]),
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
        and lp.kind not in TEAM_OWN_KINDS
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


def drill_count(client, link):  # type: ignore[no-untyped-def]
    """How many loops the scorecards' drill-down page lists for a loops API link."""
    r = client.get("/scorecards/loops/?" + urlsplit(link).query)
    assert r.status_code == 200, r.content
    return int(re.search(r'id="drill-count"><strong>(\d+)<', r.content.decode()).group(1))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(period_key=st.sampled_from(PERIODS), as_alice=st.booleans(), data=st.data())
def test_scorecard_counts_equal_a_recount_and_the_loops_api(
    api,
    api_as,
    admin_user,
    customer,
    team,
    other_team,
    alice,
    bob,
    charlie,
    period_key,
    as_alice,
    data,
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
        own = spec["kind"] in TEAM_OWN_KINDS
        loops.append(
            Loop(
                customer=None if own else customer,
                kind=spec["kind"],
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
    browser = Client()
    browser.force_login(alice if as_alice else admin_user)

    # when the scorecards are asked for
    r = client.get("/scorecards", period=period_key)
    assert r.status_code == 200, r.content
    rows = {row["agent"]: row for row in r.json()["agents"]}

    # then every row's counts are the recount, and the loops API lists as many
    # (the admin, a member of no team, is nobody's agent: no row)
    assert set(rows) == ({"alice"} if as_alice else {"alice", "bob", "charlie"})
    for who, row in rows.items():
        expected = recount(loops, period, visible, who=who)
        assert {k: row[k] for k in expected} == expected, who
        for name in ("loops_closed", "breaches"):
            assert drill_count(browser, row["links"][name]) == row[name], (who, name)
            assert follow(client, row["links"][name]).json()["count"] == row[name]
    # and so are every team row's (a lead's and an admin's view), unassigned loops included
    teams = {row["slug"]: row for row in r.json()["teams"]}
    assert set(teams) == (set() if as_alice else {"front", "back"})
    for slug, row in teams.items():
        expected = recount(loops, period, visible, team=slug)
        assert {k: row[k] for k in expected} == expected, slug
        for name in ("loops_closed", "breaches"):
            assert drill_count(browser, row["links"][name]) == row[name], (slug, name)
            assert follow(client, row["links"][name]).json()["count"] == row[name]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(period_key=st.sampled_from(PERIODS), data=st.data())
def test_first_contact_resolution_equals_a_recount_and_its_rows(
    api, client, admin_user, customer, team, other_team, alice, bob, period_key, data
):
    # given random cases solved around the period's edges, each with some agent replies,
    # automatic messages and notes, and sometimes reopened
    period = period_parse(period_key, now=T0)
    Interaction.objects.all().delete()
    Case.objects.all().delete()
    edges = [at + timedelta(seconds=d) for at in (period.start, period.end) for d in (-1, 0, 1)]
    anywhere = st.integers(0, SPAN).map(lambda s: T0 + timedelta(seconds=s))
    specs = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "assignee": st.sampled_from(["alice", "bob", None]),
                    "team": st.sampled_from(["front", "back"]),
                    "solved_at": st.one_of(st.none(), st.sampled_from(edges), anywhere),
                    "replies": st.integers(0, 3),
                    "automatic": st.integers(0, 2),
                    "notes": st.integers(0, 1),
                    "reopened": st.booleans(),
                }
            ),
            max_size=10,
        ),
        label="cases",
    )
    users = {"alice": alice, "bob": bob, None: None}
    teams = {"front": team, "back": other_team}
    cases = []
    for spec in specs:
        case = CaseFactory(
            customer=customer,
            team=teams[spec["team"]],
            assignee=users[spec["assignee"]],
            status="solved" if spec["solved_at"] else "open",
            solved_at=spec["solved_at"],
        )
        at = (spec["solved_at"] or T0) - timedelta(hours=1)
        for _ in range(spec["replies"]):
            reply(case, at, alice)
        for _ in range(spec["automatic"]):
            reply(case, at, None)
        for _ in range(spec["notes"]):
            reply(case, at, alice, direction="note")
        if spec["reopened"]:
            reopened(case, at)
        cases.append((case, spec))

    # when the scorecards are asked for
    body = api.get("/scorecards", period=period_key).json()

    # then each row's figures are the plain recount
    def recount(mine):  # type: ignore[no-untyped-def]
        solved = [
            s
            for _, s in mine
            if s["solved_at"] is not None and period.start <= s["solved_at"] < period.end
        ]
        first = [s for s in solved if s["replies"] == 1 and not s["reopened"]]
        return {
            "cases_solved": len(solved),
            "first_contact_resolved": len(first),
            "first_contact_resolution": round(len(first) / len(solved), 4) if solved else None,
        }

    client.force_login(admin_user)
    rows = [
        (r, [c for c in cases if c[1]["assignee"] == r["agent"]], "agent") for r in body["agents"]
    ]
    rows += [(r, [c for c in cases if c[1]["team"] == r["slug"]], "team") for r in body["teams"]]
    for row, mine, who in rows:
        expected = recount(mine)
        assert {k: row[k] for k in expected} == expected, row.get("agent") or row["slug"]
        # and the drill-down lists exactly those cases, marking the first-contact ones
        html = client.get(row["links"]["first_contact_resolution"]).content.decode()
        listed = set(re.findall(r'id="rows-case-(\d+)" data-first-contact="(\w+)"', html))
        want = {
            (str(c.number), "yes" if s["replies"] == 1 and not s["reopened"] else "no")
            for c, s in mine
            if s["solved_at"] is not None and period.start <= s["solved_at"] < period.end
        }
        assert listed == want, who


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(period_key=st.sampled_from(PERIODS), data=st.data())
def test_revenue_recovered_per_currency_equals_a_recount(
    api, client, admin_user, customer, team, other_team, alice, bob, period_key, data, now
):
    # given random recovery loops, recovered or lost around the period's edges, with revenue
    # in one of two currencies, or none
    period = period_parse(period_key, now=T0)
    Recovery.objects.all().delete()
    Loop.objects.all().delete()
    rule = recovery_rule(team, now)
    edges = [at + timedelta(seconds=d) for at in (period.start, period.end) for d in (-1, 0, 1)]
    anywhere = st.integers(0, SPAN).map(lambda s: T0 + timedelta(seconds=s))
    specs = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "assignee": st.sampled_from(["alice", "bob", None]),
                    "team": st.sampled_from(["front", "back"]),
                    "outcome": st.sampled_from(["recovered", "recovered", "lost", "open"]),
                    "at": st.one_of(st.sampled_from(edges), anywhere),
                    "revenue": st.one_of(st.none(), st.integers(1, 10**6)),
                    "currency": st.sampled_from(["EUR", "GBP", ""]),
                }
            ),
            max_size=10,
        ),
        label="recoveries",
    )
    users = {"alice": alice, "bob": bob, None: None}
    teams = {"front": team, "back": other_team}
    made = []
    for spec in specs:
        done = spec["outcome"] != "open"
        loop = Loop.objects.create(
            customer=CustomerFactory(),  # one open recovery per person and rule
            kind="recovery",
            title="Cart",
            team=teams[spec["team"]],
            assignee=users[spec["assignee"]],
            state="closed" if done else "open",
            opened_at=T0 - timedelta(days=1),
            clock_started_at=T0 - timedelta(days=1),
            closed_at=spec["at"] if done else None,
        )
        cents = spec["revenue"]
        recovery(
            rule,
            loop,
            outcome=spec["outcome"],
            closed_at=spec["at"] if done else None,
            revenue=None if cents is None else f"{cents / 100:.2f}",
            currency=spec["currency"],
        )
        made.append(spec)

    body = api.get("/scorecards", period=period_key).json()

    def recount(mine):  # type: ignore[no-untyped-def]
        won = [
            s for s in mine if s["outcome"] == "recovered" and period.start <= s["at"] < period.end
        ]
        sums: dict[str, int] = {}
        for s in won:
            if s["revenue"] is not None:
                sums[s["currency"]] = sums.get(s["currency"], 0) + s["revenue"]
        revenue = sorted(sums.items(), key=lambda cv: (-cv[1], cv[0]))
        return len(won), [{"currency": c, "amount": Decimal(v) / 100} for c, v in revenue]

    rows = [(r, [s for s in made if s["assignee"] == r["agent"]]) for r in body["agents"]]
    rows += [(r, [s for s in made if s["team"] == r["slug"]]) for r in body["teams"]]
    client.force_login(admin_user)
    for row, mine in rows:
        n, revenue = recount(mine)
        got = [
            {"currency": x["currency"], "amount": Decimal(x["amount"])}
            for x in row["revenue_recovered"]
        ]
        assert (row["recovered"], got) == (n, revenue), row.get("agent") or row["slug"]
        html = client.get(row["links"]["revenue_recovered"]).content.decode()
        assert len(re.findall(r'id="rows-recovery-\d+"', html)) == n


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(period_key=st.sampled_from(PERIODS), data=st.data())
def test_promise_counts_equal_a_recount_and_the_promises_api(
    api, customer, team, other_team, alice, bob, period_key, data
):
    period = period_parse(period_key, now=T0)
    Promise.objects.all().delete()
    edges = [at + timedelta(seconds=d) for at in (period.start, period.end) for d in (-1, 0, 1)]
    anywhere = st.integers(0, SPAN).map(lambda s: T0 + timedelta(seconds=s))
    specs = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "made_by": st.sampled_from(["alice", "bob", None]),
                    "team": st.sampled_from(["front", "back"]),
                    "state": st.sampled_from(["open", "kept", "broken", "withdrawn"]),
                    "made_at": st.one_of(st.sampled_from(edges), anywhere),
                }
            ),
            max_size=10,
        ),
        label="promises",
    )
    users = {"alice": alice, "bob": bob, None: None}
    teams = {"front": team, "back": other_team}
    for s in specs:
        Promise.objects.create(
            customer=customer,
            text="a refund",
            channel="email",
            team=teams[s["team"]],
            made_by=users[s["made_by"]],
            made_by_name=s["made_by"] or "someone",
            made_at=s["made_at"],
            due_at=s["made_at"] + timedelta(days=2),
            recorded_via="test",
            state=s["state"],
            outcome_at=None if s["state"] == "open" else s["made_at"] + timedelta(days=1),
        )
    body = api.get("/scorecards", period=period_key).json()
    rows = [(r, [s for s in specs if s["made_by"] == r["agent"]]) for r in body["agents"]]
    rows += [(r, [s for s in specs if s["team"] == r["slug"]]) for r in body["teams"]]
    for row, mine in rows:
        inside = [s for s in mine if period.start <= s["made_at"] < period.end]
        expected = {
            "promises_made": len(inside),
            "promises_kept": sum(1 for s in inside if s["state"] == "kept"),
            "promises_broken": sum(1 for s in inside if s["state"] == "broken"),
        }
        assert {k: row[k] for k in expected} == expected
        for name, n in expected.items():
            assert follow(api, row["links"][name]).json()["count"] == n, name
