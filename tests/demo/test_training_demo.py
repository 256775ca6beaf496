"""The demo's practice: the Front office's onboarding path of three practice cases made
from its closed conversations (masked), and a new agent part-way through it, one attempt
scored and one waiting for the lead; her progress on the scorecard page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from lastmile.customers.models import Customer
from lastmile.demo.extensions import training as demo_training
from lastmile.training.models import AttemptState, OnboardingPath, PracticeAttempt
from tests.demo_snapshot import NOW, demo_restored

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """The run's one demo (tests/demo_snapshot.py), restored for the module and rolled back."""
    with demo_restored(demo_snapshot, django_db_blocker) as restored:
        lines = [line for line in restored.out if line.startswith("training:")]
        yield SimpleNamespace(report=restored.report, lines=lines)


def test_the_front_office_has_a_path_of_three_masked_practice_cases(demo):
    path = OnboardingPath.objects.get(team__slug="front")
    steps = list(path.steps.select_related("practice_case").order_by("position"))
    assert [s.position for s in steps] == [1, 2, 3]
    names = [n for n in Customer.objects.values_list("display_name", flat=True) if n]
    for step in steps:
        case = step.practice_case
        assert case.conversation and case.scorecard.name == demo_training.SCORECARD
        text = " ".join(m["text"] for m in case.conversation) + case.title
        assert not any(name in text for name in names), case.title
    assert demo.lines and "one waiting for front-lead" in demo.lines[0]


def test_the_new_agent_is_part_way_through(demo):
    nia = get_user_model().objects.get(username="front-new")
    attempts = {a.state: a for a in PracticeAttempt.objects.filter(agent=nia)}
    assert set(attempts) == {AttemptState.SCORED, AttemptState.SUBMITTED}
    assert attempts[AttemptState.SCORED].score is not None
    assert attempts[AttemptState.SUBMITTED].handoff_team.slug == "back"


def test_the_lead_sees_the_waiting_draft_and_the_scorecard_shows_progress(demo, client):
    client.force_login(get_user_model().objects.get(username="front-lead"))
    waiting = PracticeAttempt.objects.get(state=AttemptState.SUBMITTED)
    html = client.get("/training/").content.decode()
    assert f'id="waiting-{waiting.pk}"' in html
    html = client.get("/scorecards/", {"period": f"{NOW:%Y-%m}"}).content.decode()
    assert 'id="training-front-new"' in html and ">1 / 3<" in html
