import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.crisis.services.triggers import triggers_run

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def run_triggers() -> None:
    """Every minute: score the 5-minute buckets that closed since the last run, raise alerts."""
    result = triggers_run(now=utcnow())
    if result.alerts:
        log.info("triggers: %s buckets, alerts %s", result.buckets, result.alerts)
