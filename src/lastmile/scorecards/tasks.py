"""The worker's scorecard runs: the QA first pass every five minutes, over the cases solved
or closed since it last ran (each case once: a case with its automatic review is not read
again, and two workers racing write one review, the unique constraint deciding); and the
dashboard's rollups every ``LASTMILE_ROLLUP_MINUTES`` (default 10), the week in progress and
the one before it; and the weekly email digest, every hour of Mondays from
``LASTMILE_DIGEST_HOUR`` (default 7 UTC): the first run sends, the later ones find it sent
(``digest.digest_send`` is once per person and week), so a worker down at the hour still
sends that day."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.scorecards.digest import digest_hour, digest_send
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


@db_periodic_task(crontab(day_of_week="1", hour=f"{digest_hour()}-23", minute="5"))
def digest_task() -> None:
    run = digest_send(now=utcnow())
    if run.sent or run.skipped:
        log.info(
            "scorecards: weekly digest sent to %s, skipped %s",
            len(run.sent),
            "; ".join(f"{name} ({why})" for name, why in run.skipped) or "nobody",
        )
