"""The contact policy, played out for the demo: ``contact_policy_demo(customers=, now=)``.

Replays a few days of outbox traffic at past instants through the real worker, with the
rules as they are configured (the seeded ones by default), so the customer pages show:

1. *asked once* — a survey sent six days ago got no answer; the second, two days ago, is
   stopped by the survey rule, which the page names;
2. *answered* — a survey three weeks ago was answered, so the one two days ago went out;
3. *quiet hours* — a notification queued at 23:00 last night, the customer's time, waited
   for the morning and was sent then.

Messages are delivered by the configured transports (the demo's file-based mail backend):
nothing is marked sent that was not handed to one. The report lines say what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from lastmile.channels.contact import timezone_pick
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver, outbox_enqueue, outbox_message
from lastmile.customers.services.timeline import interaction_record


def contact_policy_demo(*, customers: Sequence[tuple[Any, str]], now: datetime) -> list[str]:
    """Play the stories above for up to three ``(customer, email address)`` pairs.

    Idempotent: the messages have fixed keys, so a second run queues and sends nothing.
    """
    stories = [_asked_once, _answered, _quiet_hours]
    lines = []
    with transaction.atomic():
        for (customer, email), story in zip(customers, stories, strict=False):
            lines.append(story(customer, email, now))
    return lines


def _local(customer: Any, now: datetime, days_ago: int, hour: int) -> datetime:
    """``hour`` o'clock in the customer's zone, ``days_ago`` days before ``now``."""
    zone = ZoneInfo(_zone(customer))
    day = (now - timedelta(days=days_ago)).astimezone(zone)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)


def _zone(customer: Any) -> str:
    return timezone_pick(customer.timezone, default=settings.TIME_ZONE)


def _play(customer: Any, email: str, key: str, at: datetime, **fields: Any) -> OutboxMessage:
    outbox_enqueue([outbox_message(key=key, recipient=email, customer=customer, now=at, **fields)])
    outbox_deliver(now=at, keys=[key])
    return OutboxMessage.objects.get(key=key)


def _survey(customer: Any, email: str, n: int, at: datetime) -> OutboxMessage:
    return _play(
        customer,
        email,
        f"demo:survey:{customer.pk}:{n}",
        at,
        purpose="survey",
        subject="How did we do? One question about your last request",
        body="Reply with a number from 1 to 5.",
    )


def _said(m: OutboxMessage) -> str:
    why = f" — {m.get_rule_check_display().lower()}: {m.rule_reason}" if m.rule_check else ""
    return f"{m.status}{why}"


def _asked_once(customer: Any, email: str, now: datetime) -> str:
    first = _survey(customer, email, 1, _local(customer, now, 6, 11))
    second = _survey(customer, email, 2, _local(customer, now, 2, 11))
    return f"contact policy, {customer}: survey {_said(first)}; second survey {_said(second)}"


def _answered(customer: Any, email: str, now: datetime) -> str:
    first = _survey(customer, email, 1, _local(customer, now, 21, 11))
    answered_at = _local(customer, now, 20, 9)
    interaction_record(
        customer=customer,
        channel="email",
        direction="inbound",
        occurred_at=answered_at,
        now=answered_at,
        body="5 — thank you, all sorted.",
        source_id=f"demo-survey-answer-{customer.pk}",
    )
    second = _survey(customer, email, 2, _local(customer, now, 2, 11))
    return (
        f"contact policy, {customer}: survey {_said(first)}, answered; next survey {_said(second)}"
    )


def _quiet_hours(customer: Any, email: str, now: datetime) -> str:
    key = f"demo:notification:{customer.pk}:late"
    # Last night's 23:00, or the night before while this morning's quiet hours may still
    # be on (before 09:00 their time), so that the story shows the message sent.
    local_hour = now.astimezone(ZoneInfo(_zone(customer))).hour
    queued = _local(customer, now, 1 if local_hour >= 9 else 2, 23)
    m = _play(
        customer,
        email,
        key,
        queued,
        purpose="notification",
        subject="Your replacement card has been posted",
        body="It should arrive within two working days.",
    )
    if m.status == "pending" and m.next_attempt_at <= now:
        outbox_deliver(now=m.next_attempt_at, keys=[key])
        m.refresh_from_db()
    return f"contact policy, {customer}: notification queued at 23:00 their time, {_said(m)}"
