"""Marking read only what is older than a moment: the newer notifications stay unread."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.live.models import Notification
from lastmile.live.services import notifications_mark_read

pytestmark = pytest.mark.django_db


def test_only_notifications_created_before_the_moment_are_marked_read(case, alice, bob, now):
    # given alice's notifications a minute before, at, and after the moment, and bob's
    def notify(user, at):  # type: ignore[no-untyped-def]
        return Notification.objects.create(
            recipient=user, kind="mention", case=case, text="x", created_at=at
        )

    older = notify(alice, now - timedelta(minutes=1))
    at, newer = notify(alice, now), notify(alice, now + timedelta(minutes=1))
    bobs = notify(bob, now - timedelta(minutes=1))
    # when
    marked = notifications_mark_read(user=alice, now=now + timedelta(hours=1), before=now)
    # then
    assert marked == 1
    unread = set(Notification.objects.filter(read_at__isnull=True).values_list("pk", flat=True))
    assert unread == {at.pk, newer.pk, bobs.pk}
    assert older.pk not in unread
