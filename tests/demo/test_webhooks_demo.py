"""The demo's messaging part: an SMS and a chat on story customers' timelines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from lastmile.customers.models import Interaction
from lastmile.demo.extensions import webhooks as webhooks_demo
from lastmile.demo.seed import seed_demo
from lastmile.loops.models import Loop
from lastmile.webhooks.models import Delivery, Integration, Subscription

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


def test_the_demo_has_an_sms_and_a_chat_waiting_for_replies_and_no_live_subscription(
    monkeypatch,
):
    # Only this app's part after the core stories (test_seed_demo seeds every app's).
    monkeypatch.setattr("lastmile.demo.seed.DEMO_EXTENSIONS", [webhooks_demo])
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        report = seed_demo(out=lambda line: None, seed=7, customers=12, now=NOW)

    assert set(Integration.objects.values_list("channel", flat=True)) == {"sms", "chat"}
    sms = Interaction.objects.get(channel="sms", source_id__startswith="home-sms:")
    chat = Interaction.objects.get(
        channel="chat", source_id__startswith="bank-chat:", customer__display_name="Aisha Khan"
    )
    assert sms.customer.display_name == "Margaret Ellis" and sms.case.team.slug == "field"
    assert chat.customer.display_name == "Aisha Khan" and chat.case.team.slug == "front"
    for message in (sms, chat):
        loop = Loop.objects.get(case=message.case, kind="reply")
        assert loop.state == "open" and loop.channel == message.channel
        assert loop.due_at is not None  # the demo's SMS and chat SLA policies apply
    assert not Subscription.objects.filter(active=True).exists()
    assert Delivery.objects.count() == 0
    assert any("webhooks:" in line for line in report.lines())
