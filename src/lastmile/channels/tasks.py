from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from lastmile.channels.services import outbox_deliver
from lastmile.core.clock import utcnow


@db_task()
def outbox_deliver_task() -> None:
    outbox_deliver(now=utcnow())


@db_periodic_task(crontab(minute="*"))
def outbox_deliver_periodic() -> None:
    outbox_deliver(now=utcnow())
