"""The automatic first pass: one review per closed case, each rule a category of the
Automatic scorecard, written once however often it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.promises.services import promise_record
from lastmile.scorecards.models import QaReview, QaScore, QaScorecard
from lastmile.scorecards.services import (
    qa_automatic_scorecard,
    qa_autoreview,
    qa_autoreview_pending,
)
from lastmile.scorecards.tasks import qa_autoreview_task
from tests.scorecards.qa_helpers import conversation

pytestmark = pytest.mark.django_db


def rules_of(review):  # type: ignore[no-untyped-def]
    return {s.category.rule: s.score for s in review.scores.select_related("category")}


def test_the_automatic_scorecard_has_one_category_per_rule(db):
    card = qa_automatic_scorecard()
    assert card.automatic and card.name == "Automatic"
    cats = list(card.categories.all())
    assert [c.rule for c in cats] == ["answered", "next_step", "promise_recorded", "sentiment"]
    assert all((c.min_score, c.max_score) == (0, 1) for c in cats)
    assert [c.critical for c in cats] == [True, False, False, False]
    assert qa_automatic_scorecard().pk == card.pk
    assert QaScorecard.objects.filter(automatic=True).count() == 1


def test_a_good_conversation_scores_100(customer, team, alice, now):
    case = conversation(
        customer,
        team,
        alice,
        at=now,
        parts=[
            ("in", "My parcel is late", -0.5),
            ("out", "It arrives by Friday."),
            ("in", "Thanks!", 0.8),
            ("out", "Glad to help, next time just reply here."),
        ],
    )
    review = qa_autoreview(case=case, now=now + timedelta(hours=1))
    assert review is not None and review.automatic and review.reviewer is None
    assert review.agent == alice and review.team == team
    assert rules_of(review) == {
        "answered": 1,
        "next_step": 1,
        "promise_recorded": 1,
        "sentiment": 1,
    }
    assert review.score == 100.0
    assert review.conversation_at == case.solved_at


def test_an_unanswered_conversation_scores_0_the_rule_being_critical(customer, team, alice, now):
    case = conversation(
        customer,
        team,
        alice,
        at=now,
        parts=[("in", "Where is it?"), ("out", "We will check."), ("in", "Hello??")],
    )
    review = qa_autoreview(case=case, now=now)
    assert rules_of(review)["answered"] == 0
    assert review.score == 0.0


def test_no_next_step_and_worse_sentiment_weigh_in(customer, team, alice, now):
    case = conversation(
        customer,
        team,
        alice,
        at=now,
        parts=[("in", "Hi", 0.4), ("out", "Ok."), ("in", "Useless", -0.9), ("out", "Sorry.")],
    )
    review = qa_autoreview(case=case, now=now)
    assert rules_of(review) == {
        "answered": 1,
        "next_step": 0,
        "promise_recorded": 1,
        "sentiment": 0,
    }
    # (3 + 2) of weights 3, 2, 2, 1 passed.
    assert review.score == pytest.approx(100 * 5 / 8, abs=0.01)


def test_a_promise_said_but_not_recorded_fails_its_rule(customer, team, alice, now):
    case = conversation(
        customer, team, alice, at=now, parts=[("in", "Refund?"), ("out", "I'll refund you today.")]
    )
    assert rules_of(qa_autoreview(case=case, now=now))["promise_recorded"] == 0


def test_a_promise_said_and_recorded_passes_its_rule(customer, team, alice, now):
    case = conversation(
        customer,
        team,
        alice,
        at=now,
        parts=[("in", "Refund?"), ("out", "I'll refund you today.")],
        solved=False,
    )
    promise_record(
        case=case,
        text="Refund today",
        terms={},
        due_at=now + timedelta(days=1),
        team=team,
        channel="email",
        made_by=alice,
        actor=alice,
        now=now,
    )
    case.status, case.solved_at = "solved", now + timedelta(minutes=5)
    case.save()
    assert rules_of(qa_autoreview(case=case, now=now))["promise_recorded"] == 1


def test_an_open_case_gets_no_automatic_review(customer, team, alice, now):
    case = conversation(
        customer, team, alice, at=now, parts=[("in", "Hi"), ("out", "Hello")], solved=False
    )
    assert qa_autoreview(case=case, now=now) is None
    assert qa_autoreview_pending(now=now) == 0
    assert not QaReview.objects.exists()


def test_the_agent_who_replied_is_reviewed_when_nobody_is_assigned(customer, team, alice, now):
    case = conversation(customer, team, alice, at=now, parts=[("in", "Hi"), ("out", "Hello")])
    case.assignee = None
    case.save()
    assert qa_autoreview(case=case, now=now).agent == alice


def test_the_pass_reviews_each_closed_case_once(customer, team, alice, bob, now):
    one = conversation(
        customer, team, alice, at=now, parts=[("in", "Hi"), ("out", "We will call.")]
    )
    two = conversation(customer, team, bob, at=now, parts=[("in", "Hi"), ("out", "Done.")])
    conversation(customer, team, bob, at=now, parts=[("in", "Hi")], solved=False)
    assert qa_autoreview_pending(now=now) == 2
    assert qa_autoreview_pending(now=now) == 0
    qa_autoreview_task.call_local()
    assert sorted(QaReview.objects.values_list("case_id", flat=True)) == sorted([one.pk, two.pk])
    assert QaScore.objects.count() == 8
    assert qa_autoreview(case=one, now=now).pk == QaReview.objects.get(case=one).pk
