"""Surveys and reason tags in the admin: written through the services, with audit rows."""

from __future__ import annotations

import pytest

from lastmile.core.models import AuditEntry
from lastmile.feedback.models import ReasonTag, Survey

pytestmark = pytest.mark.django_db


def test_an_admin_adds_a_survey(staff, team):
    r = staff.post(
        "/admin/feedback/survey/add/",
        {
            "name": "After a visit",
            "kind": "csat",
            "team": team.pk,
            "trigger": "loop_closed",
            "trigger_loop_kind": "visit",
            "channel": "email",
            "language": "en",
            "wording": "{}",
            "comment_question": "Why?",
            "recovery_business_days": 2,
            "invite_days": 30,
            "remind_after_hours": 72,
            "active": "on",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    survey = Survey.objects.get()
    assert (survey.kind, survey.trigger_loop_kind) == ("csat", "visit")
    assert AuditEntry.objects.filter(object_id=str(survey.pk)).exists()


def test_a_loop_closed_survey_without_a_loop_kind_is_refused_on_its_field(staff, team):
    r = staff.post(
        "/admin/feedback/survey/add/",
        {
            "name": "After a visit",
            "kind": "csat",
            "team": team.pk,
            "trigger": "loop_closed",
            "channel": "email",
            "language": "en",
            "wording": "{}",
            "recovery_business_days": 2,
            "invite_days": 30,
            "remind_after_hours": 72,
        },
    )
    assert r.status_code == 200 and "trigger_loop_kind" in str(r.context["adminform"].form.errors)
    assert not Survey.objects.exists()


def test_an_admin_configures_the_reason_list(staff):
    r = staff.post(
        "/admin/feedback/reasontag/add/",
        {"name": "Late delivery", "keywords": "late, delay", "position": 1, "active": "on"},
    )
    assert r.status_code == 302 and ReasonTag.objects.get().keywords == "late, delay"
    assert staff.get("/admin/feedback/reasontag/").status_code == 200
    assert staff.get("/admin/feedback/response/").status_code == 200
    assert staff.get("/admin/feedback/invite/").status_code == 200
