"""Enrolments in the admin: written by the service (checked, audited); replies and events are
read-only, the audit trail."""

from __future__ import annotations

import pytest

from lastmile.responders.models import Enrolment, ResponderEvent

pytestmark = pytest.mark.django_db


def test_an_admin_enrols_through_the_form_and_it_is_audited(staff, sam, team, thanks):
    response = staff.post(
        "/admin/responders/enrolment/add/",
        {
            "user": sam.pk,
            "team": team.pk,
            "networks": '["twitter"]',
            "macros": [thanks.pk],
            "simple_max_messages": 4,
            "approvals_needed": 3,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    e = Enrolment.objects.get()
    assert e.networks == ["twitter"] and list(e.macros.all()) == [thanks]
    assert e.approvals_needed == 3
    assert ResponderEvent.objects.get().kind == "enrolled"


def test_the_form_names_a_bad_field(staff, sam, team, other_team):
    from tests.macros.factories import MacroFactory

    theirs = MacroFactory(name="Back office's", team=other_team)
    response = staff.post(
        "/admin/responders/enrolment/add/",
        {
            "user": sam.pk,
            "team": team.pk,
            "networks": '["twitter"]',
            "macros": [theirs.pk],
            "simple_max_messages": 4,
            "approvals_needed": 3,
        },
    )
    assert response.status_code == 200
    assert "not one of Front office" in response.content.decode()
    assert not Enrolment.objects.exists()


def test_replies_and_events_are_read_only(staff):
    assert staff.get("/admin/responders/responderreply/").status_code == 200
    assert staff.get("/admin/responders/responderreply/add/").status_code == 403
    assert staff.get("/admin/responders/responderevent/add/").status_code == 403
