"""The worker's invoices: the email of a newly issued invoice (its PDF drawn here, not in
the request that completed the job), and a sweep for those whose task was lost."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from lastmile.core.clock import utcnow
from lastmile.invoices.services import invoice_deliver, invoices_send_pending

log = logging.getLogger(__name__)


@db_task(retries=3, retry_delay=30)
def invoice_send_task(invoice_id: int) -> None:
    """Queued when an invoice issued with ``send`` commits; sends it once, however often it
    runs (``invoice_deliver``)."""
    invoice_deliver(invoice_id=invoice_id, now=utcnow())


@db_periodic_task(crontab(minute="*/5"))
def invoices_send_pending_periodic() -> None:
    """Every 5 minutes: send the invoices left pending (their task never ran)."""
    sent = invoices_send_pending(now=utcnow())
    if sent:
        log.info("invoices: sent %s invoices whose task was lost", sent)
