"""Guarded replies: the enrolment's limits, the policy check, the lead's approval of the first
replies, the audit rows, the Idempotency-Key, and enrolments themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.services import case_tags_set
from lastmile.core.errors import Conflict, DomainError, InvalidInput, PermissionDenied
from lastmile.customers.models import Interaction
from lastmile.customers.services.timeline import interaction_record
from lastmile.listening.models import Mention
from lastmile.loops.models import Loop
from lastmile.responders.models import Enrolment, ResponderEvent, ResponderReply
from lastmile.responders.selectors import (
    cases_answerable,
    mentions_answerable,
    responder_card,
)
from lastmile.responders.services import (
    LimitRefused,
    enrolment_save,
    enrolment_set_active,
    reply_approve,
    reply_return,
    reply_submit,
)
from tests.cases.factories import CaseFactory
from tests.responders.conftest import mention_make

pytestmark = pytest.mark.django_db


def events(row):  # type: ignore[no-untyped-def]
    return list(ResponderEvent.objects.filter(reply=row).values_list("kind", flat=True))


# --- the first replies wait for the lead ------------------------------------------------------


def test_a_first_reply_is_held_for_the_lead_and_nothing_is_sent(
    enrolment, mention, sam, thanks, now
):
    # when Sam answers a mention with an allowed saved response
    row, created = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)

    # then it is held for the lead, with the saved response's text filled for Sam
    assert created and row.state == "held"
    assert row.hold == ["first_replies"]
    assert (
        "one of the first 2 replies the lead approves (0 approved when it was held)" in row.reason
    )
    assert row.body == "Thanks for telling us, we are on it. Sam from the stores"
    assert not row.edited
    # and nothing reached the customer: no outbound message, the reply loop still open
    assert not Interaction.objects.filter(direction="outbound").exists()
    mention.refresh_from_db()
    assert mention.replied_at is None
    assert Loop.objects.get(pk=mention.reply_loop_id).state == "open"
    assert events(row) == ["held"]
    # and Lena has a task to decide it, on the mention's case
    task = row.approval_loop
    assert (task.kind, task.state, task.case_id) == ("task", "open", mention.case_id)
    assert task.assignee.username == "lena" and task.team == enrolment.team


def test_the_lead_approves_a_held_reply_and_it_goes_out_as_an_agents_reply(
    enrolment, mention, sam, thanks, lead, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)

    # when Lena approves it
    reply_approve(reply=row, actor=lead, now=now + timedelta(minutes=5))

    # then it is the responder's reply on the mention's case, recorded as the brand's reply
    # on Twitter (no integration sends there: the composer logs it the same way)
    row.refresh_from_db()
    assert row.state == "sent" and row.decided_by == lead and row.delivery == "logged"
    reply = Interaction.objects.get(direction="outbound")
    assert reply.pk == row.interaction_id
    assert (reply.actor, reply.channel, reply.case_id) == (sam, "social:twitter", mention.case_id)
    assert reply.body == row.body
    # and the reply loop is closed, the mention answered
    mention.refresh_from_db()
    assert mention.replied_at == now + timedelta(minutes=5)
    assert Loop.objects.get(pk=mention.reply_loop_id).state == "closed"
    assert events(row) == ["held", "approved", "sent"]
    # and Lena's task is done
    assert row.approval_loop.state == "closed"


def test_after_n_approved_replies_a_reply_goes_out_at_once(
    enrolment, brand, sam, thanks, lead, now
):
    for _ in range(2):
        row, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
        reply_approve(reply=row, actor=lead, now=now)

    # when Sam answers a third mention
    third = mention_make(now=now)
    row, _ = reply_submit(responder=sam, now=now, mention=third, macro=thanks)

    # then it is sent without waiting
    assert row.state == "sent" and row.decided_by is None and row.hold == []
    assert Interaction.objects.filter(direction="outbound").count() == 3
    assert events(row) == ["sent"]


def test_a_returned_reply_is_not_sent_and_carries_the_leads_note(
    enrolment, mention, sam, thanks, lead, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)

    reply_return(reply=row, actor=lead, note="Ask which store first.", now=now)

    row.refresh_from_db()
    assert row.state == "returned" and row.note == "Ask which store first."
    assert not Interaction.objects.filter(direction="outbound").exists()
    assert events(row) == ["held", "returned"]
    assert row.approval_loop.state == "closed"
    # and the mention is Sam's to answer again
    assert mention in mentions_answerable(enrolment=enrolment)


def test_returning_needs_a_note(enrolment, mention, sam, thanks, lead, now):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    with pytest.raises(InvalidInput) as exc:
        reply_return(reply=row, actor=lead, note="  ", now=now)
    assert exc.value.errors[0].field == "note"
    row.refresh_from_db()
    assert row.state == "held"


def test_a_decided_reply_cannot_be_decided_again(enrolment, mention, sam, thanks, lead, now):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    reply_approve(reply=row, actor=lead, now=now)
    with pytest.raises(Conflict):
        reply_approve(reply=row, actor=lead, now=now)
    with pytest.raises(Conflict):
        reply_return(reply=row, actor=lead, note="no", now=now)
    assert Interaction.objects.filter(direction="outbound").count() == 1


def test_only_a_lead_of_the_team_decides_never_the_responder_or_a_teammate(
    enrolment, mention, sam, thanks, alice, charlie, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    for someone in (sam, alice, charlie):
        with pytest.raises(PermissionDenied):
            reply_approve(reply=row, actor=someone, now=now)
    row.refresh_from_db()
    assert row.state == "held"
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_a_mention_answered_meanwhile_cannot_be_approved(
    enrolment, mention, sam, thanks, lead, alice, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    Mention.objects.filter(pk=mention.pk).update(replied_at=now)
    with pytest.raises(Conflict) as exc:
        reply_approve(reply=row, actor=lead, now=now)
    assert exc.value.code == "mention_handled"
    row.refresh_from_db()
    assert row.state == "held"


# --- limits -------------------------------------------------------------------------------------


def test_a_network_outside_the_enrolment_is_refused_naming_the_limit_and_recorded(
    enrolment, insta_mention, sam, thanks, now
):
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=insta_mention, macro=thanks)
    assert exc.value.status == 403
    assert exc.value.errors[0].field == "network"
    assert "instagram is not one of your networks (yours: twitter)" in exc.value.detail
    # the attempt is recorded, nothing else
    row = ResponderReply.objects.get()
    assert (row.state, row.limit) == ("refused", "network")
    assert events(row) == ["refused"]
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_a_saved_response_not_allowed_is_refused(enrolment, mention, sam, other_macro, now):
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=mention, macro=other_macro)
    assert exc.value.errors[0].field == "macro"
    assert "Refund on its way" in exc.value.detail
    assert ResponderReply.objects.get().state == "refused"


def test_free_text_is_refused_unless_allowed(enrolment, mention, sam, thanks, now):
    # a saved response changed
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=mention, macro=thanks, body="Thanks!!")
    assert exc.value.errors[0].field == "free_text"
    # a text of one's own
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=mention, body="Hello")
    assert exc.value.errors[0].field == "free_text"
    assert list(ResponderReply.objects.values_list("state", flat=True)) == ["refused"] * 2


def test_free_text_goes_through_when_allowed(enrolment, mention, sam, thanks, lead, now):
    enrolment_save(
        enrolment=enrolment,
        user=sam,
        team=enrolment.team,
        networks=["twitter"],
        macros=[thanks],
        free_text=True,
        approvals_needed=2,
        actor=lead,
        now=now,
    )
    row, _ = reply_submit(
        responder=sam, now=now, mention=mention, macro=thanks, body="Thanks, the Leeds team knows."
    )
    assert row.state == "held" and row.edited and row.body == "Thanks, the Leeds team knows."


def test_a_paused_or_expired_enrolment_answers_nothing(enrolment, mention, sam, thanks, lead, now):
    enrolment_set_active(enrolment=enrolment, active=False, actor=lead, now=now)
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    assert exc.value.errors[0].field == "active"

    enrolment_set_active(enrolment=enrolment, active=True, actor=lead, now=now)
    Enrolment.objects.filter(pk=enrolment.pk).update(valid_until=now)
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    assert exc.value.errors[0].field == "valid_until"
    # a minute before its end it still answers
    Enrolment.objects.filter(pk=enrolment.pk).update(valid_until=now + timedelta(minutes=1))
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    assert row.state == "held"


def test_someone_not_enrolled_cannot_reply(mention, alice, thanks, now):
    with pytest.raises(PermissionDenied):
        reply_submit(responder=alice, now=now, mention=mention, macro=thanks)
    assert not ResponderReply.objects.exists()


def test_a_mention_with_a_reply_waiting_cannot_be_answered_twice(
    enrolment, mention, sam, thanks, dm_us, now
):
    reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    with pytest.raises(Conflict):
        reply_submit(responder=sam, now=now, mention=mention, macro=dm_us)
    assert ResponderReply.objects.count() == 1
    assert mention not in mentions_answerable(enrolment=enrolment)


# --- cases --------------------------------------------------------------------------------------


@pytest.fixture
def simple_case(team, customer, now):
    case = CaseFactory(customer=customer, team=team, channel="portal")
    interaction_record(
        customer=customer,
        case=case,
        channel="portal",
        direction="inbound",
        occurred_at=now - timedelta(hours=1),
        now=now - timedelta(hours=1),
        body="Is the Leeds store open on Sunday?",
    )
    case_tags_set(case=case, add=["store-question"], actor=None, now=now)
    return case


@pytest.fixture
def case_enrolment(enrolment, sam, thanks, lead, now):
    return enrolment_save(
        enrolment=enrolment,
        user=sam,
        team=enrolment.team,
        networks=["twitter"],
        macros=[thanks],
        case_replies=True,
        simple_tag="store-question",
        simple_max_messages=2,
        approvals_needed=0,
        actor=lead,
        now=now,
    )


def test_a_reply_on_a_simple_case_goes_out_on_the_customers_channel(
    case_enrolment, simple_case, sam, thanks, now
):
    assert simple_case in cases_answerable(enrolment=case_enrolment)
    row, _ = reply_submit(responder=sam, now=now, case=simple_case, macro=thanks)
    assert row.state == "sent" and row.channel == "portal" and row.delivery == "posted"
    reply = Interaction.objects.get(direction="outbound")
    assert reply.case == simple_case and reply.actor == sam
    assert row.target_at == now - timedelta(hours=1)


def test_a_case_that_is_not_simple_is_refused_with_the_reason(
    case_enrolment, simple_case, other_team, customer, sam, thanks, now
):
    # too many messages
    for i in range(2):
        interaction_record(
            customer=customer,
            case=simple_case,
            channel="portal",
            direction="inbound",
            occurred_at=now - timedelta(minutes=10 - i),
            now=now,
            body=f"And another thing {i}",
        )
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, case=simple_case, macro=thanks)
    assert exc.value.errors[0].field == "case"
    assert "has 3 messages; a simple case has at most 2" in exc.value.detail
    assert simple_case not in cases_answerable(enrolment=case_enrolment)
    # another team's case
    theirs = CaseFactory(customer=customer, team=other_team)
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, case=theirs, macro=thanks)
    assert "is not a case of Front office" in exc.value.detail


def test_case_replies_are_refused_when_not_allowed(enrolment, simple_case, sam, thanks, now):
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, case=simple_case, macro=thanks)
    assert exc.value.errors[0].field == "case"
    assert not cases_answerable(enrolment=enrolment).exists()


# --- policies -----------------------------------------------------------------------------------


def test_a_blocking_policy_refuses_the_reply_with_its_reason(
    enrolment, mention, sam, team, lead, no_refunds, now
):
    from tests.macros.factories import MacroFactory

    refund = MacroFactory(name="Refund", body="A refund is on its way.", team=team)
    enrolment.macros.add(refund)

    with pytest.raises(DomainError) as exc:
        reply_submit(responder=sam, now=now, mention=mention, macro=refund)

    assert exc.value.status == 409 and exc.value.code == "policy_blocked"
    assert "Only the support team promises refunds" in exc.value.detail
    assert exc.value.errors[0].field == "policies.responders-no-refunds"
    row = ResponderReply.objects.get()
    assert row.state == "blocked" and row.verdicts[0]["result"] == "fail"
    assert events(row) == ["blocked"]
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_a_warning_policy_holds_a_reply_even_after_the_first_replies(
    enrolment, mention, sam, team, thanks, lead, no_apologies, now
):
    from tests.macros.factories import MacroFactory

    Enrolment.objects.filter(pk=enrolment.pk).update(approvals_needed=0)
    # a reply without an apology goes out
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    assert row.state == "sent"
    # one with an apology waits for the lead, saying why
    sorry = MacroFactory(name="Sorry", body="We are sorry about that.", team=team)
    enrolment.macros.add(sorry)
    row, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=sorry)
    assert row.state == "held" and row.hold == ["policy_warning"]
    assert "Apologies are checked" in row.reason


# --- idempotency --------------------------------------------------------------------------------


def test_the_same_key_twice_stores_one_reply(enrolment, mention, sam, thanks, now):
    first, created = reply_submit(
        responder=sam, now=now, mention=mention, macro=thanks, idempotency_key="k1", fingerprint="f"
    )
    again, created_again = reply_submit(
        responder=sam, now=now, mention=mention, macro=thanks, idempotency_key="k1", fingerprint="f"
    )
    assert created and not created_again and again.pk == first.pk
    assert ResponderReply.objects.count() == 1
    # the same key with another body is refused
    with pytest.raises(DomainError) as exc:
        reply_submit(
            responder=sam,
            now=now,
            mention=mention,
            macro=thanks,
            idempotency_key="k1",
            fingerprint="g",
        )
    assert exc.value.code == "idempotency_key_reused"


def test_a_refusal_sent_again_with_its_key_is_refused_again_and_recorded_once(
    enrolment, insta_mention, sam, thanks, now
):
    for _ in range(2):
        with pytest.raises(LimitRefused):
            reply_submit(
                responder=sam,
                now=now,
                mention=insta_mention,
                macro=thanks,
                idempotency_key="k2",
                fingerprint="f",
            )
    assert ResponderReply.objects.count() == 1


# --- enrolments ---------------------------------------------------------------------------------


def test_enrolling_is_for_a_lead_of_the_team_or_an_admin(
    sam, team, alice, charlie, admin_user, now
):
    for outsider in (alice, charlie):
        with pytest.raises(PermissionDenied):
            enrolment_save(user=sam, team=team, networks=["twitter"], actor=outsider, now=now)
    assert not Enrolment.objects.exists()
    e = enrolment_save(user=sam, team=team, networks=["Twitter"], actor=admin_user, now=now)
    assert e.networks == ["twitter"] and e.approvals_needed == 5
    assert list(e.events.values_list("kind", flat=True)) == ["enrolled"]


def test_an_enrolment_names_each_bad_field(sam, team, other_team, lead, now):
    from tests.macros.factories import MacroFactory

    theirs = MacroFactory(name="Back office's", team=other_team)
    with pytest.raises(InvalidInput) as exc:
        enrolment_save(
            user=sam, team=team, networks=["twitter"], macros=[theirs], actor=lead, now=now
        )
    assert exc.value.errors[0].field == "macros"
    with pytest.raises(InvalidInput) as exc:
        enrolment_save(
            user=sam,
            team=team,
            networks=["no such!"],
            actor=lead,
            now=now,
        )
    assert exc.value.errors[0].field == "networks"
    with pytest.raises(InvalidInput) as exc:
        enrolment_save(
            user=sam,
            team=team,
            networks=["twitter"],
            approvals_needed=101,
            valid_until=now,
            actor=lead,
            now=now,
        )
    assert {e.field for e in exc.value.errors} == {"approvals_needed", "valid_until"}
    assert not Enrolment.objects.exists()


def test_a_person_is_enrolled_once_and_changes_are_audited(enrolment, sam, team, lead, now):
    with pytest.raises(Conflict):
        enrolment_save(user=sam, team=team, networks=["twitter"], actor=lead, now=now)
    enrolment_save(
        enrolment=enrolment,
        user=sam,
        team=team,
        networks=["twitter", "instagram"],
        macros=list(enrolment.macros.all()),
        approvals_needed=2,
        actor=lead,
        now=now,
    )
    changed = enrolment.events.get(kind="changed")
    assert changed.data == {"networks": ["twitter", "instagram"]}
    assert changed.actor == lead


# --- the scorecard ------------------------------------------------------------------------------


def test_the_scorecard_counts_each_outcome(enrolment, brand, sam, thanks, lead, insta_mention, now):
    a, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    reply_approve(reply=a, actor=lead, now=now + timedelta(minutes=10))
    b, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    reply_return(reply=b, actor=lead, note="Not this one", now=now)
    reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    with pytest.raises(LimitRefused):
        reply_submit(responder=sam, now=now, mention=insta_mention, macro=thanks)
    # the customer answers the sent reply, happily
    a.refresh_from_db()
    interaction_record(
        customer=a.case.customer,
        case=a.case,
        channel="social:twitter",
        direction="inbound",
        occurred_at=now + timedelta(minutes=20),
        now=now + timedelta(minutes=20),
        body="Thank you so much, that was quick and very helpful!",
    )

    card = responder_card(
        enrolment=enrolment, start=now - timedelta(days=1), end=now + timedelta(days=1)
    )

    m = card.metrics
    assert (m["attempts"], m["sent"], m["held"], m["approved"], m["returned"]) == (4, 1, 3, 1, 1)
    assert (m["waiting"], m["limit_refusals"], m["policy_blocks"]) == (1, 1, 0)
    # posted 30 minutes before ``now``, sent 10 minutes after
    assert m["median_minutes_to_reply"] == 40.0
    assert card.sentiment["positive"] + card.sentiment["neutral"] == 1
    assert card.sentiment["no_answer"] == 0


def test_a_mention_on_a_case_of_no_team_is_anyones_to_answer(enrolment, sam, thanks, lead, now):
    from lastmile.listening.services.terms import watchterm_create

    # a brand nobody's team watches: its addressed mentions open cases of no team
    watchterm_create(
        name="Acme Shop",
        query="@AcmeShop",
        kind="brand",
        brand_handle="@AcmeShop",
        now=now - timedelta(days=1),
    )
    orphan = mention_make(now=now, text="@AcmeShop where is my parcel?")
    assert orphan.case is not None and orphan.case.team_id is None
    assert orphan in mentions_answerable(enrolment=enrolment)

    row, _ = reply_submit(responder=sam, now=now, mention=orphan, macro=thanks)
    reply_approve(reply=row, actor=lead, now=now)

    row.refresh_from_db()
    assert row.state == "sent" and row.case_id == orphan.case_id
    orphan.refresh_from_db()
    assert orphan.replied_at == now


def test_a_mention_on_another_teams_case_is_outside_the_limits(
    enrolment, sam, thanks, other_team, now
):
    from lastmile.listening.services.terms import watchterm_create

    watchterm_create(
        name="Acme Hotels",
        query="@AcmeHotels",
        kind="brand",
        brand_handle="@AcmeHotels",
        team=other_team,
        now=now - timedelta(days=1),
    )
    theirs = mention_make(now=now, text="@AcmeHotels my room was cold")
    assert theirs not in mentions_answerable(enrolment=enrolment)
    with pytest.raises(LimitRefused) as exc:
        reply_submit(responder=sam, now=now, mention=theirs, macro=thanks)
    assert exc.value.errors[0].field == "mention"
    assert "a case of Back office" in exc.value.detail


def test_a_mention_set_aside_or_the_brands_own_post_is_not_answered(
    enrolment, mention, sam, thanks, lead, now
):
    from lastmile.listening.services.replies import mention_dismiss

    mention_dismiss(mention=mention, actor=lead, reason="a bot", now=now)
    with pytest.raises(Conflict) as exc:
        reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    assert exc.value.code == "mention_handled"
    assert mention not in mentions_answerable(enrolment=enrolment)
    assert not ResponderReply.objects.exists()
