"""Revoking a source's write key is a configuration change: one audit row saying who and when,
from the service, the admin and the command line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from lastmile.channels.models import Source
from lastmile.channels.segment import source_create, source_revoke
from lastmile.core.models import AuditEntry

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def shop(db):
    return source_create(name="shop", now=T0)[0]


def test_a_revocation_writes_who_revoked_the_key_and_when(shop, alice):
    source_revoke(source=shop, actor=alice, now=T0 + timedelta(hours=1))

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_type, entry.object_id) == (
        alice,
        "revoked",
        "channels.source",
        str(shop.pk),
    )
    assert (entry.before, entry.after) == (
        {"revoked_at": None},
        {"revoked_at": (T0 + timedelta(hours=1)).isoformat()},
    )
    assert Source.objects.get().revoked_at == T0 + timedelta(hours=1)


def test_revoking_a_revoked_key_keeps_its_first_time_and_writes_nothing(shop, alice, bob):
    source_revoke(source=shop, actor=alice, now=T0)

    source_revoke(source=shop, actor=bob, now=T0 + timedelta(days=1))

    assert Source.objects.get().revoked_at == T0
    assert AuditEntry.objects.get().actor == alice


def test_keys_revoked_in_the_admin_are_recorded_as_the_admins(staff, admin_user, shop):
    r = staff.post("/admin/channels/source/", {"action": "revoke", "_selected_action": [shop.pk]})

    assert r.status_code == 302
    assert Source.objects.get().revoked_at is not None
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_type) == (
        admin_user,
        "revoked",
        "channels.source",
    )


def test_a_keys_revocation_date_cannot_be_typed_in_the_admin(staff, shop):
    page = staff.get(f"/admin/channels/source/{shop.pk}/change/").content.decode()

    assert 'name="revoked_at' not in page


@pytest.mark.django_db(transaction=True)
def test_the_cli_revocation_is_recorded_with_the_label_cli(cli_env):
    source_create(name="shop", now=T0)

    result = subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "source", "revoke", "shop"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_label, entry.action) == (None, "cli", "revoked")
    assert Source.objects.get().revoked_at is not None
