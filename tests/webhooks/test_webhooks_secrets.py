"""Rotating a signing secret is a configuration change: the new secret is shown once, the
old one stops working, and one audit row says who rotated it and when, naming the secrets by
their prefixes only. Integrations and subscriptions rotate the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.core.models import AuditEntry
from lastmile.webhooks.models import Integration, Subscription
from lastmile.webhooks.services.integrations import integration_create
from lastmile.webhooks.services.secrets import secret_rotate
from lastmile.webhooks.services.subscriptions import subscription_create
from lastmile.webhooks.signing import secret_prefix

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def sms(db):
    return integration_create(name="Shop SMS", channel="sms", now=T0)


@pytest.fixture
def crm(db, webhooks_to_loopback):
    return subscription_create(name="CRM", url="http://127.0.0.1:9/hook", events=["*"], now=T0)


@pytest.mark.parametrize("owner", ["sms", "crm"])
def test_a_rotation_replaces_the_secret_and_records_who_did_it(owner, alice, request):
    row, old = request.getfixturevalue(owner)

    new = secret_rotate(owner=row, actor=alice, now=T0)

    stored = type(row).objects.get()
    assert new != old and stored.secret == new and stored.secret_prefix == secret_prefix(new)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.at, entry.action, entry.object_id) == (
        alice,
        T0,
        "changed",
        str(row.pk),
    )
    assert (entry.before, entry.after) == (
        {"secret_prefix": secret_prefix(old)},
        {"secret_prefix": secret_prefix(new)},
    )
    assert old not in str(entry.before) and new not in str(entry.after)


def test_integrations_rotated_in_the_admin_are_recorded_as_the_admins(staff, admin_user, sms):
    row, old = sms

    r = staff.post(
        "/admin/webhooks/integration/",
        {"action": "rotate_secret", "_selected_action": [row.pk]},
        follow=True,
    )

    new = Integration.objects.get().secret
    assert new != old and new in r.content.decode()  # shown once, in the message
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.object_type) == (admin_user, "webhooks.integration")


def test_subscriptions_rotated_in_the_admin_are_recorded_as_the_admins(staff, admin_user, crm):
    row, old = crm

    r = staff.post(
        "/admin/webhooks/subscription/",
        {"action": "rotate_secret", "_selected_action": [row.pk]},
        follow=True,
    )

    new = Subscription.objects.get().secret
    assert new != old and new in r.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.object_type) == (admin_user, "webhooks.subscription")
