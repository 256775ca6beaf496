"""The seeded demo's bell: a few recent notifications unread per agent, not the weeks of
breaches the history played through the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.db.models import Count, Q
from django.test import override_settings

from lastmile.demo.extensions.live import KEEP_UNREAD
from lastmile.demo.seed import seed_demo
from lastmile.live.models import Notification

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One small demo for the module, rolled back afterwards (no funnel events: nothing
    here reads them)."""
    out: list[str] = []
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            report = seed_demo(seed=7, customers=12, now=NOW, out=out.append, funnel_events=0)
        yield SimpleNamespace(report=report, out=out)
        transaction.set_rollback(True)


def per_agent():  # type: ignore[no-untyped-def]
    return {
        r["recipient__username"]: r
        for r in Notification.objects.values("recipient__username").annotate(
            all=Count("id"), unread=Count("id", filter=Q(read_at__isnull=True))
        )
    }


def test_the_history_still_notified_agents_of_its_breaches(demo):
    assert sum(r["all"] for r in per_agent().values()) > 20


def test_each_agent_has_a_few_unread_and_none_older_than_a_day(demo):
    rows = per_agent()
    # ties on the cut-off's minute may keep one or two more than KEEP_UNREAD
    assert all(r["unread"] <= KEEP_UNREAD + 2 for r in rows.values()), rows
    assert any(r["unread"] for r in rows.values())  # the bell has something to show
    assert not Notification.objects.filter(
        read_at__isnull=True, created_at__lt=NOW - timedelta(days=1)
    ).exists()


def test_the_older_ones_read_as_at_the_seed(demo):
    assert set(
        Notification.objects.filter(read_at__isnull=False).values_list("read_at", flat=True)
    ) == {NOW}
    assert any("older ones marked read" in line for line in demo.out)
