"""The seeded demo's bell: a few recent notifications unread per agent, not the weeks of
breaches the history played through the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count, Q

from lastmile.demo.extensions.live import KEEP_UNREAD
from lastmile.live.models import Notification
from tests.demo_snapshot import NOW, demo_restored

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """The run's one demo (tests/demo_snapshot.py: seed 7, 12 customers, at its NOW) for
    the module, rolled back afterwards."""
    with demo_restored(demo_snapshot, django_db_blocker) as demo:
        yield demo


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
