"""The worker's QA run, every five minutes: the automatic first pass over the cases solved
or closed since it last ran (each case once: a case with its automatic review is not read
again, and two workers racing write one review, the unique constraint deciding)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.scorecards.services import qa_autoreview_pending

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/5"))
def qa_autoreview_task() -> None:
    written = qa_autoreview_pending(now=utcnow())
    if written:
        log.info("scorecards: %s automatic QA reviews written", written)
