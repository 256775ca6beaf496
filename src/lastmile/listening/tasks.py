"""The worker's half of a file import: pending mentions scored and put on the timeline.

``process_mentions`` is asked for by ``lastmile mentions import`` when it ends; the periodic
run catches up on anything left (a worker that died mid-batch, a queue that was down).
Both drain the pending mentions batch by batch (``services.process``); a batch is one
transaction, so running them twice, or at once, processes nothing twice.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from lastmile.core.clock import utcnow
from lastmile.listening.services.process import mentions_process_all

log = logging.getLogger(__name__)


def _drain() -> None:
    done = mentions_process_all(now=utcnow())
    if done.mentions:
        log.info(
            "mentions processed: %s in %s batches (%s on the timeline, %s cases opened)",
            done.mentions,
            done.batches,
            done.interactions,
            done.cases,
        )


@db_task()
def process_mentions() -> None:
    """Process every pending mention (after an import)."""
    _drain()


@db_periodic_task(crontab(minute="*"))
def process_mentions_periodic() -> None:
    """Every minute: process any mention left pending."""
    _drain()
