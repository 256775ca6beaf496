"""The QA admin: scorecards with their categories inline; reviews shown, never changed."""

from __future__ import annotations

import pytest

from lastmile.scorecards.models import QaCategory, QaReview, QaScorecard
from lastmile.scorecards.services import qa_autoreview
from tests.scorecards.qa_helpers import conversation

pytestmark = pytest.mark.django_db


def test_a_scorecard_is_made_with_its_categories_inline(staff, team):
    r = staff.post(
        "/admin/scorecards/qascorecard/add/",
        {
            "name": "Front office QA",
            "team": team.pk,
            "active": "on",
            "categories-TOTAL_FORMS": "2",
            "categories-INITIAL_FORMS": "0",
            "categories-0-position": "0",
            "categories-0-name": "Tone",
            "categories-0-weight": "1",
            "categories-0-min_score": "1",
            "categories-0-max_score": "5",
            "categories-1-position": "1",
            "categories-1-name": "Accuracy",
            "categories-1-weight": "3",
            "categories-1-min_score": "0",
            "categories-1-max_score": "10",
            "categories-1-critical": "on",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    card = QaScorecard.objects.get(name="Front office QA")
    assert [(c.name, c.weight, c.critical) for c in card.categories.all()] == [
        ("Tone", 1, False),
        ("Accuracy", 3, True),
    ]


def test_a_category_with_max_not_above_min_is_refused(staff):
    r = staff.post(
        "/admin/scorecards/qascorecard/add/",
        {
            "name": "Broken",
            "active": "on",
            "categories-TOTAL_FORMS": "1",
            "categories-INITIAL_FORMS": "0",
            "categories-0-position": "0",
            "categories-0-name": "Tone",
            "categories-0-weight": "1",
            "categories-0-min_score": "5",
            "categories-0-max_score": "5",
        },
    )
    assert r.status_code == 200
    assert not QaScorecard.objects.filter(name="Broken").exists()
    assert not QaCategory.objects.filter(name="Tone").exists()


def test_an_automatic_review_is_shown_and_cannot_be_changed(staff, customer, team, alice, now):
    case = conversation(customer, team, alice, at=now, parts=[("in", "Hi"), ("out", "Hello")])
    review = qa_autoreview(case=case, now=now)
    page = staff.get(f"/admin/scorecards/qareview/{review.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    r = staff.post(f"/admin/scorecards/qareview/{review.pk}/change/", {"score": "0"})
    assert r.status_code == 403
    assert QaReview.objects.get(pk=review.pk).score == review.score
    assert staff.get("/admin/scorecards/qareview/add/").status_code == 403
