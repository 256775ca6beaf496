"""The worker's jobs housekeeping: once a day, forget the answers to old Idempotency-Keys."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.jobs.services import idempotent_answers_prune

log = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="3", minute="17"))
def idempotent_answers_forget() -> None:
    """Daily at 03:17 UTC: answers older than a week go."""
    forgotten = idempotent_answers_prune(now=utcnow())
    if forgotten:
        log.info("jobs: forgot %s idempotent answers older than a week", forgotten)
