"""The pay plan's practice gate: an agent whose onboarding path is not complete, or who has
fewer than N practice cases scored at or above the plan's target, by the month's end, is paid
nothing for the metrics that month, and the statement says why in plain words; the API, the
CSV and the page show it; the admin refuses a cases gate without its number or target."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from lastmile.scorecards.models import PayPlan, QaScorecard
from lastmile.scorecards.pay import pay_month_parse, pay_statement
from lastmile.training.models import OnboardingPath, OnboardingStep, PracticeAttempt, PracticeCase
from tests.scorecards.conftest import pay_plan_make
from tests.scorecards.test_pay_api import closed_on_time

pytestmark = pytest.mark.django_db


def practice_case(team, lead, now, title):  # type: ignore[no-untyped-def]
    card, _ = QaScorecard.objects.get_or_create(name="Practice QA")
    return PracticeCase.objects.create(
        title=title, team=team, scorecard=card, source_ref="LM-1", created_by=lead, created_at=now
    )


def scored(case, agent, score, at: datetime):  # type: ignore[no-untyped-def]
    return PracticeAttempt.objects.create(
        practice_case=case,
        agent=agent,
        team=case.team,
        state="scored",
        score=score,
        created_at=at,
        updated_at=at,
        submitted_at=at,
        scored_at=at,
    )


@pytest.fixture
def november(customer, team, alice, now):  # type: ignore[no-untyped-def]
    """Alice closed 3 loops on time in November: 10 * 0.9 + 10 * 0.75 = 16.5 points."""
    closed_on_time(customer, team, alice, now, 3)
    return pay_month_parse("2026-11", now=now)


@pytest.fixture
def path(team, lena, now):  # type: ignore[no-untyped-def]
    """The front office's onboarding path of two practice cases."""
    onboarding = OnboardingPath.objects.create(team=team, updated_by=lena, updated_at=now)
    for position, title in enumerate(["A late parcel", "A double charge"], start=1):
        OnboardingStep.objects.create(
            path=onboarding, practice_case=practice_case(team, lena, now, title), position=position
        )
    return [s.practice_case for s in onboarding.steps.order_by("position")]


def path_plan(team):  # type: ignore[no-untyped-def]
    plan = pay_plan_make(team)
    plan.practice_gate = "path"
    plan.save()
    return plan


def test_an_agent_whose_path_is_not_complete_by_the_months_end_is_paid_nothing(
    team, alice, path, november, now
):
    # given a plan with the path gate; Alice scored the first step in November and the
    # second only on 1 December
    path_plan(team)
    scored(path[0], alice, 95, now)
    scored(path[1], alice, 95, datetime(2026, 12, 1, 9, 0, tzinfo=now.tzinfo))

    # when her November statement is read
    s = pay_statement(agent=alice, period=november)

    # then the metrics pay nothing, and the statement says why
    assert s.metrics_points > 0 and s.metrics_total == 0 and s.total == 0
    assert not s.practice_passed and s.gate_passed
    assert s.practice_explanation == (
        "Practice gate: onboarding path 1 of 2 steps scored by 30 Nov 2026, all 2 needed: "
        "the metrics pay nothing."
    )
    assert s.practice_explanation in s.explanation
    assert s.metrics_explanation.endswith("not paid (practice gate): 0.0 points.")


def test_a_complete_path_passes_the_gate_and_the_metrics_pay(team, alice, path, november, now):
    path_plan(team)
    for case in path:
        scored(case, alice, 40, now - timedelta(days=2))  # any score completes a step

    s = pay_statement(agent=alice, period=november)

    assert s.practice_passed and s.metrics_total == s.metrics_points > 0
    assert "2 of 2 steps scored by 30 Nov 2026, all 2 needed: passed." in s.practice_explanation


@pytest.fixture
def cases_plan(team):  # type: ignore[no-untyped-def]
    """Two practice cases scored at or above 80, by the month's end."""
    plan = pay_plan_make(team)
    plan.practice_gate, plan.practice_cases, plan.practice_target = "cases", 2, 80
    plan.save()
    return plan


def test_fewer_cases_at_the_target_than_the_plan_asks_pays_nothing(
    cases_plan, team, alice, lena, november, now
):
    # given one case scored 85 and one only 79.5 (its best), in November
    one, two = (practice_case(team, lena, now, t) for t in ("One", "Two"))
    scored(one, alice, 85, now)
    scored(two, alice, 60, now - timedelta(days=3))
    scored(two, alice, 79.5, now)

    s = pay_statement(agent=alice, period=november)

    assert not s.practice_passed and s.total == 0
    assert s.practice_explanation == (
        "Practice gate: 1 practice case scored at or above 80 by 30 Nov 2026, 2 needed: "
        "the metrics pay nothing."
    )


def test_the_target_reached_on_the_second_try_passes(cases_plan, team, alice, lena, november, now):
    one, two = (practice_case(team, lena, now, t) for t in ("One", "Two"))
    scored(one, alice, 80, now)  # at the target counts
    scored(two, alice, 50, now - timedelta(days=3))
    scored(two, alice, 92, now)

    s = pay_statement(agent=alice, period=november)

    assert s.practice_passed and s.metrics_total > 0
    assert "2 practice cases scored at or above 80 by 30 Nov 2026, 2 needed: passed." in (
        s.practice_explanation
    )


def test_both_gates_failing_are_both_named(team, alice, path, november):
    plan = path_plan(team)
    plan.min_quality_gate = 70  # and no QA review this month
    plan.save()

    s = pay_statement(agent=alice, period=november)

    assert s.metrics_explanation.endswith("not paid (quality and practice gates): 0.0 points.")


def test_the_api_and_the_csv_show_the_practice_gate(api, team, alice, bob, path, november, now):
    path_plan(team)
    for case in path:
        scored(case, bob, 90, now)

    body = api.get("/pay/statements", month="2026-11").json()
    csv_rows = list(
        csv.DictReader(
            io.StringIO(api.get("/pay/statements.csv", month="2026-11").content.decode())
        )
    )

    by_agent = {s["agent"]: s for s in body["statements"]}
    assert by_agent["alice"]["practice_gate"] == {
        "kind": "path",
        "passed": False,
        "path_done": 0,
        "path_total": 2,
        "cases_at_target": 0,
        "cases_needed": None,
        "target": None,
        "explanation": "Practice gate: onboarding path 0 of 2 steps scored by 30 Nov 2026, "
        "all 2 needed: the metrics pay nothing.",
    }
    assert by_agent["bob"]["practice_gate"]["passed"] is True
    gates = {r["agent"]: r["practice_gate_passed"] for r in csv_rows}
    assert (gates["alice"], gates["bob"]) == ("no", "yes")


def test_a_plan_without_a_practice_gate_says_nothing_of_practice(api, plan, november):
    body = api.get("/pay/statements", month="2026-11", agent="alice").json()
    (statement,) = body["statements"]
    assert statement["practice_gate"] is None
    assert not any(line.startswith("Practice gate") for line in statement["explanation"])


def test_the_page_shows_the_practice_gate(client, team, alice, path, november):
    path_plan(team)
    client.force_login(alice)

    page = client.get("/scorecards/pay/?month=2026-11").content.decode()

    assert 'id="pay-practice-gate"' in page and "0 of 2 steps scored by 30 Nov 2026" in page


def test_the_admin_sets_a_cases_gate_and_refuses_one_without_its_number(staff, team):
    from tests.scorecards.test_pay_admin import plan_form

    form = plan_form(team)
    form.update(practice_gate="cases", practice_cases="", practice_target="80")
    r = staff.post("/admin/scorecards/payplan/add/", form)
    assert r.status_code == 200 and "At least 1 with the practice-cases gate." in r.content.decode()
    assert not PayPlan.objects.exists()

    form.update(practice_cases="3")
    r = staff.post("/admin/scorecards/payplan/add/", form)
    assert r.status_code == 302
    plan = PayPlan.objects.get()
    assert (plan.practice_gate, plan.practice_cases, plan.practice_target) == ("cases", 3, 80)
