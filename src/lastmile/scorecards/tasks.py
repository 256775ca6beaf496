"""The worker's scorecard runs: the QA first pass every five minutes, over the cases solved
or closed since it last ran (each case once: a case with its automatic review is not read
again, and two workers racing write one review, the unique constraint deciding); and the
dashboard's rollups every ``LASTMILE_ROLLUP_MINUTES`` (default 10), the week in progress and
the one before it."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.scorecards.rollups import rollup_minutes, rollups_refresh
from lastmile.scorecards.services import qa_autoreview_pending

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/5"))
def qa_autoreview_task() -> None:
    written = qa_autoreview_pending(now=utcnow())
    if written:
        log.info("scorecards: %s automatic QA reviews written", written)


@db_periodic_task(crontab(minute=f"*/{rollup_minutes()}"))
def rollups_task() -> None:
    written = rollups_refresh(now=utcnow())
    log.info("scorecards: %s weekly team rollups recomputed", written)
