"""Routing an agent's reply: a channel that delivers sends it, any other only logs it, and the
reply loop's trail says which."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.channels.replies import (
    ChannelNotDeliverable,
    Delivery,
    _routes,
    case_reply_send,
    reply_default,
    reply_options,
    reply_route_register,
)
from lastmile.customers.models import Direction, Interaction
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, LoopEvent
from lastmile.mail.services import EMAIL_REPLY_ROUTE, email_receive
from lastmile.webhooks.services.integrations import MESSAGE_REPLY_ROUTE, integration_create
from tests.mail.helpers import SUPPORT, make_mail
from tests.webhooks.factories import received_sms_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mail_store(settings, tmp_path):
    settings.LASTMILE_MAIL_STORAGE_DIR = str(tmp_path / "mailstore")
    settings.LASTMILE_MAIL_ADDRESSES = ""


@pytest.fixture
def email_case(team, now):
    from lastmile.mail.services import mailbox_ensure

    mailbox_ensure(address=SUPPORT, team=team, name="Lastmile support")
    return email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email.case


def _inbound(case, channel, now, body="Hello?"):
    return interaction_record(
        customer=case.customer,
        case=case,
        channel=channel,
        direction=Direction.INBOUND,
        occurred_at=now,
        now=now,
        body=body,
    )


def test_the_apps_register_their_routes_once_by_name():
    assert _routes["email"] is EMAIL_REPLY_ROUTE and _routes["messaging"] is MESSAGE_REPLY_ROUTE
    before = len(_routes)
    reply_route_register(EMAIL_REPLY_ROUTE)
    assert len(_routes) == before


def test_a_case_nobody_can_be_written_to_offers_only_logging_labelled_not_sent(case):
    options = reply_options(case=case)
    assert options and not any(o.delivers for o in options)
    assert all(o.label.endswith("log a reply sent elsewhere (not sent)") for o in options)
    assert {o.channel for o in options} >= {"phone", "web", "email", "sms"}
    assert "api" not in {o.channel for o in options}


def test_an_email_case_offers_email_to_the_customers_address_first(email_case):
    options = reply_options(case=email_case)
    assert (options[0].channel, options[0].label, options[0].delivers) == (
        "email",
        "Email to maya@example.com",
        True,
    )
    assert options[0].takes_files
    assert reply_default(case=email_case, options=options).value == "email"
    assert [o.value for o in options if o.channel == "web"] == ["log:web"]


def test_the_default_is_the_channel_of_the_latest_message_that_can_be_answered(email_case, now):
    _inbound(email_case, "portal", now + timedelta(minutes=5))
    _inbound(email_case, "phone", now + timedelta(minutes=9))  # cannot be answered
    options = reply_options(case=email_case)
    assert {o.channel for o in options if o.delivers} == {"email", "portal"}
    assert reply_default(case=email_case, options=options).channel == "portal"


def test_a_phone_reply_that_is_not_logged_is_refused_and_writes_nothing(case, alice, now):
    _inbound(case, "phone", now)
    with pytest.raises(ChannelNotDeliverable) as caught:
        case_reply_send(case=case, channel="phone", body="Called back", actor=alice, now=now)
    assert caught.value.code == "channel_not_deliverable" and caught.value.status == 422
    assert not Interaction.objects.filter(direction="outbound").exists()
    assert Loop.objects.get(case=case).state == "open"


def test_a_logged_reply_closes_the_reply_loop_and_the_trail_says_it_was_not_sent(case, alice, now):
    _inbound(case, "phone", now)
    sent = case_reply_send(
        case=case, channel="phone", body="Called back", actor=alice, now=now, log_only=True
    )
    assert (sent.delivery, sent.outbox_id) == (Delivery.LOGGED, None)
    assert sent.said == "Logged a reply given on Phone: not sent by lastmile."
    assert sent.interaction.data == {"delivery": "logged"}
    loop = Loop.objects.get(case=case)
    assert loop.state == "closed"
    closed = LoopEvent.objects.get(loop=loop, kind="closed")
    assert closed.reason == "reply logged as given on phone (not sent by lastmile)"
    assert closed.actor == alice
    assert not OutboxMessage.objects.exists()


def test_a_reply_via_web_on_an_email_case_neither_sends_nor_closes_the_loop_silently(
    email_case, alice, now
):
    with pytest.raises(ChannelNotDeliverable):
        case_reply_send(case=email_case, channel="web", body="Hi", actor=alice, now=now)
    assert Loop.objects.get(case=email_case).state == "open"
    case_reply_send(case=email_case, channel="web", body="Hi", actor=alice, now=now, log_only=True)
    closed = LoopEvent.objects.get(loop__case=email_case, kind="closed")
    assert "not sent by lastmile" in closed.reason
    assert not OutboxMessage.objects.exists()


def test_twitter_without_an_integration_is_only_logged(case, alice, now):
    _inbound(case, "social:twitter", now)
    assert not any(o.delivers for o in reply_options(case=case) if o.channel == "social:twitter")
    with pytest.raises(ChannelNotDeliverable):
        case_reply_send(case=case, channel="social:twitter", body="DM", actor=alice, now=now)
    sent = case_reply_send(
        case=case, channel="social:twitter", body="DM", actor=alice, now=now, log_only=True
    )
    assert sent.delivery == "logged"


def test_an_email_reply_is_queued_and_says_to_whom(email_case, alice, now):
    sent = case_reply_send(case=email_case, channel="email", body="Fixed", actor=alice, now=now)
    row = OutboxMessage.objects.get()
    assert (sent.delivery, sent.outbox_id, row.recipient) == ("queued", row.pk, "maya@example.com")
    assert sent.said == "Queued by email to maya@example.com."


def test_an_sms_reply_goes_through_the_integration_the_customer_wrote_on(team, alice, now):
    integration, _ = integration_create(
        name="Shop SMS", channel="sms", team=team, url="https://sms.example.com/out", now=now
    )
    case = received_sms_case(integration=integration, now=now)
    [option] = [o for o in reply_options(case=case) if o.delivers]
    assert (option.channel, option.label) == ("sms", "SMS to +447911123456 via Shop SMS")
    sent = case_reply_send(case=case, channel="sms", body="On its way", actor=alice, now=now)
    assert sent.delivery == "queued" and sent.outbox_id == OutboxMessage.objects.get().pk
    assert sent.said.startswith("Queued on SMS to +447911123456")


def test_an_sms_reply_through_a_switched_off_integration_is_not_offered(team, alice, now):
    integration, _ = integration_create(
        name="Shop SMS", channel="sms", team=team, url="https://sms.example.com/out", now=now
    )
    case = received_sms_case(integration=integration, now=now)
    integration.active = False
    integration.save()
    assert not any(o.delivers for o in reply_options(case=case))
    with pytest.raises(ChannelNotDeliverable):
        case_reply_send(case=case, channel="sms", body="Hi", actor=alice, now=now)


def test_a_portal_reply_is_posted_where_the_customer_reads_it(case, alice, now):
    _inbound(case, "portal", now)
    sent = case_reply_send(case=case, channel="portal", body="Done", actor=alice, now=now)
    assert (sent.delivery, sent.outbox_id) == ("posted", None)
    assert Loop.objects.get(case=case).state == "closed"


def test_an_over_long_reply_is_refused_saying_the_limit_not_cut(case, alice, now):
    from lastmile.core.errors import InvalidInput

    _inbound(case, "portal", now)
    with pytest.raises(InvalidInput) as caught:
        case_reply_send(case=case, channel="portal", body="x" * 10_001, actor=alice, now=now)
    assert "the limit is 10000" in caught.value.detail
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_an_sms_reply_goes_through_the_integration_it_offered_not_a_newer_switched_off_one(
    team, alice, now
):
    from lastmile.webhooks.models import Conversation

    old, _ = integration_create(
        name="Old SMS", channel="sms", team=team, url="https://old.example.com/out", now=now
    )
    new, _ = integration_create(
        name="New SMS", channel="sms", team=team, url="https://new.example.com/out", now=now
    )
    case = received_sms_case(integration=old, now=now)
    Conversation.objects.create(
        integration=new,
        case=case,
        address="+447911123456",
        our_address="+447700900999",
        last_inbound_at=now + timedelta(minutes=5),
    )
    new.active = False
    new.save()
    [option] = [o for o in reply_options(case=case) if o.delivers]
    assert option.label == "SMS to +447911123456 via Old SMS"
    sent = case_reply_send(case=case, channel="sms", body="On its way", actor=alice, now=now)
    row = OutboxMessage.objects.get()
    assert (sent.delivery, row.channel) == ("queued", f"sms:{old.slug}")


def test_the_portal_is_never_offered_to_log_a_reply_and_logging_there_is_refused(case, alice, now):
    # The customer reads the portal: a reply "logged, not sent" there would show them as sent.
    from lastmile.core.errors import InvalidInput
    from lastmile.portal.selectors import conversation_for_customer

    assert not any(o.channel == "portal" for o in reply_options(case=case))
    with pytest.raises(InvalidInput):
        case_reply_send(case=case, channel="portal", body="Hi", actor=alice, now=now, log_only=True)
    assert not conversation_for_customer(case).filter(direction="outbound").exists()
    _inbound(case, "portal", now)
    case = type(case).objects.get(pk=case.pk)  # the options cache the latest messages
    [portal] = [o for o in reply_options(case=case) if o.channel == "portal"]
    assert portal.delivers
