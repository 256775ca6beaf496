"""The worker's coaching: the lessons of the loops a sweep marked breached, opened after the
sweep commits so that the sweep itself stays a few statements per batch; and the periodic
catch-up of the lessons a worker killed holding that task never opened."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from lastmile.coaching.services import breach_lessons_catch_up, breach_lessons_open
from lastmile.core.clock import utcnow


@db_task(retries=3, retry_delay=30)
def breach_lessons_task(items: list[tuple[int, int, str]]) -> None:
    """Queued by ``services.on_loops_breached``; opens each loop's lesson once, however
    often it runs."""
    breach_lessons_open([(int(a), int(b), str(c)) for a, b, c in items])


@db_periodic_task(crontab(minute="*/5"))
def breach_lessons_catch_up_task() -> None:
    """Every five minutes: the breach lessons of the last week still missing (a worker
    killed holding ``breach_lessons_task``); safe with several workers and beside the task."""
    breach_lessons_catch_up(now=utcnow())
