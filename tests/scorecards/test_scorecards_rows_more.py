"""The scorecard page's lists behind reopened cases, reassignments away, CSAT and NPS: as
many rows as the card's number, for the agent and for the team, on the page too."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.cases.services import case_reopen_on_message, case_set_status
from lastmile.feedback.services import invite_create, response_record
from lastmile.loops.services import loop_open, loop_reassign
from lastmile.people.viewers import SYSTEM
from lastmile.scorecards.selectors import figure_rows, period_parse, scorecards
from lastmile.scorecards.views import COLUMNS
from tests.cases.factories import CaseFactory
from tests.feedback.factories import SurveyFactory, reachable_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(customer, team, alice, bob, now):  # type: ignore[no-untyped-def]
    """Alice's November: a case reopened twice, two loops taken from her (one given back
    to her, and given away again), three CSAT and two NPS answers on her cases; bob's:
    one of each."""
    case = CaseFactory(customer=customer, team=team, assignee=alice)
    for minutes in (0, 10):
        case_set_status(case=case, status="solved", now=now + timedelta(minutes=minutes))
        case_reopen_on_message(case=case, now=now + timedelta(minutes=minutes + 1))
    for n in range(2):
        loop = loop_open(
            customer=customer, kind="task", title=f"T{n}", team=team, assignee=alice, now=now
        )
        loop_reassign(loop=loop, assignee=bob, reason="holiday", now=now)
    loop_reassign(loop=loop, assignee=alice, reason="back", now=now)
    loop_reassign(loop=loop, assignee=bob, reason="away again", now=now)
    for kind, scores in (("csat", (5, 2, 4)), ("nps", (10, 3))):
        survey = SurveyFactory(kind=kind, team=team)
        for score, assignee in [(s, alice) for s in scores] + [(1, bob)]:
            someone = reachable_customer()
            on = CaseFactory(customer=someone, team=team, assignee=assignee)
            invite = invite_create(
                survey=survey, customer=someone, channel="link", case=on, now=now
            )
            response_record(invite=invite[0], score=score, now=now)
    return period_parse("2026-11", now=now)


@pytest.mark.parametrize(
    ("figure", "metric", "alices"),
    [
        ("reopened_cases", "reopened_cases", 1),
        ("reassignments_away", "reassignments_away", 3),
        ("csat", "csat_responses", 3),
        ("nps", "nps_responses", 2),
    ],
)
def test_the_rows_recount_the_agents_and_the_teams_number(
    month, alice, team, figure, metric, alices
):
    cards = scorecards(viewer=SYSTEM, period=month)
    a = next(c for c in cards.agents if c.key == "alice")
    t = next(c for c in cards.teams if c.key == team.slug)
    assert a.metrics[metric] == alices
    got = figure_rows(viewer=SYSTEM, period=month, figure=figure, agent=alice)
    assert got.count == len(got.items) == alices
    got = figure_rows(viewer=SYSTEM, period=month, figure=figure, team=team)
    assert got.count == len(got.items) == t.metrics[metric]


def test_the_page_lists_the_answers_behind_alices_nps(client, month, alice):
    client.force_login(alice)
    html = client.get(
        "/scorecards/", {"period": "2026-11", "agent": "alice", "rows": "nps"}
    ).content.decode()
    assert 'data-count="2"' in html and html.count('id="rows-answer-') == 2
    # and her card's NPS links to that list
    page = client.get("/scorecards/", {"period": "2026-11"})
    (row,) = page.context["agents"]
    cell = next(c for c in row["cells"] if c["name"] == "nps")
    assert "rows=nps" in cell["link"] and "agent=alice" in cell["link"]


def test_rows_of_an_agent_the_viewer_may_not_see_are_a_404(client, month, charlie):
    client.force_login(charlie)
    r = client.get("/scorecards/", {"period": "2026-11", "agent": "alice", "rows": "csat"})
    assert r.status_code == 404


def test_an_agents_page_shows_every_metric_week_by_week(client, month, alice, now):
    # given alice's month above, all of it in the week of ``now``
    client.force_login(alice)
    with time_machine.travel(now, tick=False):
        page = client.get("/scorecards/", {"period": "2026-11"})
    weeks = page.context["weeks"]
    # then her page shows eight weeks, each with every metric of the card, linked
    assert len(weeks) == 8 and weeks[-1]["period"].start <= now < weeks[-1]["period"].end
    names = [name for name, _ in COLUMNS]
    for w in weeks:
        assert [c["name"] for c in w["cells"]] == names
        assert all(c["link"] for c in w["cells"])
    this_week = {c["name"]: c for c in weeks[-1]["cells"]}
    assert this_week["reassignments_away"]["shown"] == "3"
    assert this_week["nps"]["shown"] == "0.0"  # one promoter, one detractor
    assert {c["name"]: c["shown"] for c in weeks[0]["cells"]}["reassignments_away"] == "0"
    assert 'id="scorecards-weeks-table"' in page.content.decode()


def test_a_lead_seeing_several_agents_gets_no_week_by_week_table(client, month, lena):
    client.force_login(lena)
    assert "weeks" not in client.get("/scorecards/", {"period": "2026-11"}).context
