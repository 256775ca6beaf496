"""The admin sets each team's QA target; lessons are shown there, never edited or added."""

from __future__ import annotations

import pytest

from lastmile.coaching.models import CoachingSettings, Lesson
from lastmile.coaching.services import qa_target_for
from tests.coaching.conftest import review

pytestmark = pytest.mark.django_db


def test_the_qa_target_is_set_in_the_admin(staff, team):
    assert qa_target_for(team) == 80
    assert staff.get("/admin/coaching/coachingsettings/").status_code == 200
    r = staff.post(
        "/admin/coaching/coachingsettings/add/",
        {"team": team.pk, "qa_target": 70, "automatic_reviews": ""},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert qa_target_for(team) == 70


def test_a_target_over_100_is_refused(staff, team):
    r = staff.post("/admin/coaching/coachingsettings/add/", {"team": team.pk, "qa_target": 101})
    assert r.status_code == 200 and not CoachingSettings.objects.exists()


def test_lessons_are_read_only_in_the_admin(staff, lena, solved, card, now):
    review(lena, solved, card, tone=1, accuracy=0, now=now)
    lesson = Lesson.objects.get()
    assert staff.get("/admin/coaching/lesson/").status_code == 200
    page = staff.get(f"/admin/coaching/lesson/{lesson.pk}/change/").content.decode()
    assert 'name="state"' not in page and 'name="draft"' not in page
    assert staff.get("/admin/coaching/lesson/add/").status_code == 403
