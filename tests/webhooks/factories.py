"""Data builders for the tests of webhooks and the integrations they serve."""

from __future__ import annotations

from lastmile.customers.models import Interaction
from lastmile.webhooks.services.integrations import MessageIn, message_receive


def received_sms_case(*, integration, now):  # type: ignore[no-untyped-def]
    """The customer's SMS "Where is my card?", received through ``integration`` at ``now``:
    the case it lands on."""
    received = message_receive(
        integration=integration,
        message=MessageIn(
            channel="sms",
            sender="+447911123456",
            recipient="+447700900123",
            external_id="SM1",
            occurred_at=now,
            text="Where is my card?",
        ),
        now=now,
    )
    return Interaction.objects.get(pk=received.interaction_id).case
