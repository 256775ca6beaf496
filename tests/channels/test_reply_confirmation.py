"""The sentence a sent reply answers with names the integration as people know it (its
display name, as the composer's "via" list does), not its slug."""

from __future__ import annotations

import pytest

from lastmile.channels.replies import case_reply_send
from lastmile.webhooks.services.integrations import integration_create
from tests.webhooks.factories import received_sms_case

pytestmark = pytest.mark.django_db


def test_an_sms_reply_says_which_integration_by_its_name(team, alice, now):
    # given a case a customer opened by SMS through "Lastmile Bank SMS"
    integration, _ = integration_create(
        name="Lastmile Bank SMS",
        channel="sms",
        team=team,
        url="https://sms.example.com/out",
        now=now,
    )
    assert integration.slug != integration.name
    case = received_sms_case(integration=integration, now=now)

    # when an agent replies by SMS
    sent = case_reply_send(case=case, channel="sms", body="On its way", actor=alice, now=now)

    # then the confirmation names the integration as the composer offered it
    assert sent.said == "Queued on SMS to +447911123456 via Lastmile Bank SMS."
