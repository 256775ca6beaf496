"""Pay statements (GET /api/v1/pay/statements, .csv) and adjustments (POST
/api/v1/pay/adjustments): the points from the scorecards' figures, who sees and adjusts what."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.loops.services import loop_close, loop_open
from lastmile.scorecards.models import PayAdjustment, PayPlan, QaReview, QaScorecard
from lastmile.scorecards.pay import pay_statement
from lastmile.scorecards.selectors import period_parse
from tests.cases.factories import CaseFactory
from tests.people.factories import AgentFactory
from tests.scorecards.conftest import PAY_METRICS, pay_plan_make

pytestmark = pytest.mark.django_db


def closed_on_time(customer, team, assignee, now, n):  # type: ignore[no-untyped-def]
    for _ in range(n):
        loop = loop_open(
            customer=customer,
            kind="task",
            title="Task",
            team=team,
            assignee=assignee,
            due_at=now + timedelta(hours=4),
            now=now,
        )
        loop_close(loop=loop, now=now + timedelta(hours=1))


def reviewed(customer, team, agent, now, score):  # type: ignore[no-untyped-def]
    card, _ = QaScorecard.objects.get_or_create(name="Calls")
    QaReview.objects.create(
        scorecard=card,
        case=CaseFactory(customer=customer, team=team, assignee=agent),
        agent=agent,
        team=team,
        score=score,
        conversation_at=now,
        created_at=now,
    )


@pytest.fixture
def plan(team):  # type: ignore[no-untyped-def]
    """The shared plan with a quality gate of 70 and the QA score as a third metric."""
    return pay_plan_make(team, min_quality_gate=70, metrics=[*PAY_METRICS, ("qa_score", 90, 5, 6)])


@pytest.fixture
def november(plan, customer, team, alice, bob, now):  # type: ignore[no-untyped-def]
    """Alice closed 3 loops on time and was reviewed at 80; bob closed 5 on time and was
    reviewed at 60, under the plan's gate of 70."""
    closed_on_time(customer, team, alice, now, 3)
    reviewed(customer, team, alice, now, 80)
    closed_on_time(customer, team, bob, now, 5)
    reviewed(customer, team, bob, now, 60)


def statements(api, **params):  # type: ignore[no-untyped-def]
    r = api.get("/pay/statements", **{"month": "2026-11", **params})
    assert r.status_code == 200, r.content
    return {s["agent"]: s for s in r.json()["statements"]}


def test_each_line_says_its_points_in_plain_words(api, november):
    alice = statements(api)["alice"]
    lines = {line["metric"]: line for line in alice["lines"]}
    assert lines["on_time_rate"]["value"] == 1.0
    assert lines["on_time_rate"]["points"] == 10.0 and lines["on_time_rate"]["capped"]
    assert lines["on_time_rate"]["explanation"] == (
        "On-time rate 100 % against a target of 90 %: 10.0 of 10 points (capped)"
    )
    assert lines["loops_closed"]["points"] == 7.5
    assert lines["loops_closed"]["explanation"] == (
        "Loops closed 3 against a target of 4: 7.5 of 12 points"
    )
    assert lines["qa_score"]["points"] == 4.44
    assert alice["gate"]["passed"] is True
    assert alice["metrics_total"] == alice["total"] == 21.94
    assert alice["explanation"][-1] == "Total: 21.94 points."


def test_under_the_quality_gate_the_metrics_pay_nothing(api, november):
    bob = statements(api)["bob"]
    assert bob["metrics_points"] > 0
    assert bob["gate"] == {
        "minimum": 70.0,
        "qa_score": 60.0,
        "passed": False,
        "explanation": ("Quality gate: QA score 60, at least 70 needed: the metrics pay nothing."),
    }
    assert bob["metrics_total"] == bob["total"] == 0


def test_a_month_without_a_review_fails_the_gate(api, plan, customer, team, alice, now):
    closed_on_time(customer, team, alice, now, 4)
    alice_row = statements(api)["alice"]
    assert alice_row["gate"]["passed"] is False and alice_row["total"] == 0
    assert "no QA review" in alice_row["gate"]["explanation"]


def test_the_total_is_capped_overall(api, november, plan):
    plan.overall_cap = Decimal("15")
    plan.save()
    alice = statements(api)["alice"]
    assert alice["metrics_points"] == 21.94 and alice["metrics_total"] == 15.0
    assert "Metrics: 21.94 points, capped at 15 overall: 15.0 points." in alice["explanation"]


def test_another_month_counts_nothing(api, november):
    october = statements(api, month="2026-10")["alice"]
    assert [line["points"] for line in october["lines"]] == [0, 0, 0]
    assert october["lines"][0]["explanation"] == (
        "On-time rate: no loop with a deadline was closed this month: 0.0 of 10 points"
    )


def test_an_agent_without_a_plan_has_no_statement(api, november, charlie):
    assert set(statements(api)) == {"alice", "bob"}


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "November", "2026-11-01", "1999-11"])
def test_a_bad_month_is_a_422_naming_month(api, plan, bad):
    r = api.get("/pay/statements", month=bad)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["month"]


# --- who sees what --------------------------------------------------------------------------


def test_an_agent_sees_only_their_own_statement(api_as, november, alice):
    assert set(statements(api_as(alice))) == {"alice"}
    r = api_as(alice).get("/pay/statements", month="2026-11", agent="bob")
    assert r.status_code == 404


def test_a_lead_sees_their_teams_agents_and_their_own(api_as, november, lena, charlie):
    assert set(statements(api_as(lena))) == {"alice", "bob", "lena"}


def test_an_outsider_sees_nothing_of_the_team(api_as, november, charlie):
    assert statements(api_as(charlie)) == {}
    r = api_as(charlie).get("/pay/statements", month="2026-11", team="front")
    assert r.status_code == 404


def test_the_admin_sees_everyone(api_as, november, admin_user):
    assert set(statements(api_as(admin_user))) == {"alice", "bob"}


def test_the_agent_reads_the_figures_payroll_reads(november, alice, admin_user, now):
    period = period_parse("2026-11", now=now)
    mine = pay_statement(agent=alice, period=period, viewer=alice)
    payroll = pay_statement(agent=alice, period=period, viewer=admin_user)
    assert mine.explanation == payroll.explanation and mine.total == payroll.total


# --- adjustments ------------------------------------------------------------------------------


def adjust(api, **body):  # type: ignore[no-untyped-def]
    return api.post(
        "/pay/adjustments",
        {"agent": "alice", "month": "2026-11", "points": 5, "reason": "Covered a sick day", **body},
    )


def test_a_lead_adds_an_adjustment_with_its_reason(api, api_as, november, lena):
    r = adjust(api_as(lena))
    assert r.status_code == 201, r.content
    assert r.json()["points"] == 5.0 and r.json()["created_by"] == "lena"
    alice = statements(api)["alice"]
    assert alice["adjustments_total"] == 5.0 and alice["total"] == 26.94
    assert alice["adjustments"][0]["reason"] == "Covered a sick day"
    assert any(
        e.startswith("Adjustment by lena") and "+5.00 points (Covered a sick day)" in e
        for e in alice["explanation"]
    )


def test_a_correction_is_a_new_row_and_the_total_never_goes_below_zero(api, api_as, november, lena):
    assert adjust(api_as(lena), points=-1000, reason="Wrong month").status_code == 201
    assert adjust(api_as(lena), points=2.5, reason="Correction").status_code == 201
    assert PayAdjustment.objects.count() == 2
    alice = statements(api)["alice"]
    assert alice["adjustments_total"] == -997.5 and alice["total"] == 0
    assert alice["explanation"][-1] == "Total: 0.0 points (never below 0)."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"month": "2026-13"}, "month"),
        ({"month": "11/2026"}, "month"),
        ({"month": ""}, "month"),
        ({"points": 1000.01}, "points"),
        ({"points": -5000}, "points"),
        ({"points": 0}, "points"),
        ({"points": 1.005}, "points"),
        ({"points": "5"}, "points"),
        ({"agent": "nobody"}, "agent"),
    ],
)
def test_a_bad_adjustment_is_a_422_naming_the_field(api_as, november, lena, body, field):
    r = adjust(api_as(lena), **body)
    assert r.status_code == 422, r.content
    assert field in [e["field"] for e in r.json()["errors"]]
    assert not PayAdjustment.objects.exists()


def test_an_adjustment_for_an_agent_without_a_plan_is_refused(api_as, plan, charlie, admin_user):
    r = adjust(api_as(admin_user), agent="charlie")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["agent"]


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "integration"])
def test_only_a_lead_of_the_team_or_an_admin_adjusts(api, api_as, november, charlie, who, request):
    caller = api if who == "integration" else api_as(request.getfixturevalue(who))
    r = adjust(caller)
    assert r.status_code == 403, r.content
    assert not PayAdjustment.objects.exists()


def test_the_admin_adjusts_anyone(api_as, november, admin_user):
    assert adjust(api_as(admin_user), agent="bob").status_code == 201


def test_a_lead_does_not_adjust_their_own_pay(api_as, november, lena):
    r = adjust(api_as(lena), agent="lena")
    assert r.status_code == 403
    assert not PayAdjustment.objects.exists()


# --- export -----------------------------------------------------------------------------------


def test_the_csv_has_one_row_per_agent_and_month(api, api_as, november, lena):
    adjust(api_as(lena))
    r = api.get("/pay/statements.csv", month="2026-11")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert 'filename="pay-2026-11.csv"' in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert [(row["month"], row["agent"]) for row in rows] == [
        ("2026-11", "alice"),
        ("2026-11", "bob"),
        ("2026-11", "lena"),
    ]
    alice = rows[0]
    assert (alice["metrics_total"], alice["adjustments"], alice["total"]) == (
        "21.94",
        "5.00",
        "26.94",
    )
    assert (alice["on_time_rate_value"], alice["on_time_rate_points"]) == ("1.0", "10.00")
    assert rows[1]["qa_gate_passed"] == "no" and rows[1]["total"] == "0.00"


def test_the_csv_is_scoped_like_the_statements(api_as, november, alice):
    r = api_as(alice).get("/pay/statements.csv", month="2026-11")
    assert [row["agent"] for row in csv.DictReader(io.StringIO(r.content.decode()))] == ["alice"]


def test_a_name_is_never_a_formula_in_the_csv(api, november, alice):
    alice.first_name = "=HYPERLINK(1)"
    alice.save()
    r = api.get("/pay/statements.csv", month="2026-11")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert rows[0]["name"] == "'=HYPERLINK(1)"


def test_the_xlsx_has_the_csv_rows_with_numbers_as_numbers(api, november):
    from openpyxl import load_workbook

    r = api.get("/pay/statements.xlsx", month="2026-11")
    assert r.status_code == 200
    assert r["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="pay-2026-11.xlsx"' in r["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert sheet.title == "Pay 2026-11"
    by_agent = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_agent) == {"alice", "bob"}
    assert by_agent["alice"]["total"] == 21.94
    assert by_agent["alice"]["on_time_rate_value"] == 1.0
    assert by_agent["bob"]["qa_gate_passed"] == "no"


def test_an_agent_in_two_teams_with_plans_is_paid_on_the_first_by_name(
    api, november, alice, other_team
):
    PayPlan.objects.create(team=other_team, name="Back office 2026", overall_cap=Decimal("5"))
    alice.agent.teams.add(other_team)  # "Back office" comes before "Front office"
    assert statements(api)["alice"]["plan"] == "Back office 2026"
    assert statements(api)["bob"]["plan"] == "Front office 2026"


def test_the_statements_cost_the_same_queries_for_more_agents(api_as, november, lena, team):
    caller = api_as(lena)
    statements(caller)  # the token's first use writes its last_used_at
    with CaptureQueriesContext(connection) as few:
        statements(caller)
    for name in ("dora", "ed", "flo"):
        AgentFactory(user__username=name, teams=[team])
    with CaptureQueriesContext(connection) as more:
        assert len(statements(caller)) == 6
    assert len(more) == len(few)
