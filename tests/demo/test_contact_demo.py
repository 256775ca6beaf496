"""The demo's contact-policy stories run through the real worker and rules, once."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module

import pytest
from django.core import mail

from lastmile.channels.models import OutboxMessage
from lastmile.customers.models import Interaction
from lastmile.demo.extensions.contact_policy import contact_policy_demo
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def contact_rules(db):
    """The seeded rules, seeded again: a transactional test before this one emptied the table."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_stories_show_ask_once_an_answer_and_quiet_hours_with_the_seeded_rules():
    # Given three customers, one in Paris
    silent, answering = CustomerFactory(), CustomerFactory()
    night = CustomerFactory(timezone="Europe/Paris")
    pairs = [(silent, "s@example.com"), (answering, "a@example.com"), (night, "n@example.com")]
    # When the demo plays its stories
    lines = contact_policy_demo(customers=pairs, now=NOW)
    # Then the silent customer was surveyed once, and the second survey names the rule
    rows = {m.key: m for m in OutboxMessage.objects.select_related("rule")}
    s1, s2 = rows[f"demo:survey:{silent.pk}:1"], rows[f"demo:survey:{silent.pk}:2"]
    assert (s1.status, s2.status, s2.rule.purpose, s2.rule_check) == (
        "sent",
        "suppressed",
        "survey",
        "max_unanswered",
    )
    # the customer who answered was asked again
    a2 = rows[f"demo:survey:{answering.pk}:2"]
    assert a2.status == "sent"
    assert Interaction.objects.filter(customer=answering, direction="inbound").count() == 1
    # the late notification waited for 07:00 in Paris (06:00 UTC) and went then
    late = rows[f"demo:notification:{night.pk}:late"]
    assert (late.status, late.rule_check) == ("sent", "quiet_hours")
    assert late.sent_at == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert len(mail.outbox) == 4
    assert len(lines) == 3 and "suppressed — unanswered attempts (ask once)" in lines[0]
    # And a second run changes nothing
    assert contact_policy_demo(customers=pairs, now=NOW) == lines
    assert OutboxMessage.objects.count() == 5 and len(mail.outbox) == 4
