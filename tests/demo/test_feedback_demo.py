"""The demo's feedback: ninety days of answers through the services, detractors' recovery
loops closed, open and breached, the contact-budget scene, and a second run that adds nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from lastmile.customers.models import Customer, Interaction
from lastmile.demo import seed as demo_seed
from lastmile.demo.extensions import feedback as demo_feedback
from lastmile.demo.extensions import history
from lastmile.demo.extensions import scorecards as demo_scorecards
from lastmile.feedback.models import Invite, InviteState, Response, Survey
from lastmile.loops.models import Loop, LoopEventKind, LoopKind, LoopState
from lastmile.people.models import Team
from tests.demo.test_seed_demo import NOW, seed_quietly

pytestmark = pytest.mark.django_db
# Enough customers for every kind of answer and loop (the default demo has 300).
CUSTOMERS = 40


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One small demo for the module, rolled back after it: the core stories, the feedback
    part and the scorecards' part that reads its answers."""
    saved = list(demo_seed.DEMO_EXTENSIONS)
    demo_seed.DEMO_EXTENSIONS[:] = [demo_feedback, demo_scorecards]
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            report, out = seed_quietly(seed=7, customers=CUSTOMERS, now=NOW, funnel_events=0)
            yield SimpleNamespace(report=report, out=out)
            transaction.set_rollback(True)
    finally:
        demo_seed.DEMO_EXTENSIONS[:] = saved


def _counts() -> tuple[int, int, int, int]:
    return (
        Survey.objects.count(),
        Invite.objects.count(),
        Response.objects.count(),
        Loop.objects.filter(kind=LoopKind.RECOVERY).count(),
    )


def test_answers_over_ninety_days_in_three_surveys_with_reasons(demo):
    surveys = {s.name: s for s in Survey.objects.select_related("team")}
    assert {s.kind for s in surveys.values()} == {"csat", "ces", "nps"}
    assert {s.team.slug for s in surveys.values()} == {"front", "field", "membership"}
    responses = Response.objects.filter(survey__in=surveys.values())
    assert responses.count() >= 30  # 40 background customers; the default 300 make ~350
    for survey in surveys.values():
        assert responses.filter(survey=survey).exists(), survey.name
    times = sorted(responses.values_list("at", flat=True))
    assert NOW - timedelta(days=91) < times[0] < NOW - timedelta(days=20)  # older than the cases
    assert times[-1] < NOW
    # every answer came after its invite, and no invite is the customer's second that week
    # unless the rule let it through: suppressed ones are kept with the rule's reason
    assert all(r.at > r.invite.created_at for r in responses.select_related("invite")[:200])
    suppressed = Invite.objects.filter(state=InviteState.SUPPRESSED)
    assert suppressed.exists() and not suppressed.filter(reason="").exists()
    # (the history's answers, on the cards and membership story cases, carry no reason)
    told = responses.exclude(invite__customer__identities__value__endswith="@" + history.DOMAIN)
    assert told.exclude(reason=None).count() >= told.count() // 3
    # unanswered email invites were reminded once, three days after they went out
    reminded = Invite.objects.filter(reminder_state="sent")
    assert reminded.exists()
    assert all(i.reminded_at - i.sent_at >= timedelta(hours=72) for i in reminded)
    assert {"detractor", "passive", "promoter"} == set(responses.values_list("band", flat=True))
    # the report line says the same count
    line = next(x for x in demo.out if "survey answers over 90 days" in x)
    assert line.strip().startswith(f"{told.count():,} survey answers")  # the history's apart


def test_detractors_recovery_loops_are_closed_open_and_breached(demo):
    detractors = Response.objects.filter(detractor=True).select_related("recovery_loop")
    loops = [r.recovery_loop for r in detractors]
    assert detractors.exists() and all(lp is not None for lp in loops)
    assert all(lp.kind == LoopKind.RECOVERY and lp.team_id is not None for lp in loops)
    closed = [r for r in detractors if r.recovery_loop.state == LoopState.CLOSED]
    open_ok = [
        lp
        for lp in loops
        if lp.state == LoopState.OPEN and lp.breached_at is None and lp.due_at > NOW
    ]
    breached_open = [
        lp for lp in loops if lp.state == LoopState.OPEN and lp.breached_at is not None
    ]
    assert closed and open_ok and breached_open
    # closed with an outcome through feedback's service, the trail saying so
    assert all(r.recovery_outcome and r.recovery_closed_at for r in closed)
    assert all(
        r.recovery_loop.events.filter(
            kind=LoopEventKind.CLOSED, reason__startswith="Outcome:"
        ).exists()
        for r in closed
    )
    # a breached loop's breach is its deadline, recorded by the sweeper
    for lp in breached_open:
        assert lp.due_at < NOW and abs(lp.breached_at - lp.due_at) < timedelta(minutes=1)
        assert lp.events.filter(kind=LoopEventKind.BREACHED).exists()
    # some closed only after their deadline: breached first
    assert any(r.recovery_loop.breached_at is not None for r in closed)


def test_the_contact_budget_scene_suppresses_todays_case_survey(demo):
    grace = Customer.objects.get(display_name=demo_feedback.SCENE_NAME)
    invites = list(
        Invite.objects.filter(customer=grace)
        .select_related("case__team", "survey__team")
        .order_by("created_at")
    )
    # three teams: the field team's delivery survey, the cards agent's calls (below), the
    # front office's case survey
    assert [(i.survey.kind, i.survey.team.slug, i.case.team.slug) for i in invites] == [
        ("ces", "field", "field"),
        ("csat", "front", "front"),
    ]
    delivery, statement = invites
    assert delivery.state != InviteState.SUPPRESSED
    assert statement.state == InviteState.SUPPRESSED and statement.reason
    assert timedelta(hours=20) < statement.created_at - delivery.created_at < timedelta(hours=40)
    calls = Interaction.objects.filter(customer=grace, channel="phone", direction="outbound")
    assert calls.count() == 3 and {c.case.team.slug for c in calls} == {"cards"}
    assert not Interaction.objects.filter(
        customer=grace, direction="inbound", occurred_at__gt=delivery.created_at
    ).exists()
    line = next(x for x in demo.out if "contact budget:" in x)
    assert f"/customers/{grace.pk}/" in line and "suppressed" in line
    # each time with London's zone at that moment, then the survey: no kind read as a zone
    for invite in invites:
        local = invite.created_at.astimezone(demo_feedback.LONDON)
        assert f"{local:%a %d %b %H:%M %Z}: {invite.survey.name} (" in line, line
    assert re.findall(r"\d\d:\d\d ([A-Z]+)\b", line) == [
        i.created_at.astimezone(demo_feedback.LONDON).tzname() for i in invites
    ], line


def test_a_second_run_adds_nothing(demo):
    before = _counts()
    users = get_user_model().objects.all()
    seeder = SimpleNamespace(
        now=NOW,
        plan=SimpleNamespace(seed=7),
        teams={t.slug: t for t in Team.objects.all()},
        users={u.username: u for u in users},
        customers={},
    )
    with transaction.atomic():
        lines = demo_feedback.seed(seeder)
        assert _counts() == before
        transaction.set_rollback(True)
    assert any("survey answers over 90 days" in x for x in lines)
    # and the whole seed, run again, says it is there already
    report, out = seed_quietly(seed=7, customers=CUSTOMERS, now=NOW, funnel_events=0)
    assert report is None and _counts() == before


def test_the_scorecards_have_rollups_and_qa_reviews_from_the_first_run(demo):
    # the scorecards' extension runs last: the QA first pass over the closed conversations,
    # and thirteen weeks of rollups for every team, the current week included
    from lastmile.scorecards.models import QaReview, TeamWeekRollup

    teams = Team.objects.count()
    assert TeamWeekRollup.objects.count() == 13 * teams
    assert QaReview.objects.filter(reviewer=None).exists()
    assert any("scorecards: " in line for line in demo.out)
