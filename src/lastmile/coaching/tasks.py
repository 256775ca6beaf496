"""The worker's coaching: the lessons of the loops a sweep marked breached, opened after the
sweep commits so that the sweep itself stays a few statements per batch."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from lastmile.coaching.services import breach_lessons_open


@db_task(retries=3, retry_delay=30)
def breach_lessons_task(items: list[tuple[int, int, str]]) -> None:
    """Queued by ``services.on_loops_breached``; opens each loop's lesson once, however
    often it runs."""
    breach_lessons_open([(int(a), int(b), str(c)) for a, b, c in items])
