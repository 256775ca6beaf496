"""The worker's feedback run: every minute, queued invites follow their outbox messages
(sent, or stopped at sending) and unanswered invites expire (``services.invites_follow``,
conditional updates: safe with several workers)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from lastmile.core.clock import utcnow
from lastmile.feedback.services import invites_follow

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def invites_follow_task() -> None:
    sent, stopped, expired = invites_follow(now=utcnow())
    if sent or stopped or expired:
        log.info("feedback: %s invites sent, %s stopped, %s expired", sent, stopped, expired)
