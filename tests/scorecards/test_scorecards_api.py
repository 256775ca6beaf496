"""GET /api/v1/scorecards: the metrics of agents and teams for a period, with their
definitions and the loops API queries behind the counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.cases.services import case_reopen_on_message, case_set_status
from lastmile.feedback.services import invite_create, response_record
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from lastmile.loops.services import loop_cancel, loop_close, loop_open, loop_reassign
from lastmile.promises.services import promise_break, promise_keep, promise_record
from lastmile.scorecards.selectors import METRICS
from tests.cases.factories import CaseFactory
from tests.feedback.factories import SurveyFactory, reachable_customer
from tests.people.factories import AgentFactory

pytestmark = pytest.mark.django_db

NOV = datetime(2026, 11, 1, tzinfo=UTC)


def task(customer, team, assignee, *, opened, due=None, title="Task"):  # type: ignore[no-untyped-def]
    return loop_open(
        customer=customer,
        kind="task",
        title=title,
        team=team,
        assignee=assignee,
        due_at=due,
        now=opened,
    )


def row(body, agent):  # type: ignore[no-untyped-def]
    found = [r for r in body["agents"] if r["agent"] == agent]
    assert len(found) == 1, body["agents"]
    return found[0]


def follow(api, link):  # type: ignore[no-untyped-def]
    """GET a drill-down link through the test client."""
    parts = urlsplit(link)
    assert parts.path.startswith("/api/v1/")
    return api.get(parts.path.removeprefix("/api/v1"), **dict(parse_qsl(parts.query)))


# --- periods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2026-W48", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"),
        ("2026-W01", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"),
        ("2026-11-02..2026-11-02", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
    ],
)
def test_a_period_is_whole_utc_days_said_so(api, period, start, end):
    r = api.get("/scorecards", period=period)
    assert r.status_code == 200, r.content
    p = r.json()["period"]
    assert (p["key"], p["start"].replace("+00:00", "Z"), p["end"].replace("+00:00", "Z")) == (
        period,
        start,
        end,
    )
    assert p["timezone"] == "UTC" and "UTC" in p["note"]


@pytest.mark.parametrize(
    "bad",
    [
        "2026-13",
        "2026-00",
        "2026-W54",
        "2026-W00",
        "1999-11",
        "2026-11-31..2026-12-01",
        "2026-11-05..2026-11-01",
        "2026-01-01..2027-12-31",
        "November",
        "2026-11-01",
    ],
)
def test_a_bad_period_is_a_422_naming_period(api, bad):
    r = api.get("/scorecards", period=bad)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["period"]


def test_no_period_is_the_current_month(api, frozen_clock):
    assert api.get("/scorecards").json()["period"]["key"] == "2026-11"


# --- the counts --------------------------------------------------------------------------


@pytest.fixture
def alices_month(customer, team, alice, bob, now):
    """In November alice closed one loop on time, one late (which the sweeper marked
    breached), one with no deadline and cancelled one; bob closed one; alice closed one in
    October and one in December."""
    on_time = task(customer, team, alice, opened=now, due=now + timedelta(hours=4))
    loop_close(loop=on_time, now=now + timedelta(hours=4))  # the minute of: on time
    late = task(customer, team, alice, opened=now, due=now + timedelta(hours=1))
    Loop.objects.filter(pk=late.pk).update(breached_at=now + timedelta(hours=1))
    loop_close(loop=late, now=now + timedelta(hours=1, minutes=1))
    loop_close(loop=task(customer, team, alice, opened=now), now=now + timedelta(hours=2))
    loop_cancel(loop=task(customer, team, alice, opened=now), reason="dup", now=now)
    loop_close(loop=task(customer, team, bob, opened=now), now=now + timedelta(hours=1))
    october = NOV - timedelta(hours=1)
    loop_close(loop=task(customer, team, alice, opened=october - timedelta(hours=1)), now=october)
    december = datetime(2026, 12, 1, tzinfo=UTC)  # the first instant after November
    loop_close(loop=task(customer, team, alice, opened=now), now=december)


def test_an_agents_loop_counts_for_the_month(api, alices_month):
    a = row(api.get("/scorecards", period="2026-11").json(), "alice")
    assert (a["loops_closed"], a["loops_closed_with_deadline"], a["loops_closed_on_time"]) == (
        3,
        2,
        1,
    )
    assert a["on_time_rate"] == 0.5
    assert a["breaches"] == 1
    assert row(api.get("/scorecards", period="2026-11").json(), "bob")["loops_closed"] == 1


def test_the_drill_down_links_list_exactly_the_loops_counted(api, alices_month):
    body = api.get("/scorecards", period="2026-11").json()
    for who in ("alice", "bob"):
        r = row(body, who)
        listed = follow(api, r["links"]["loops_closed"]).json()
        assert listed["count"] == r["loops_closed"]
        assert {x["assignee"] for x in listed["items"]} == {who}
        assert follow(api, r["links"]["breaches"]).json()["count"] == r["breaches"]
    front = body["teams"][0]
    assert front["slug"] == "front"
    assert follow(api, front["links"]["loops_closed"]).json()["count"] == front["loops_closed"] == 4


def test_a_week_counts_only_its_days(api, alices_month):
    # W48 holds 23 November (the loops above); W49 the December one
    assert row(api.get("/scorecards", period="2026-W48").json(), "alice")["loops_closed"] == 3
    assert row(api.get("/scorecards", period="2026-W49").json(), "alice")["loops_closed"] == 1


def test_an_agent_with_nothing_done_has_zeros_and_nulls(api, alice):
    a = row(api.get("/scorecards", period="2026-11").json(), "alice")
    assert a["loops_closed"] == 0 and a["on_time_rate"] is None
    assert a["first_reply_median_business_minutes"] is None and a["qa_score"] is None
    assert (a["team"], a["teams"]) == ("front", ["front"])


def test_every_metric_in_a_row_has_its_definition(api, alice):
    body = api.get("/scorecards", period="2026-11").json()
    assert body["definitions"] == METRICS
    metrics = set(row(body, "alice")) - {"agent", "name", "team", "teams", "links"}
    assert metrics == set(METRICS)


def test_the_first_reply_median_is_in_business_minutes(api, customer, team, alice, now):
    # given office hours 09:00-17:00 UTC on weekdays and reply loops under them
    hours = BusinessHours.objects.create(
        name="Office",
        timezone="UTC",
        weekly={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    SlaPolicy.objects.create(
        name="Replies", kind="reply", business_hours=hours, first_reply_minutes=240
    )
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)

    def reply(opened, closed):  # type: ignore[no-untyped-def]
        loop = loop_open(
            customer=customer, kind="reply", title="Q", team=team, assignee=alice, now=opened
        )
        loop_close(loop=loop, reason="replied", now=closed)

    # Friday 16:00 -> Monday 10:00: 120 business minutes (the weekend does not count);
    # Monday 10:00 -> 10:10: 10; Friday 16:30 -> Monday 09:30: 60. The median: 60.
    reply(friday, now)
    reply(now, now + timedelta(minutes=10))
    reply(friday + timedelta(minutes=30), now - timedelta(minutes=30))
    a = row(api.get("/scorecards", period="2026-11").json(), "alice")
    assert a["first_replies"] == 3
    assert a["first_reply_median_business_minutes"] == 60.0


def test_reassignments_away_count_for_who_lost_the_loop(api, customer, team, alice, bob, now):
    loop = task(customer, team, alice, opened=now)
    loop_reassign(loop=loop, assignee=bob, reason="holiday", now=now)
    loop_reassign(loop=loop, assignee=bob, reason="same again", now=now)  # not away from bob
    body = api.get("/scorecards", period="2026-11").json()
    assert row(body, "alice")["reassignments_away"] == 1
    assert row(body, "bob")["reassignments_away"] == 0


def test_the_sweepers_hand_over_to_the_lead_is_a_reassignment_away(api, customer, team, alice, now):
    loop = task(customer, team, alice, opened=now)
    loop.events.create(kind="reassigned", at=now, data={"level": 2, "from": alice.pk, "to": 999})
    assert row(api.get("/scorecards", period="2026-11").json(), "alice")["reassignments_away"] == 1


def test_a_reopened_case_counts_once_for_its_assignee(api, customer, team, alice, now):
    case = CaseFactory(customer=customer, team=team, assignee=alice)
    for minutes in (0, 10):
        case_set_status(case=case, status="solved", now=now + timedelta(minutes=minutes))
        case_reopen_on_message(case=case, now=now + timedelta(minutes=minutes + 1))
    assert row(api.get("/scorecards", period="2026-11").json(), "alice")["reopened_cases"] == 1


def test_csat_and_nps_of_the_agents_cases(api, team, alice, bob, now):
    # given answers on alice's cases (one customer each: a customer is asked once) and one
    # on bob's
    for kind, scores in (("csat", (5, 4, 2, 3)), ("nps", (10, 9, 8, 0))):
        survey = SurveyFactory(kind=kind, team=team)
        for score, assignee in [(s, alice) for s in scores] + [(1, bob)]:
            customer = reachable_customer()
            case = CaseFactory(customer=customer, team=team, assignee=assignee)
            invite = invite_create(
                survey=survey, customer=customer, channel="link", case=case, now=now
            )[0]
            response_record(invite=invite, score=score, now=now)
    a = row(api.get("/scorecards", period="2026-11").json(), "alice")
    assert (a["csat"], a["csat_responses"]) == (50.0, 4)
    assert (a["nps"], a["nps_responses"]) == (25.0, 4)
    b = row(api.get("/scorecards", period="2026-11").json(), "bob")
    assert (b["csat"], b["nps"]) == (0.0, -100.0)


# --- who sees what ------------------------------------------------------------------------


def test_an_agent_sees_only_their_own_row(api_as, alices_month, alice, bob, charlie):
    body = api_as(alice).get("/scorecards", period="2026-11").json()
    assert [r["agent"] for r in body["agents"]] == ["alice"]
    assert body["teams"] == []


def test_an_agent_asking_for_a_teammate_or_another_team_gets_a_404(api_as, alice, bob, charlie):
    assert api_as(alice).get("/scorecards", agent="bob").status_code == 404
    assert api_as(alice).get("/scorecards", team="back").status_code == 404


def test_an_agent_narrowing_to_their_own_team_still_sees_only_themselves(api_as, alice, bob):
    body = api_as(alice).get("/scorecards", team="front").json()
    assert [r["agent"] for r in body["agents"]] == ["alice"]
    assert body["teams"] == []


def test_a_lead_sees_their_teams_agents_and_not_an_outsider(api_as, lena, alice, bob, charlie):
    body = api_as(lena).get("/scorecards", period="2026-11").json()
    assert [r["agent"] for r in body["agents"]] == ["alice", "bob", "lena"]
    assert [t["slug"] for t in body["teams"]] == ["front"]
    assert api_as(lena).get("/scorecards", agent="charlie").status_code == 404
    assert api_as(lena).get("/scorecards", team="back").status_code == 404


def test_an_admin_and_an_integration_see_everyone(api, api_as, admin_user, alice, charlie):
    for client in (api, api_as(admin_user)):
        body = client.get("/scorecards", period="2026-11").json()
        assert {"alice", "charlie"} <= {r["agent"] for r in body["agents"]}
        assert [t["slug"] for t in body["teams"]] == ["back", "front"]


def test_an_admin_of_no_team_is_no_agent_row_and_a_member_of_two_is_one(
    api, api_as, admin_user, other_team, alice, bob, charlie
):
    # given the admin "boss", a member of no team, and alice also working in the back office
    alice.agent.teams.add(other_team)

    # when an integration and the admin ask for the scorecards, whole or narrowed to boss
    for client in (api, api_as(admin_user)):
        body = client.get("/scorecards", period="2026-11").json()
        narrowed = client.get("/scorecards", period="2026-11", agent="boss").json()

        # then every row is a team's member, each once, and the admin has none
        assert [r["agent"] for r in body["agents"]] == ["alice", "bob", "charlie"]
        assert narrowed["agents"] == [] and narrowed["teams"] == []


def test_the_team_and_agent_filters_narrow_the_rows(api, alice, bob, charlie):
    body = api.get("/scorecards", team="back").json()
    assert [r["agent"] for r in body["agents"]] == ["charlie"]
    assert [t["slug"] for t in body["teams"]] == ["back"]
    body = api.get("/scorecards", agent="bob").json()
    assert [r["agent"] for r in body["agents"]] == ["bob"]
    assert [t["slug"] for t in body["teams"]] == ["front"]


@pytest.mark.parametrize(("field", "value"), [("team", "nope"), ("agent", "nobody")])
def test_an_unknown_team_or_agent_is_a_422_naming_it(api, field, value):
    r = api.get("/scorecards", **{field: value})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [field]


def queries(api):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as context:
        assert api.get("/scorecards", period="2026-11").status_code == 200
    return len(context)


def test_the_scorecards_take_a_fixed_number_of_queries(api, customer, alice, other_team, now):
    # given the count with one agent and none of their loops (the token's first use written)
    api.get("/scorecards", period="2026-11")
    # 18 + the QA means, first-contact counts and breaches (by who held the loop) of agents
    # and teams
    assert queries(api) == 24
    # when there are more agents, teams and loops, then the count stays: grouped queries
    for n in range(5):
        user = AgentFactory(user__username=f"extra{n}", teams=[other_team]).user
        loop_close(loop=task(customer, other_team, user, opened=now), now=now)
    # 18 + the QA means, first-contact counts and breaches (by who held the loop) of agents
    # and teams
    assert queries(api) == 24


def test_promises_made_kept_and_broken_count_for_their_maker(api, case, team, alice, now):
    # given alice promised three things this month: one kept, one broken, one still open
    made = [
        promise_record(
            case=case,
            text=f"Promise {n}",
            terms={},
            due_at=now + timedelta(days=2),
            team=team,
            channel="email",
            made_by=alice,
            actor=alice,
            now=now,
        )
        for n in range(3)
    ]
    promise_keep(promise=made[0], actor=alice, now=now + timedelta(hours=1))
    promise_break(promise=made[1], actor=alice, reason="out of stock", now=now + timedelta(hours=1))
    body = api.get("/scorecards", period="2026-11").json()
    a = row(body, "alice")
    assert (a["promises_made"], a["promises_kept"], a["promises_broken"]) == (3, 1, 1)
    front = next(t for t in body["teams"] if t["slug"] == "front")
    assert (front["promises_made"], front["promises_kept"], front["promises_broken"]) == (3, 1, 1)
    # and none of them in October
    a = row(api.get("/scorecards", period="2026-10").json(), "alice")
    assert a["promises_made"] == 0


def test_a_loop_moved_to_another_team_is_a_reassignment_away_for_the_team(
    api, customer, team, other_team, alice, now
):
    loop = task(customer, team, alice, opened=now)
    loop_reassign(loop=loop, team=other_team, reason="billing question", now=now)
    body = api.get("/scorecards", period="2026-11").json()
    teams = {t["slug"]: t["reassignments_away"] for t in body["teams"]}
    assert teams == {"front": 1, "back": 0}
    assert row(body, "alice")["reassignments_away"] == 1
