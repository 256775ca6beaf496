"""The worker's recovery run: every minute, open recoveries for new drop-offs, close the
ones whose window ended as lost, and re-read the store for the ones just opened.

Safe with several workers: each rule is checked under a lease taken by a conditional UPDATE
(``services.rule_claim``: a worker that dies leaves it to the next run), each recovery is
closed by a conditional UPDATE, and the unique constraints keep a drop-off from opening
twice whatever races.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.recovery.services import recoveries_detect, recoveries_expire, recoveries_recheck

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def recover() -> None:
    """Every minute: detect, re-check the newest, expire."""
    now = utcnow()
    report = recoveries_detect(now=now)
    recovered = recoveries_recheck(now=now)
    lost = recoveries_expire(now=now)
    if report.opened or recovered or lost:
        log.info(
            "recovery: %s opened (%s people read over %s rules), %s recovered late, %s lost",
            report.opened,
            report.candidates,
            report.rules,
            recovered,
            lost,
        )
