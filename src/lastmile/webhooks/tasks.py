"""Background work of the webhooks app: sending event deliveries (thin: calls the service)."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from lastmile.core.clock import utcnow
from lastmile.webhooks.services.subscriptions import deliveries_prune, deliveries_send

log = logging.getLogger(__name__)


@db_task()
def deliveries_send_task() -> None:
    """Queued when a delivery is written or redelivered: send it without waiting a minute."""
    deliveries_send(now=utcnow())


@db_periodic_task(crontab(minute="*"))
def deliveries_send_periodic() -> None:
    """Every minute: retries whose backoff has passed, and anything a kick missed."""
    result = deliveries_send(now=utcnow())
    if result.failed:
        log.warning("webhooks: %s deliveries failed for good", result.failed)


@db_periodic_task(crontab(minute="17", hour="3"))
def deliveries_prune_daily() -> None:
    """Every night: finished deliveries older than 30 days leave the log."""
    deliveries_prune(now=utcnow())
