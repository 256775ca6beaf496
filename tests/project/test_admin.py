"""The admin screens configure lastmile; they never bypass the services' rules."""

from __future__ import annotations

import pytest

from lastmile.api.models import ApiToken
from lastmile.cases.models import Case
from lastmile.core.ids import token_hash
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_open

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "people/team",
        "people/agent",
        "loops/slapolicy",
        "loops/businesshours",
        "api/apitoken",
        "cases/case",
        "loops/loop",
        "customers/customer",
        "channels/outboxmessage",
    ],
)
def test_every_configuration_screen_renders(staff, path):
    assert staff.get(f"/admin/{path}/").status_code == 200
    assert staff.get(f"/admin/{path}/add/").status_code in (200, 403)


def test_the_solve_action_is_refused_while_a_loop_is_open(staff, case, now):
    loop_open(customer=case.customer, case=case, kind="task", title="Enable access", now=now)
    r = staff.post(
        "/admin/cases/case/", {"action": "mark_solved", "_selected_action": [case.pk]}, follow=True
    )
    assert "still open" in r.content.decode()
    assert Case.objects.get().status == "open"


def test_a_case_status_cannot_be_edited_directly(staff, case):
    page = staff.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert 'name="status"' not in page


def test_loops_are_read_only_and_close_through_the_service(staff, customer, now):
    loop = loop_open(customer=customer, kind="task", title="x", now=now)
    page = staff.get(f"/admin/loops/loop/{loop.pk}/change/").content.decode()
    assert 'name="state"' not in page
    staff.post(
        "/admin/loops/loop/",
        {"action": "close_loops", "_selected_action": [loop.pk], "apply": "1", "reason": "done"},
    )
    loop.refresh_from_db()
    assert loop.state == "closed" and loop.closed_at is not None
    assert list(loop.events.values_list("kind", flat=True)) == ["opened", "closed"]


def test_a_token_made_in_the_admin_is_shown_once_and_stored_hashed(staff):
    r = staff.post("/admin/api/apitoken/add/", {"name": "crm"}, follow=True)
    text = r.content.decode()
    token = text.split("Token for crm: ")[1].split(" ")[0]
    row = ApiToken.objects.get(name="crm")
    assert row.token_hash == token_hash(token)
    assert staff.get(f"/admin/api/apitoken/{row.pk}/change/").content.decode().count(token) == 0


def test_a_policy_with_a_bad_escalation_ladder_is_refused(staff):
    r = staff.post(
        "/admin/loops/slapolicy/add/",
        {
            "name": "Bad",
            "position": 1,
            "active": "on",
            "escalation": '[{"at": 75, "action": "shout"}]',
        },
    )
    assert r.status_code == 200 and "escalation[0].action" in r.content.decode()
    assert not Loop.objects.exists()
