"""A responder's saved response does what the console's does (its tag, status and pause),
the lead is emailed once about each held reply, and a held reply's approval task closes
with the lead's decision, never without one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.channels.models import OutboxMessage
from lastmile.core.errors import Conflict
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_cancel, loop_close
from lastmile.responders.models import ResponderEvent
from lastmile.responders.services import (
    enrolment_save,
    reply_approve,
    reply_return,
    reply_submit,
)
from tests.macros.factories import MacroFactory
from tests.responders.conftest import mention_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_hold(team):  # type: ignore[no-untyped-def]
    """A saved response that waits on the customer: tag, pending, the reply loop paused."""
    return MacroFactory(
        name="Which store?",
        body="Which store was it? We will check it today.",
        team=team,
        add_tag="store-visit",
        set_status="pending",
        pause_reply_loop=True,
    )


@pytest.fixture
def solved(team):  # type: ignore[no-untyped-def]
    return MacroFactory(
        name="Fixed in store",
        body="The reader in the Leeds store works again. Thanks for telling us!",
        team=team,
        add_tag="store-fixed",
        set_status="solved",
    )


def tags(case):  # type: ignore[no-untyped-def]
    return set(case.tags.values_list("name", flat=True))


def _enrol(sam, team, lead, macros, now, approvals_needed):  # type: ignore[no-untyped-def]
    return enrolment_save(
        user=sam,
        team=team,
        networks=["twitter"],
        macros=macros,
        approvals_needed=approvals_needed,
        actor=lead,
        now=now - timedelta(days=1),
    )


# --- the saved response's field actions -------------------------------------------------------


def test_a_sent_reply_applies_the_saved_responses_tag_status_and_pause(
    brand, sam, team, lead, on_hold, now
):
    # given Sam, trusted to send at once, with a saved response that waits on the customer
    _enrol(sam, team, lead, [on_hold], now, approvals_needed=0)
    mention = mention_make(now=now)

    # when Sam answers a mention with it
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=on_hold)

    # then the reply went out and the case has the saved response's tag and status
    assert row.state == "sent"
    case = Case.objects.get(pk=row.case_id)
    assert "store-visit" in tags(case) and case.status == "pending"
    # and one reply loop is open on the case with its clock stopped (waiting on the customer)
    waiting = Loop.objects.filter(case=case, kind="reply", state="open")
    assert waiting.count() == 1 and waiting.get().paused_at is not None
    # and the audit row says what was done
    sent = ResponderEvent.objects.get(reply=row, kind="sent")
    assert sent.data["actions"] == [
        "waiting on the customer (reply loop paused)",
        "tagged store-visit",
        "status set to pending",
    ]


def test_a_held_reply_applies_its_saved_response_when_approved_not_before(
    brand, sam, team, lead, solved, now
):
    # given Sam's first reply, held, with a saved response that solves the case
    _enrol(sam, team, lead, [solved], now, approvals_needed=1)
    mention = mention_make(now=now)
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=solved)
    case = Case.objects.get(pk=row.case_id)
    assert row.state == "held" and "store-fixed" not in tags(case) and case.status == "open"

    # when Lena approves it (her approval task is on the same case)
    reply_approve(reply=row, actor=lead, now=now + timedelta(minutes=5))

    # then the case is tagged and solved: no loop of it is left open, her task included
    case.refresh_from_db()
    assert "store-fixed" in tags(case) and case.status == "solved"
    assert not Loop.objects.filter(case=case, state="open").exists()


def test_a_returned_reply_applies_nothing(brand, sam, team, lead, solved, now):
    _enrol(sam, team, lead, [solved], now, approvals_needed=1)
    row, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=solved)

    reply_return(reply=row, actor=lead, note="Check with the store first.", now=now)

    case = Case.objects.get(pk=row.case_id)
    assert "store-fixed" not in tags(case) and case.status == "open"


# --- the lead is emailed about a held reply ---------------------------------------------------


def test_the_lead_is_emailed_once_about_each_held_reply(enrolment, brand, sam, thanks, now):
    # when Sam's first two replies are held (one sent twice with the same key)
    first = mention_make(now=now)
    row, _ = reply_submit(
        responder=sam, now=now, mention=first, macro=thanks, idempotency_key="k1", fingerprint="f"
    )
    reply_submit(
        responder=sam, now=now, mention=first, macro=thanks, idempotency_key="k1", fingerprint="f"
    )
    other, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)

    # then Lena has one email per held reply, through the outbox, with the reply and the link
    told = list(OutboxMessage.objects.order_by("pk"))
    assert [m.key for m in told] == [
        f"responder-reply:{row.pk}:held",
        f"responder-reply:{other.pk}:held",
    ]
    mail = told[0]
    assert (mail.recipient, mail.channel, mail.purpose) == (
        "lena@example.com",
        "email",
        "notification",
    )
    assert mail.customer_id is None  # to an agent: no customer's contact rules count it
    assert mail.subject.startswith("[approval] Sam Reed's reply to @")
    assert row.body in mail.body and "Thanks, we are on it" in mail.body
    assert "/responders/approvals/" in mail.body
    assert ResponderEvent.objects.get(reply=row, kind="held").data["told"] == "lena@example.com"


def test_the_named_approver_is_emailed_else_the_teams_address(
    brand, sam, team, lead, alice, thanks, now
):
    # given Sam's enrolment names Alice as the approver
    enrolment_save(
        user=sam,
        team=team,
        networks=["twitter"],
        macros=[thanks],
        approver=alice,
        approvals_needed=3,
        actor=lead,
        now=now - timedelta(days=1),
    )
    row, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    assert OutboxMessage.objects.get().recipient == "alice@example.com"

    # and when nobody who decides has an address, the team's address is told
    alice.email = ""
    alice.save()
    row, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    assert OutboxMessage.objects.get(key=f"responder-reply:{row.pk}:held").recipient == team.email


def test_a_reply_sent_at_once_emails_nobody(brand, sam, team, lead, thanks, now):
    _enrol(sam, team, lead, [thanks], now, approvals_needed=0)
    row, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    assert row.state == "sent" and not OutboxMessage.objects.exists()


# --- the approval task closes with the decision ------------------------------------------------


@pytest.mark.parametrize("how", ["close", "cancel"])
def test_the_approval_task_is_not_finished_without_a_decision(
    enrolment, mention, sam, thanks, lead, now, how
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    task = row.approval_loop

    # when Lena closes (or cancels) the task itself instead of deciding
    with pytest.raises(Conflict) as refused:
        if how == "close":
            loop_close(loop=task, actor=lead, reason="done", now=now)
        else:
            loop_cancel(loop=task, actor=lead, reason="not needed", now=now)

    # then it is refused, pointing at the decision, and nothing changed
    assert f"reply #{row.pk}" in refused.value.detail
    assert "/responders/approvals/" in refused.value.detail
    task.refresh_from_db()
    row.refresh_from_db()
    assert task.state == "open" and row.state == "held"
    # and the decision closes it
    reply_return(reply=row, actor=lead, note="Ask which store first.", now=now)
    task.refresh_from_db()
    assert task.state == "closed"


def test_closing_the_approval_task_from_the_console_is_refused_with_the_reason(
    client, enrolment, mention, sam, thanks, lead, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    task = row.approval_loop
    client.force_login(lead)

    r = client.post(f"/cases/{task.case.ref}/loops/{task.pk}/close/", {})

    assert r.status_code == 409, r.content[:500]
    assert f"reply #{row.pk}" in r.content.decode()
    task.refresh_from_db()
    row.refresh_from_db()
    assert task.state == "open" and row.state == "held"


def test_other_tasks_close_as_before(enrolment, mention, sam, thanks, lead, now):
    # a task on the same case that is not an approval closes without a decision
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    from lastmile.loops.services import loop_open

    other = loop_open(
        customer=row.case.customer,
        case=row.case,
        kind="task",
        title="Call the store",
        team=row.team,
        actor=lead,
        now=now,
    )
    loop_close(loop=other, actor=lead, reason="called", now=now)
    other.refresh_from_db()
    assert other.state == "closed"
