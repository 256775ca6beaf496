"""Routing an agent's reply: the mail and webhooks apps take theirs; the rest is recorded."""

from __future__ import annotations

import pytest

from lastmile.channels.replies import _routes, case_reply_send, reply_route_register
from lastmile.customers.models import Interaction
from lastmile.mail.services import email_reply_route
from lastmile.webhooks.services.integrations import message_reply_route

pytestmark = pytest.mark.django_db


def test_the_apps_register_their_routes_once():
    assert _routes.count(email_reply_route) == 1
    assert _routes.count(message_reply_route) == 1
    reply_route_register(email_reply_route)
    assert _routes.count(email_reply_route) == 1


def test_a_reply_no_route_takes_is_recorded_on_the_timeline(case, alice, now):
    said = case_reply_send(case=case, channel="phone", body="Called back", actor=alice, now=now)
    assert said == "Reply sent on phone."
    reply = Interaction.objects.get(case=case)
    assert (reply.channel, reply.direction, reply.body) == ("phone", "outbound", "Called back")


def test_an_sms_reply_without_a_conversation_is_not_sent_anywhere_but_recorded(case, alice, now):
    assert message_reply_route(case=case, channel="sms", body="Hi", actor=alice, now=now) is None
    assert email_reply_route(case=case, channel="email", body="Hi", actor=alice, now=now) is None
    assert case_reply_send(case=case, channel="sms", body="Hi", actor=alice, now=now) == (
        "Reply sent on sms."
    )
