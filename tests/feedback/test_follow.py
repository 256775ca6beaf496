"""Queued invites follow their outbox messages, and unanswered ones expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.feedback.models import Invite
from lastmile.feedback.services import invite_create, invites_follow, response_record
from tests.feedback.factories import reachable_customer

pytestmark = pytest.mark.django_db


def test_an_email_invite_the_outbox_sent_is_sent(survey, asked, now, smtp_sink):
    invite, _ = invite_create(survey=survey, customer=asked, channel="email", now=now)
    outbox_deliver(now=now)

    assert invites_follow(now=now) == (1, 0, 0)

    invite.refresh_from_db()
    assert invite.state == "sent" and invite.sent_at == now
    assert len(smtp_sink.envelopes) == 1
    assert invites_follow(now=now) == (0, 0, 0)  # twice: nothing more


def test_an_invite_the_outbox_stopped_at_sending_is_suppressed_with_its_reason(survey, asked, now):
    invite, _ = invite_create(survey=survey, customer=asked, channel="email", now=now)
    OutboxMessage.objects.filter(key=f"feedback:invite:{invite.pk}").update(
        status="suppressed", rule_check="max_per_period", rule_reason="1 survey messages in 7 days"
    )

    invites_follow(now=now)

    invite.refresh_from_db()
    assert (invite.state, invite.rule_check, invite.reason) == (
        "suppressed",
        "max_per_period",
        "1 survey messages in 7 days",
    )


def test_unanswered_invites_expire_and_answered_ones_stay(survey, asked, now):
    old, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)
    answered, _ = invite_create(
        survey=survey, customer=reachable_customer(), channel="link", now=now
    )
    response_record(invite=answered, score=9, now=now)

    at_end = old.expires_at
    assert invites_follow(now=at_end - timedelta(minutes=1))[2] == 0
    assert invites_follow(now=at_end)[2] == 1

    assert Invite.objects.get(pk=old.pk).state == "expired"
    assert Invite.objects.get(pk=answered.pk).state == "answered"
