"""The demo's coaching: after the scorecards' first pass, the Front office lead's review of
one of the Front office agent's conversations below target opens a lesson for the agent and
a coaching loop for the lead; the agent can answer it, the lead accept it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import override_settings

from lastmile.coaching.models import Lesson
from lastmile.coaching.services import lesson_accept, lesson_submit
from lastmile.customers.models import Direction, Interaction
from lastmile.demo import seed as demo_seed
from lastmile.demo.extensions import coaching, scorecards
from lastmile.loops.models import Loop
from lastmile.scorecards.models import QaReview, QaScore

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A small demo with the scorecards' and the coaching's parts after the core stories."""
    with django_db_blocker.unblock(), transaction.atomic():
        saved = list(demo_seed.DEMO_EXTENSIONS)
        demo_seed.DEMO_EXTENSIONS[:] = [scorecards, coaching]
        try:
            with override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
            ):
                out: list[str] = []
                report = demo_seed.seed_demo(seed=7, customers=8, now=NOW, out=out.append)
        finally:
            demo_seed.DEMO_EXTENSIONS[:] = saved
        yield SimpleNamespace(report=report, out=out)
        transaction.set_rollback(True)


def test_a_leads_review_below_target_opens_the_demo_agents_lesson(demo):
    lesson = Lesson.objects.select_related("agent", "lead", "qa_review", "loop").get(
        qa_review__reviewer__username="front-lead"
    )
    assert (lesson.agent.username, lesson.lead.username, lesson.state) == (
        "front",
        "front-lead",
        "assigned",
    )
    assert lesson.qa_review.score == 55 and not lesson.qa_review.automatic
    assert lesson.what_went_wrong.startswith("On ")
    assert lesson.conversation, "the conversation is in the lesson"
    assert (lesson.loop.kind, lesson.loop.state, lesson.loop.assignee.username) == (
        "coaching",
        "open",
        "front-lead",
    )
    line = next(line for line in demo.report.extra if line.startswith("coaching:"))
    assert f"/coaching/{lesson.pk}/" in line


def test_the_demo_lesson_can_be_completed(demo):
    lesson = Lesson.objects.get(qa_review__reviewer__username="front-lead")
    lesson_submit(lesson=lesson, actor=lesson.agent, draft="Your card arrives Friday.", now=NOW)
    lesson_accept(lesson=lesson, actor=lesson.lead, now=NOW + timedelta(minutes=5))
    assert Loop.objects.get(pk=lesson.loop_id).state == "closed"


def test_the_leads_comment_describes_the_conversation_it_reviews(demo):
    """The comment names the reviewed case's subject, quotes the question its customer asked,
    and says the reply named no next step only when the first pass found so."""
    review = QaReview.objects.select_related("case").get(reviewer__username="front-lead")
    case = review.case
    assert review.comment.startswith(f'On "{case.subject}"')
    inbound = Interaction.objects.filter(case=case, direction=Direction.INBOUND)
    asked = re.search(r'asked "([^"]+\?)"', review.comment)
    if asked is None:  # the customer asked nothing with a question mark
        assert not any("?" in row.body for row in inbound), review.comment
    else:
        assert any(asked.group(1) in row.body for row in inbound)
    first_pass = QaScore.objects.get(
        review__case=case, review__automatic=True, category__rule="next_step"
    )
    assert ("named no next step" in review.comment) == (first_pass.score == 0)
    # The conversation is chosen by that: the latest of the agent's with no next step.
    failed = QaReview.objects.filter(
        agent=review.agent,
        automatic=True,
        case__team=case.team,
        scores__in=QaScore.objects.filter(category__rule="next_step", score=0),
    ).order_by("-conversation_at", "-id")
    if failed.exists():
        assert failed.first().case_id == case.pk


def test_the_demo_starts_with_the_lesson_of_each_breach_of_the_last_week_worked_through(demo):
    """Opened at each breach as the worker would have, answered three hours on, accepted
    twenty hours on: the worker finds none left to open when it starts."""
    from lastmile.coaching.services import LESSON_MAX_AGE, breach_lessons_catch_up

    lessons = list(Lesson.objects.filter(reason="breach").select_related("breached_loop", "loop"))
    assert lessons, "the stories breach loops in agents' hands in the last week"
    assert breach_lessons_catch_up(now=NOW, grace=timedelta(0)) == 0
    states = set()
    for lesson in lessons:
        at = lesson.breached_loop.breached_at
        assert NOW - LESSON_MAX_AGE <= at <= NOW
        assert lesson.created_at == lesson.loop.opened_at == at
        age = NOW - at
        if age >= coaching.ACCEPTED_AFTER:
            want = "accepted"
        elif age >= coaching.ANSWERED_AFTER:
            want = "submitted"
        else:
            want = "assigned"
        assert lesson.state == want, (lesson.pk, age)
        assert (lesson.loop.state == "closed") == (want == "accepted")
        states.add(lesson.state)
    assert "accepted" in states


def test_the_report_counts_the_lessons_the_demo_starts_with(demo):
    line = next(
        line for line in demo.report.extra if line.startswith("coaching, as the demo starts:")
    )
    lessons = Lesson.objects.all()
    assert f": {lessons.count()} lessons (" in line
    breaches = lessons.filter(reason="breach").count()
    assert f"{breaches} from breaches in agents' hands" in line
    assert f"{lessons.filter(state='accepted').count()} accepted" in line
    assert f"{lessons.filter(state__in=('assigned', 'returned')).count()} to answer" in line
