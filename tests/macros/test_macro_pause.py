"""A macro's "pause the reply loop" means "waiting on the customer": the reply closes the
reply loop it answers, then the case keeps one reply loop open with its clock stopped until
the customer writes again (which restarts it on that same loop)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.channels.replies import case_reply_send
from lastmile.core.errors import InvalidInput
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, LoopState
from lastmile.macros.services import macro_save
from tests.macros.factories import MacroFactory

pytestmark = pytest.mark.django_db


def _customer_writes(case, at):
    interaction_record(
        customer=case.customer,
        case=case,
        channel="portal",
        direction="inbound",
        occurred_at=at,
        now=at,
        body="Is it done?",
    )


def test_a_pause_macro_leaves_the_case_waiting_on_the_customer_until_they_write(
    case, alice, team, now
):
    _customer_writes(case, now)
    answered = Loop.objects.get(case=case, kind="reply")
    macro = MacroFactory(team=team, name="Need photo", pause_reply_loop=True)

    # when the agent replies with the macro
    case_reply_send(
        case=case, channel="portal", body="A photo?", actor=alice, now=now, macro=macro.pk
    )

    # then the loop the reply answered is closed, and one reply loop waits, clock stopped
    assert Loop.objects.get(pk=answered.pk).state == LoopState.CLOSED
    [waiting] = Loop.objects.filter(case=case, state=LoopState.OPEN)
    assert waiting.kind == "reply" and waiting.paused_at is not None
    assert waiting.events.filter(kind="paused", reason__contains="Need photo").exists()

    # when the customer writes again, that loop's clock restarts; no second loop opens
    _customer_writes(case, now + timedelta(hours=2))
    [again] = Loop.objects.filter(case=case, state=LoopState.OPEN)
    assert again.pk == waiting.pk and again.paused_at is None

    # and the next reply closes it
    case_reply_send(
        case=case, channel="portal", body="Thanks", actor=alice, now=now + timedelta(hours=3)
    )
    assert not Loop.objects.filter(case=case, state=LoopState.OPEN).exists()


def test_a_macro_that_pauses_cannot_also_solve_the_case(alice, team, now):
    with pytest.raises(InvalidInput) as caught:
        macro_save(
            name="Bye",
            body="Bye",
            team=team,
            set_status="solved",
            pause_reply_loop=True,
            actor=alice,
            now=now,
        )
    assert [e.field for e in caught.value.errors] == ["pause_reply_loop"]


def test_the_admin_explains_pause_and_refuses_it_with_solved(staff, team):
    from lastmile.macros.models import Macro

    page = staff.get("/admin/macros/macro/add/").content.decode()
    assert "until the customer writes again" in page
    response = staff.post(
        "/admin/macros/macro/add/",
        {
            "name": "Bye",
            "body": "Bye",
            "team": team.pk,
            "set_status": "solved",
            "pause_reply_loop": "on",
        },
    )
    assert response.status_code == 200
    assert "waiting on the customer is not solved" in response.content.decode()
    assert not Macro.objects.exists()
