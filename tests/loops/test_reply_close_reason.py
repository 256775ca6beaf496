"""An open reply loop is closed by hand only with a reason, whoever closes it: a person, an
integration's token through the API, or the admin's action. Only the reply itself (the
reaction to an outbound message) closes it with its own "replied on …"."""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.core.errors import InvalidInput
from lastmile.loops.models import Loop, LoopEvent, LoopState
from lastmile.loops.services import loop_close, loop_open
from tests.api.client import Api

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/loops/loop/"


@pytest.fixture
def reply_loop(customer, case, team, now):
    return loop_open(
        customer=customer,
        case=case,
        kind="reply",
        title="Reply",
        channel="email",
        team=team,
        now=now,
    )


def test_the_system_closing_an_open_reply_loop_without_a_reason_is_refused(reply_loop, now):
    with pytest.raises(InvalidInput) as caught:
        loop_close(loop=reply_loop, actor=None, reason="  ", now=now)
    assert [e.field for e in caught.value.errors] == ["reason"]
    assert Loop.objects.get(pk=reply_loop.pk).state == LoopState.OPEN


def test_an_integration_token_closing_a_reply_loop_without_a_reason_gets_422(
    client, reply_loop, now
):
    api = Api(client, token_create(name="crm", now=now)[1])
    r = api.post(f"/loops/{reply_loop.pk}/close", {"reason": ""})
    assert r.status_code == 422
    assert "reason" in str(r.json())
    assert Loop.objects.get(pk=reply_loop.pk).state == LoopState.OPEN
    r = api.post(f"/loops/{reply_loop.pk}/close", {"reason": "answered by phone"})
    assert r.status_code == 200 and r.json()["state"] == "closed"


def test_the_admin_close_action_asks_for_a_reason_and_records_it(staff, reply_loop):
    # when the admin picks "Close selected loops" without a reason yet
    r = staff.post(CHANGELIST, {"action": "close_loops", "_selected_action": [reply_loop.pk]})

    # then a page asks for the reason and nothing is closed
    assert r.status_code == 200
    assert 'name="reason"' in r.content.decode()
    assert Loop.objects.get(pk=reply_loop.pk).state == LoopState.OPEN

    # when they send it empty, it is asked again
    r = staff.post(
        CHANGELIST,
        {"action": "close_loops", "_selected_action": [reply_loop.pk], "apply": "1", "reason": ""},
    )
    assert r.status_code == 200 and Loop.objects.get(pk=reply_loop.pk).state == LoopState.OPEN

    # when they give one, the loop is closed with it
    r = staff.post(
        CHANGELIST,
        {
            "action": "close_loops",
            "_selected_action": [reply_loop.pk],
            "apply": "1",
            "reason": "duplicate",
        },
    )
    assert r.status_code == 302
    assert Loop.objects.get(pk=reply_loop.pk).state == LoopState.CLOSED
    assert LoopEvent.objects.get(loop=reply_loop, kind="closed").reason == "duplicate"
