import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.loops.services import loops_sweep

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def sweep_loops() -> None:
    """Every minute: run the escalation ladder over due loops (safe with several workers)."""
    result = loops_sweep(now=utcnow())
    if result.rungs:
        log.info(
            "sweep: %s loops, %s rungs, %s breached", result.loops, result.rungs, result.breached
        )
