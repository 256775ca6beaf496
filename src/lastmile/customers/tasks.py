"""The worker's half of a batch ingest: the sentiment of the messages it stored unscored.

``score_sentiments`` is asked for after an ingest commits (``sentiment_drain_soon``); the
periodic run catches up on anything left (a worker that died mid-batch, a queue that was
down). Both drain the pending messages batch by batch (``services.sentiment``).
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from lastmile.customers.services.sentiment import interactions_sentiment_score_all

log = logging.getLogger(__name__)


def _drain(why: str) -> None:
    done = interactions_sentiment_score_all()
    if done.messages or done.gone:
        log.info(
            "sentiments scored (%s): %s messages in %s batches (%s gone before scoring)",
            why,
            done.messages,
            done.batches,
            done.gone,
        )


@db_task()
def score_sentiments() -> None:
    """Score every message a batch ingest stored pending."""
    _drain("asked after an ingest")


@db_periodic_task(crontab(minute="*"))
def score_sentiments_periodic() -> None:
    """Every minute: score any message left pending."""
    _drain("every-minute catch-up")
