"""The live app's part of the seeded demo: a bell with a believable few unread.

The demo plays four weeks of history through the real sweeper, which notifies an agent (or
their lead) of every loop that breached on the way: a team agent would log in to 50 to 90
unread notifications, though a real one read them as they came. So once the history is
played (after the seed's last sweep), each agent's notifications are marked read as at the
seed's time, but for the newest few of the last day: what would still be waiting at the
start of a shift. The product's rules for who is notified of what are left as they are.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lastmile.live.selectors import notifications_readable
from lastmile.live.services import notifications_mark_read

KEEP_UNREAD = 4  # at most this many unread per agent
RECENT = timedelta(days=1)  # and none older than this


def settle(seeder: Any) -> list[str]:
    """Mark read all but each agent's newest ``KEEP_UNREAD`` of the last ``RECENT``; report
    lines. Run after the seed's last sweep, which may notify too."""
    now = seeder.now
    read = left = 0
    for user in seeder.users.values():
        unread = notifications_readable(viewer=user).filter(read_at__isnull=True)
        newest = list(unread.values_list("created_at", flat=True)[:KEEP_UNREAD])
        before = now - RECENT
        if len(newest) == KEEP_UNREAD:
            before = max(before, newest[-1])
        read += notifications_mark_read(user=user, now=now, before=before)
        left += unread.count()
    return [f"  notifications: {read:,} older ones marked read; {left} unread left in all"]
