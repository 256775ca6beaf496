"""Lessons: opened by a review below target, a broken promise or a breach in the agent's
hands (once per source), with a coaching loop for the lead; submitted, returned, accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.coaching.masking import EMAIL, NAME, PHONE
from lastmile.coaching.models import CoachingSettings, Lesson, LessonState
from lastmile.coaching.selectors import lesson_get, lesson_list, lessons_visible
from lastmile.coaching.services import (
    coaching_settings_set,
    lesson_accept,
    lesson_return,
    lesson_submit,
    on_qa_reviewed,
)
from lastmile.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lastmile.knowledge.models import Article
from lastmile.loops.models import Loop, SlaPolicy
from lastmile.loops.services import loop_open, loops_sweep
from lastmile.promises.services import promise_break, promise_record
from lastmile.scorecards.services import ScoreIn, qa_autoreview, qa_review_create
from tests.coaching.conftest import review
from tests.people.factories import AgentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LOW = {"tone": 2, "accuracy": 6}  # (25 % + 3 * 60 %) / 4 = 51.25
HIGH = {"tone": 5, "accuracy": 9}  # (100 % + 3 * 90 %) / 4 = 92.5


def test_a_review_below_target_opens_a_lesson_and_the_leads_coaching_loop(
    lena, alice, solved, card, now
):
    r = review(lena, solved, card, **LOW, comment="Priya asked twice; no next step.", now=now)

    lesson = Lesson.objects.get()
    assert (lesson.agent, lesson.lead, lesson.team_id, lesson.qa_review) == (
        alice,
        lena,
        solved.team_id,
        r,
    )
    assert lesson.reason == "qa_below_target" and lesson.state == LessonState.ASSIGNED
    assert lesson.what_went_wrong.startswith(f"{NAME} asked twice; no next step.")
    assert "QA score 51 against the team's target of 80, by Lena Berg" in lesson.what_went_wrong
    assert [m["author"] for m in lesson.conversation] == ["customer", "agent"]
    assert lesson.conversation[0]["text"] == f"Hi, {NAME} here ({EMAIL}). Where is my parcel?"
    assert (
        lesson.conversation[1]["text"] == f"Sorry {NAME}, it is late. Call us on {PHONE} if needed."
    )
    assert len(lesson.questions) == 3
    loop = lesson.loop
    assert (loop.kind, loop.state, loop.assignee, loop.team_id, loop.customer_id) == (
        "coaching",
        "open",
        lena,
        solved.team_id,
        None,
    )
    assert loop.title == f"Coach alice: qa review below target on {solved.ref}"
    assert list(lesson.events.values_list("kind", flat=True)) == ["opened"]


def test_a_review_at_or_above_target_opens_nothing(lena, solved, card, now):
    review(lena, solved, card, **HIGH, now=now)
    assert not Lesson.objects.exists()
    assert not Loop.objects.filter(kind="coaching").exists()


def test_the_target_is_the_teams(lena, solved, card, team, now):
    coaching_settings_set(team=team, qa_target=50)
    review(lena, solved, card, **LOW, now=now)  # 51.25 >= 50
    assert not Lesson.objects.exists()
    coaching_settings_set(team=team, qa_target=95)
    review(lena, solved, card, **HIGH, now=now)  # 92.5 < 95
    assert Lesson.objects.get().title.startswith("QA 92 (target 95)")


def test_a_target_outside_0_to_100_is_refused_naming_the_field(team):
    with pytest.raises(InvalidInput) as e:
        coaching_settings_set(team=team, qa_target=101)
    assert e.value.errors[0].field == "qa_target"
    assert not CoachingSettings.objects.exists()


def test_the_automatic_pass_opens_a_lesson_only_where_the_team_asks(lena, solved, team, now):
    # The automatic rules fail here (no next step named): a low score.
    automatic = qa_autoreview(case=solved, now=now + timedelta(hours=1))
    assert automatic is not None and automatic.score < 80
    assert not Lesson.objects.exists()


def test_the_automatic_pass_below_target_opens_one_where_the_team_asks(lena, solved, team, now):
    coaching_settings_set(team=team, qa_target=80, automatic_reviews=True)
    automatic = qa_autoreview(case=solved, now=now + timedelta(hours=1))
    lesson = Lesson.objects.get()
    assert lesson.qa_review == automatic
    assert "by the automatic first pass" in lesson.what_went_wrong


def test_an_override_below_target_opens_a_lesson(lena, alice, solved, now):
    automatic = qa_autoreview(case=solved, now=now + timedelta(hours=1))
    override = qa_review_create(
        viewer=lena,
        case_ref=solved.ref,
        scorecard_id=automatic.scorecard_id,
        scores=[ScoreIn(c.pk, c.min_score) for c in automatic.scorecard.categories.all()],
        comment="The promise was never recorded.",
        overrides_id=automatic.pk,
        now=now + timedelta(hours=2),
    )
    lesson = Lesson.objects.get()
    assert lesson.qa_review == override
    assert lesson.what_went_wrong.startswith("The promise was never recorded.")


def test_the_same_event_twice_opens_one_lesson(lena, solved, card, now):
    r = review(lena, solved, card, **LOW, now=now)
    data = {"review": r.pk, "team": r.team_id, "automatic": False, "score": r.score}
    on_qa_reviewed("qa.reviewed", data, now + timedelta(hours=2))
    on_qa_reviewed("qa.reviewed", data, now + timedelta(hours=3))
    assert Lesson.objects.count() == 1
    assert Loop.objects.filter(kind="coaching").count() == 1


def test_the_articles_and_policies_for_the_case_are_in_the_lesson(lena, solved, card, now):
    from lastmile.promises.models import Policy, PolicyVersion

    policy = Policy.objects.create(key="late-parcel", title="Late parcels", created_at=now)
    policy.current = PolicyVersion.objects.create(
        policy=policy,
        version=1,
        rule="true",
        severity="warn",
        text="Offer a redelivery slot before a refund.",
        effective_from=now,
        created_at=now,
    )
    policy.save()
    Article.objects.create(
        title="Where is my parcel",
        slug="where-is-my-parcel",
        body_md="A late parcel: check the courier, then offer a redelivery.",
        policy_keys=["late-parcel"],
        created_at=now,
        updated_at=now,
    )
    solved.subject = "Where is my parcel"
    solved.save()
    review(lena, solved, card, **LOW, now=now)
    lesson = Lesson.objects.get()
    assert lesson.articles == [{"slug": "where-is-my-parcel", "title": "Where is my parcel"}]
    assert lesson.policies == [
        {
            "key": "late-parcel",
            "title": "Late parcels",
            "text": "Offer a redelivery slot before a refund.",
        }
    ]


def test_a_broken_promise_opens_a_lesson_for_the_agent_who_made_it(lena, alice, case, team, now):
    promise = promise_record(
        case=case,
        text="A courier tomorrow before noon",
        terms={},
        due_at=now + timedelta(days=1),
        team=team,
        channel="email",
        actor=alice,
        now=now,
    )
    promise_break(
        promise=promise, actor=lena, reason="No courier slot left", now=now + timedelta(hours=2)
    )
    lesson = Lesson.objects.get()
    assert (lesson.agent, lesson.lead, lesson.reason, lesson.promise) == (
        alice,
        lena,
        "promise_broken",
        promise,
    )
    assert "No courier slot left" in lesson.what_went_wrong
    assert lesson.loop.assignee == lena


def test_a_promise_broken_or_a_loop_breached_over_a_week_ago_opens_no_lesson(
    lena, alice, case, team, now
):  # a history replayed later (the demo's thirteen weeks), or a worker long stopped
    from lastmile.coaching.services import LESSON_MAX_AGE, breach_lessons_open

    then = now - LESSON_MAX_AGE - timedelta(hours=3)
    promise = promise_record(
        case=case,
        text="A courier tomorrow",
        terms={},
        due_at=then + timedelta(days=1),
        team=team,
        channel="email",
        actor=alice,
        now=then,
    )
    promise_break(promise=promise, actor=lena, reason="No slot", now=then + timedelta(hours=1))
    loop = loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="x",
        team=team,
        assignee=alice,
        now=then,
    )
    assert breach_lessons_open([(loop.pk, alice.pk, (then + timedelta(hours=2)).isoformat())]) == 0
    assert not Lesson.objects.exists()
    # the same breach heard within the week opens one, its lead's loop running from now
    assert breach_lessons_open([(loop.pk, alice.pk, (now - timedelta(days=6)).isoformat())]) == 1
    assert Lesson.objects.get().loop.opened_at == now


@pytest.fixture
def worked(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """A sweep, then the worker's tasks it queued on commit (huey's immediate mode)."""
    from huey.contrib.djhuey import HUEY

    def sweep(at):  # type: ignore[no-untyped-def]
        HUEY.immediate = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                return loops_sweep(now=at)
        finally:
            HUEY.immediate = False

    return sweep


@pytest.fixture
def breach_at_once(db):  # type: ignore[no-untyped-def]
    return SlaPolicy.objects.create(
        name="Tasks",
        kind="task",
        resolution_minutes=60,
        escalation=[{"at": 100, "action": "breach"}],
    )


def test_a_breach_in_the_agents_hands_opens_a_lesson(
    lena,
    alice,
    customer,
    case,
    team,
    breach_at_once,
    now,
    worked,
    django_capture_on_commit_callbacks,
):  # type: ignore[no-untyped-def]
    from huey.contrib.djhuey import HUEY

    loop = loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="Call back",
        team=team,
        assignee=alice,
        now=now,
    )
    with (
        django_capture_on_commit_callbacks() as queued,
        CaptureQueriesContext(connection) as sweeping,
    ):
        loops_sweep(now=now + timedelta(hours=2))
    assert not Lesson.objects.exists()  # the sweep only queued it, for after its commit
    assert not any("coaching_lesson" in q["sql"] for q in sweeping.captured_queries)
    HUEY.immediate = True  # the worker runs what was queued
    try:
        for callback in queued:
            callback()
            callback()  # twice: still one lesson
    finally:
        HUEY.immediate = False
    worked(now + timedelta(hours=3))
    lesson = Lesson.objects.get()
    assert (lesson.agent, lesson.lead, lesson.reason, lesson.breached_loop) == (
        alice,
        lena,
        "breach",
        loop,
    )
    assert "“Call back” passed its deadline" in lesson.what_went_wrong


def test_a_breach_in_the_leads_own_hands_or_nobodys_opens_none(
    lena, customer, case, team, breach_at_once, now, worked
):
    for assignee in (lena, None):
        loop_open(
            customer=customer,
            case=case,
            kind="task",
            title="x",
            team=team,
            assignee=assignee,
            now=now,
        )
    worked(now + timedelta(hours=2))
    assert not Lesson.objects.exists()


def test_a_breach_of_a_loop_of_no_team_opens_none_and_the_sweep_goes_on(
    alice, customer, breach_at_once, now, worked
):
    loop = loop_open(customer=customer, kind="task", title="x", assignee=alice, now=now)
    worked(now + timedelta(hours=2))
    loop.refresh_from_db()
    assert loop.breached_at is not None
    assert not Lesson.objects.exists()


def _lost_sweep(at, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """A sweep whose queued breach_lessons_task never runs (a worker killed holding it)."""
    with django_capture_on_commit_callbacks() as queued:
        loops_sweep(now=at)
    assert queued  # it was queued, and is dropped here


def test_a_breach_whose_task_never_ran_gets_its_lesson_from_the_catch_up(
    lena, alice, customer, case, team, breach_at_once, now, django_capture_on_commit_callbacks
):
    from lastmile.coaching.services import CATCH_UP_GRACE, breach_lessons_catch_up

    loop = loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="Call back",
        team=team,
        assignee=alice,
        now=now,
    )
    _lost_sweep(now + timedelta(hours=2), django_capture_on_commit_callbacks)
    assert not Lesson.objects.exists()
    # within the grace after the breach (an hour in) the task may still be running: left to it
    assert breach_lessons_catch_up(now=now + timedelta(hours=1) + CATCH_UP_GRACE / 2) == 0
    assert not Lesson.objects.exists()
    later = now + timedelta(hours=2, minutes=5)
    assert breach_lessons_catch_up(now=later) == 1
    assert breach_lessons_catch_up(now=later) == 0  # twice: still one
    lesson = Lesson.objects.get()
    assert (lesson.agent, lesson.lead, lesson.reason, lesson.breached_loop) == (
        alice,
        lena,
        "breach",
        loop,
    )
    assert lesson.loop.opened_at == later  # the lead's loop runs from when it was opened


def test_the_catch_up_and_the_task_in_either_order_open_one_lesson(
    lena, alice, customer, case, team, breach_at_once, now, django_capture_on_commit_callbacks
):
    from huey.contrib.djhuey import HUEY

    from lastmile.coaching.services import breach_lessons_catch_up

    loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="x",
        team=team,
        assignee=alice,
        now=now,
    )
    with django_capture_on_commit_callbacks() as queued:
        loops_sweep(now=now + timedelta(hours=2))
    assert breach_lessons_catch_up(now=now + timedelta(hours=2)) == 1
    HUEY.immediate = True  # the task the worker ran late, after the catch-up
    try:
        for callback in queued:
            callback()
    finally:
        HUEY.immediate = False
    assert Lesson.objects.count() == 1


def test_the_catch_up_leaves_old_breaches_and_the_leads_own(
    lena, alice, customer, case, team, breach_at_once, now, django_capture_on_commit_callbacks
):
    from lastmile.coaching.services import LESSON_MAX_AGE, breach_lessons_catch_up

    for assignee in (alice, lena, None):
        loop_open(
            customer=customer,
            case=case,
            kind="task",
            title="x",
            team=team,
            assignee=assignee,
            now=now,
        )
    _lost_sweep(now + timedelta(hours=2), django_capture_on_commit_callbacks)
    # over a week after the breaches: none is opened any more
    assert breach_lessons_catch_up(now=now + LESSON_MAX_AGE + timedelta(hours=2)) == 0
    # within the week: Alice's only, not the lead's own nor the unassigned one
    assert breach_lessons_catch_up(now=now + timedelta(days=1)) == 1
    assert Lesson.objects.get().agent == alice


def test_a_breach_lesson_is_for_the_agent_who_had_the_loop_when_it_breached(
    lena,
    alice,
    bob,
    customer,
    case,
    team,
    breach_at_once,
    now,
    django_capture_on_commit_callbacks,
):  # the trail says who: reassigned since, by hand or by the ladder, it is still Alice's
    from lastmile.coaching.services import breach_lessons_catch_up
    from lastmile.loops.services import loop_reassign

    first = loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="first",
        team=team,
        assignee=alice,
        now=now,
    )
    _lost_sweep(now + timedelta(hours=2), django_capture_on_commit_callbacks)
    loop_reassign(loop=first, assignee=bob, now=now + timedelta(hours=3))
    breach_at_once.escalation = [
        {"at": 100, "action": "breach"},
        {"at": 100, "action": "reassign_to_lead"},
    ]
    breach_at_once.save()
    second = loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="second",
        team=team,
        assignee=alice,
        now=now + timedelta(hours=3),
    )
    _lost_sweep(now + timedelta(hours=5), django_capture_on_commit_callbacks)
    second.refresh_from_db()
    assert second.assignee == lena  # the ladder handed it to the lead as it breached
    assert breach_lessons_catch_up(now=now + timedelta(hours=6)) == 2
    assert {(lesson.breached_loop, lesson.agent) for lesson in Lesson.objects.all()} == {
        (first, alice),
        (second, alice),
    }


def test_the_task_also_opens_the_lesson_for_the_agent_at_the_breach(
    lena, alice, customer, case, team, breach_at_once, now, worked
):  # the sweep that breached the loop handed it to the lead in the same run
    breach_at_once.escalation = [
        {"at": 100, "action": "breach"},
        {"at": 100, "action": "reassign_to_lead"},
    ]
    breach_at_once.save()
    loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="x",
        team=team,
        assignee=alice,
        now=now,
    )
    worked(now + timedelta(hours=2))
    assert Lesson.objects.get().agent == alice


def test_the_catch_up_runs_every_five_minutes_on_the_worker(now):
    from huey.contrib.djhuey import HUEY

    def due(minute):  # type: ignore[no-untyped-def]
        return {t.name for t in HUEY.read_periodic(now.replace(minute=minute))}

    assert any(name.endswith("breach_lessons_catch_up_task") for name in due(5))
    assert not any(name.endswith("breach_lessons_catch_up_task") for name in due(7))


def test_the_catch_up_task_opens_the_missing_lessons(
    lena, alice, customer, case, team, breach_at_once, now, django_capture_on_commit_callbacks
):
    from lastmile.coaching.tasks import breach_lessons_catch_up_task

    loop_open(
        customer=customer,
        case=case,
        kind="task",
        title="x",
        team=team,
        assignee=alice,
        now=now - timedelta(hours=3),
    )
    _lost_sweep(now - timedelta(hours=1), django_capture_on_commit_callbacks)
    breach_lessons_catch_up_task.call_local()  # the clock stands at now
    assert Lesson.objects.get().agent == alice


@pytest.fixture
def lesson(lena, solved, card, now):  # type: ignore[no-untyped-def]
    review(lena, solved, card, **LOW, now=now)
    return Lesson.objects.get()


def test_submit_return_resubmit_accept_closes_the_coaching_loop(lesson, alice, lena, now):
    t = now + timedelta(days=1)
    lesson_submit(lesson=lesson, actor=alice, draft="Sorry for the wait, Priya.", now=t)
    assert lesson.state == "submitted" and lesson.loop.state == "open"

    lesson_return(lesson=lesson, actor=lena, note="Name the next step.", now=t + timedelta(hours=1))
    lesson.refresh_from_db()
    assert (lesson.state, lesson.lead_note) == ("returned", "Name the next step.")
    assert Loop.objects.get(pk=lesson.loop_id).state == "open"

    lesson_submit(
        lesson=lesson,
        actor=alice,
        answers=["Where it is", "Say when", "Late parcels"],
        now=t + timedelta(hours=2),
    )
    lesson_accept(lesson=lesson, actor=lena, note="Good.", now=t + timedelta(hours=3))
    lesson.refresh_from_db()
    assert lesson.state == "accepted"
    loop = Loop.objects.get(pk=lesson.loop_id)
    assert loop.state == "closed" and loop.closed_at == t + timedelta(hours=3)
    trail = list(lesson.events.values_list("kind", "actor__username"))
    assert trail == [
        ("opened", "lena"),
        ("submitted", "alice"),
        ("returned", "lena"),
        ("submitted", "alice"),
        ("accepted", "lena"),
    ]
    assert lesson.events.last().data == {"state": "accepted"}
    assert lesson.events.all()[3].data["answers"] == ["Where it is", "Say when", "Late parcels"]


def test_a_submission_needs_every_answer_or_a_draft(lesson, alice, now):
    with pytest.raises(InvalidInput) as e:
        lesson_submit(lesson=lesson, actor=alice, answers=["one", ""], now=now)
    assert [f.field for f in e.value.errors] == ["answers", "draft"]
    assert "question 2 is empty" in e.value.detail
    lesson.refresh_from_db()
    assert lesson.state == "assigned"


def test_too_many_answers_are_refused(lesson, alice, now):
    with pytest.raises(InvalidInput) as e:
        lesson_submit(lesson=lesson, actor=alice, answers=["a"] * 4, now=now)
    assert e.value.errors[0].field == "answers"


def test_only_the_agent_submits_and_only_the_lead_decides(lesson, alice, bob, lena, now):
    with pytest.raises(PermissionDenied):
        lesson_submit(lesson=lesson, actor=lena, draft="x", now=now)
    lesson_submit(lesson=lesson, actor=alice, draft="x", now=now)
    for who in (alice, bob):
        with pytest.raises(PermissionDenied):
            lesson_accept(lesson=lesson, actor=who, now=now)


def test_the_wrong_state_is_a_conflict(lesson, alice, lena, now):
    with pytest.raises(Conflict):
        lesson_accept(lesson=lesson, actor=lena, now=now)
    lesson_submit(lesson=lesson, actor=alice, draft="x", now=now)
    with pytest.raises(Conflict):
        lesson_submit(lesson=lesson, actor=alice, draft="y", now=now)


def test_returning_needs_a_note(lesson, alice, lena, now):
    lesson_submit(lesson=lesson, actor=alice, draft="x", now=now)
    with pytest.raises(InvalidInput) as e:
        lesson_return(lesson=lesson, actor=lena, note=" ", now=now)
    assert e.value.errors[0].field == "note"


def test_an_agent_sees_their_own_a_lead_their_teams_an_admin_all(
    lesson, alice, bob, lena, charlie, admin_user, team
):
    other_lead = AgentFactory(user__username="olga", role="lead", teams=[team]).user
    assert list(lessons_visible(viewer=alice)) == [lesson]
    assert list(lessons_visible(viewer=lena)) == [lesson]
    assert list(lessons_visible(viewer=other_lead)) == [lesson]
    assert list(lessons_visible(viewer=admin_user)) == [lesson]
    for outsider in (bob, charlie):
        assert list(lessons_visible(viewer=outsider)) == []
        with pytest.raises(NotFound):
            lesson_get(lesson_id=lesson.pk, viewer=outsider)


def test_the_list_filters_by_state(lesson, alice):
    assert list(lesson_list(viewer=alice, state="open")) == [lesson]
    assert list(lesson_list(viewer=alice, state="accepted")) == []
    with pytest.raises(InvalidInput) as e:
        list(lesson_list(viewer=alice, state="nope"))
    assert e.value.errors[0].field == "state"
