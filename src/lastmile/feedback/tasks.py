"""The worker's feedback runs, every minute (conditional updates and keyed invites: safe
with several workers, and run twice they do nothing more):

- queued invites follow their outbox messages (sent, or stopped at sending) and unanswered
  invites expire (``services.invites_follow``);
- sent, unanswered invites are reminded once, under the contact rule
  (``services.invites_remind``);
- ``schedule`` surveys ask the customers they are due to ask (``services.surveys_schedule_run``).
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.feedback.services import invites_follow, invites_remind, surveys_schedule_run

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def invites_follow_task() -> None:
    sent, stopped, expired = invites_follow(now=utcnow())
    if sent or stopped or expired:
        log.info("feedback: %s invites sent, %s stopped, %s expired", sent, stopped, expired)


@db_periodic_task(crontab(minute="*"))
def invites_remind_task() -> None:
    queued, suppressed = invites_remind(now=utcnow())
    if queued or suppressed:
        log.info("feedback: %s reminders queued, %s suppressed", queued, suppressed)


@db_periodic_task(crontab(minute="*"))
def surveys_schedule_task() -> None:
    queued, suppressed = surveys_schedule_run(now=utcnow())
    if queued or suppressed:
        log.info("feedback: scheduled surveys asked %s, %s suppressed", queued, suppressed)
