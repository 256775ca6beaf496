"""The admin's case form writes through the same services as the console and the API."""

from __future__ import annotations

import pytest

from lastmile.cases.models import CaseEvent
from lastmile.cases.selectors import case_tag_names
from tests.core.test_audit import post_change

pytestmark = pytest.mark.django_db


def test_tags_and_priority_edited_in_the_admin_are_in_the_cases_history(staff, admin_user, case):
    r = post_change(staff, admin_user, case, tag_list="VIP, billing", priority="high")
    assert r.status_code == 302, r.content[:2000]
    assert case_tag_names(case_ids=[case.pk]) == {case.pk: ["billing", "vip"]}
    events = {e.kind: e for e in CaseEvent.objects.filter(case=case)}
    assert events["tags"].actor == admin_user
    assert events["priority"].data == {"from": "normal", "to": "high"}


def test_a_bad_tag_in_the_admin_is_a_form_error_and_nothing_is_saved(staff, admin_user, case):
    r = post_change(staff, admin_user, case, tag_list="ok, <b>", priority="high")
    assert r.status_code == 200
    case.refresh_from_db()
    assert case.priority == "normal"
    assert not CaseEvent.objects.exists()
