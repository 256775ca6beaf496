"""The demo's journeys and knowledge articles: the bank story runs as a journey, part way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import override_settings

from lastmile.cases.models import Case
from lastmile.demo import seed as demo_seed
from lastmile.demo.extensions import journeys, knowledge
from lastmile.journeys.models import Journey, JourneyTemplate
from lastmile.journeys.selectors import journeys_for_customer
from lastmile.knowledge.models import Article
from lastmile.knowledge.selectors import articles_public, articles_suggest_for_case
from lastmile.loops.models import Loop, LoopKind

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A small demo with only this app's parts after the core stories, rolled back after."""
    with django_db_blocker.unblock(), transaction.atomic():
        saved = list(demo_seed.DEMO_EXTENSIONS)
        demo_seed.DEMO_EXTENSIONS[:] = [knowledge, journeys]
        try:
            with override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
            ):
                out: list[str] = []
                # No background customers: what is checked here is the stories' journeys and the articles.
                report = demo_seed.seed_demo(seed=7, customers=0, now=NOW, out=out.append)
        finally:
            demo_seed.DEMO_EXTENSIONS[:] = saved
        ref = report.stories["bank"][0]
        case = Case.objects.get(number=int(ref.split("-")[1]))
        yield SimpleNamespace(report=report, out=out, case=case)
        transaction.set_rollback(True)


def test_the_shipped_templates_are_seeded(demo):
    assert set(JourneyTemplate.objects.values_list("slug", flat=True)) == {
        "open-current-account",
        "hotel-special-request",
        "home-diagnostics-visit",
    }


def test_the_bank_story_is_a_journey_walked_part_way(demo):
    journey = Journey.objects.get(case=demo.case)
    steps = {s.key: s for s in journey.steps.select_related("team", "loop")}
    assert journey.state == "active"
    assert steps["kyc"].state == "done" and steps["kyc"].note.startswith("KYC passed")
    assert steps["create_account"].state == "done"
    assert "KYC passed" in steps["create_account"].handoff_note
    online = steps["enable_online_access"]
    assert online.state == "open" and online.team.slug == "back"
    assert "4821" in online.handoff_note  # the account details reached the back office
    assert online.loop.breached_at is not None  # nobody enabled it
    assert (
        steps["link_debit_card"].state == "open" and steps["link_debit_card"].team.slug == "cards"
    )
    assert steps["welcome_call"].state == "pending"


def test_the_journey_took_in_the_storys_tasks_rather_than_doubling_them(demo):
    tasks = Loop.objects.filter(case=demo.case, kind=LoopKind.TASK)
    assert tasks.count() == 3  # KYC, online access, card link: one loop each
    assert all(hasattr(t, "journey_step") for t in tasks)


def test_the_customer_sees_the_back_office_steps(demo):
    (view,) = journeys_for_customer(customer=demo.case.customer)
    shown = {s.key: s for s in view.steps}
    assert shown["enable_online_access"].state == "open"
    assert shown["enable_online_access"].owner == "Back office"
    assert shown["enable_online_access"].due_at is not None
    assert "first_payment_check" not in shown  # internal


def test_about_ten_articles_some_public_and_the_bank_case_finds_its_own(demo):
    assert 10 <= Article.objects.count() <= 14
    assert 0 < len(articles_public(limit=100)) < Article.objects.count()
    slugs = [h.article.slug for h in articles_suggest_for_case(demo.case)]
    assert "online-banking-first-login" in slugs[:3]


def test_the_report_names_the_journey(demo):
    assert any("bank journey" in line and "Enable online banking" in line for line in demo.out)
    assert any(line.startswith("knowledge:") for line in demo.out)


def test_margaret_is_offered_visit_windows_after_the_seeded_day(demo):
    from lastmile.journeys.models import JourneyStep
    from lastmile.journeys.services import step_complete_by_customer, step_windows

    # Given Margaret's visit journey, her slot step open
    slot = JourneyStep.objects.select_related("journey__case__customer").get(
        journey__template__slug="home-diagnostics-visit", key="choose_slot"
    )
    windows = step_windows(slot)

    # Then she is offered two-hour windows on working days after the seeded day
    assert slot.state == "open" and len(windows) == 6
    assert all(a > NOW and b - a == timedelta(hours=2) and a.weekday() < 5 for a, b in windows)
    assert slot.journey.case.customer_title  # and her case has a title written for her

    # When she picks the first one, the visit is due at its end
    step_complete_by_customer(
        step=slot,
        customer=slot.journey.case.customer,
        data={"slot": {"start": windows[0][0].isoformat(), "end": windows[0][1].isoformat()}},
        now=NOW,
    )
    visit = JourneyStep.objects.select_related("loop").get(journey=slot.journey, key="visit")
    assert visit.loop.due_at == windows[0][1]
    assert any("visit windows offered" in line for line in demo.out)
