"""The worker's analytics copy: every minute, the new events into the engine's copy, one
copy at a time (``services.analytics_copy_locked`` says how)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.funnels.services import analytics_copy_locked

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def copy_events() -> None:
    """Every minute: copy the events recorded since the last copy (one copy at a time)."""
    report = analytics_copy_locked(now=utcnow())
    if report is None:
        log.info("analytics copy: another copy is running; skipped")
    elif report.events:
        log.info(
            "analytics copy: %s events in %s batches, up to event-store id %s",
            report.events,
            report.batches,
            report.mark,
        )
