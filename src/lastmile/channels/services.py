"""The notification outbox: written with the change that caused it, delivered by a worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction

from lastmile.channels.models import OutboxMessage, OutboxStatus
from lastmile.core.db import rows_insert

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def outbox_message(
    *,
    key: str,
    recipient: str,
    now: datetime,
    purpose: str = "notification",
    channel: str = "email",
    subject: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An outbox row to pass, with others, to ``outbox_enqueue``."""
    return {
        "key": key[:200],
        "purpose": purpose,
        "channel": channel,
        "recipient": recipient,
        "subject": subject[:300],
        "body": body,
        "data": data or {},
        "created_at": now,
        "next_attempt_at": now,
    }


def outbox_enqueue(messages: Sequence[dict[str, Any]]) -> int:
    """Queue messages in the caller's transaction; a key already queued is not queued again.

    Returns how many were new.
    """
    keys = [m["key"] for m in messages]
    before = set(OutboxMessage.objects.filter(key__in=keys).values_list("key", flat=True))
    rows_insert(OutboxMessage, messages, ignore_conflicts=True)
    new = len(set(keys) - before)
    if new:
        from lastmile.channels.tasks import outbox_deliver_task

        transaction.on_commit(lambda: _kick(outbox_deliver_task))
    return new


def _kick(task: Any) -> None:
    try:
        task()
    except Exception:  # the periodic delivery picks it up anyway
        log.warning("could not queue outbox delivery; the periodic run will deliver", exc_info=True)


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0


def outbox_deliver(*, now: datetime, batch_size: int = 100) -> DeliveryResult:
    """Deliver due pending messages; each is claimed first so two workers never send one twice.

    A failure is retried with exponential backoff (1, 2, 4 … minutes) up to MAX_ATTEMPTS.
    """
    result = DeliveryResult()
    due = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
    for pk in list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            qs = OutboxMessage.objects.filter(
                pk=pk, status=OutboxStatus.PENDING, next_attempt_at__lte=now
            )
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            message = qs.first()
            if message is None:
                continue
            # Claim: push the next attempt out before sending, so a crash mid-send is
            # retried later rather than at once by another worker.
            message.attempts += 1
            try:
                _send(message)
            except Exception as exc:
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = OutboxStatus.FAILED
                    result.failed += 1
                else:
                    message.next_attempt_at = now + timedelta(minutes=2 ** (message.attempts - 1))
                    result.retried += 1
            else:
                message.status = OutboxStatus.SENT
                message.sent_at = now
                result.sent += 1
            message.save(
                update_fields=["attempts", "status", "sent_at", "next_attempt_at", "last_error"]
            )
    return result


def _send(message: OutboxMessage) -> None:
    if message.channel != "email":
        raise NotImplementedError(f"no delivery for channel {message.channel!r} yet")
    EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"X-Lastmile-Key": message.key},
    ).send()
