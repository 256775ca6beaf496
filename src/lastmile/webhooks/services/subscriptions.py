"""Event subscriptions: domain events delivered, signed, to subscribers' URLs.

``deliveries_queue`` is subscribed to the domain events (and ``deliveries_queue_many`` to
runs of them); it writes one pending ``Delivery`` per interested subscription in the
caller's transaction (no I/O). ``deliveries_send`` (the worker) POSTs them, signed, retrying
with exponential backoff.

Messaging integrations (SMS, WhatsApp and chat in and out) are
``lastmile.webhooks.services.integrations``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound
from lastmile.core.retry import retry_delay
from lastmile.people.models import Team
from lastmile.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Subscription
from lastmile.webhooks.sender import Outcome, post_signed, url_check
from lastmile.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    secret_generate,
    secret_prefix,
)

log = logging.getLogger(__name__)

# Event deliveries: attempt n failing waits ``retry_delay(n)`` before attempt n + 1
# (1, 2, 4 … 256 minutes); after MAX_ATTEMPTS it is failed (about 8.5 hours after the
# event). A redelivery starts the schedule again.
MAX_ATTEMPTS = 10
KEEP_DELIVERIES = timedelta(days=30)  # the delivery log keeps finished deliveries this long
EVENT_NAME = re.compile(r"^(\*|[a-z][a-z_]*\.(\*|[a-z][a-z_]*))$")


# --- subscriptions -------------------------------------------------------------------------


def events_check(events: Any, *, field_name: str = "events") -> list[str]:
    """A subscription's event list: names like ``loop.breached``, ``loop.*`` or ``*``."""
    if isinstance(events, str):
        events = [e for e in re.split(r"[\s,]+", events) if e]
    if not isinstance(events, list) or not events:
        raise InvalidInput(
            "say which events to send",
            [FieldError(field_name, "a list of event names, e.g. ['loop.breached'] or ['*']")],
        )
    errors = [
        FieldError(f"{field_name}[{i}]", f"{e!r} is not an event name like loop.breached")
        for i, e in enumerate(events)
        if not isinstance(e, str) or not EVENT_NAME.match(e)
    ]
    if errors:
        raise InvalidInput(errors[0].reason, errors)
    return list(dict.fromkeys(events))


def subscription_create(
    *,
    name: str,
    url: str,
    events: Any,
    now: datetime,
    team: Team | None = None,
    active: bool = True,
) -> tuple[Subscription, str]:
    """A new event subscription and its signing secret (returned this once)."""
    name = (name or "").strip()
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > 100:
        errors.append(FieldError("name", "at most 100 characters"))
    elif Subscription.objects.filter(name=name).exists():
        errors.append(FieldError("name", f"a subscription called {name!r} exists"))
    for check in (lambda: url_check(url), lambda: events_check(events)):
        try:
            check()
        except InvalidInput as exc:
            errors += exc.errors
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    secret = secret_generate()
    subscription = Subscription.objects.create(
        name=name,
        url=url.strip(),
        events=events_check(events),
        secret=secret,
        secret_prefix=secret_prefix(secret),
        team=team,
        active=active,
        created_at=now,
    )
    return subscription, secret


# --- deliveries ----------------------------------------------------------------------------


_ACTIVE_SUBSCRIPTIONS = (
    f"SELECT id, events, team_id FROM {Subscription._meta.db_table} WHERE active"  # noqa: S608
)


def deliveries_queue(name: str, data: dict[str, Any], at: datetime) -> None:
    """Domain-event subscriber: one pending delivery per active subscription that wants it.

    Runs in the transaction of the change that caused the event, so the delivery exists
    exactly when the change commits. No I/O here: the worker sends it.
    """
    deliveries_queue_many(name, [(data, at)])


def deliveries_queue_many(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """``deliveries_queue`` for a run of events of one name (``event_emit_many``: a sweep's
    breaches): the subscriptions are read once and the deliveries written in one insert."""
    if not events:
        return
    # Plain SQL: this runs on the sweeper's hot path too, and the ORM's overhead for this
    # one query is some 40 times the query's own cost.
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_SUBSCRIPTIONS)
        rows = cursor.fetchall()
    if not rows:
        return
    noun = name.split(".", 1)[0]
    interested = [
        (pk, team_id)
        for pk, wants, team_id in rows
        if any(
            e in ("*", name, f"{noun}.*")
            for e in (json.loads(wants) if isinstance(wants, str | bytes) else wants) or ()
        )
    ]
    deliveries = [
        delivery
        for data, at in events
        for delivery in _deliveries_for(name, data, at, interested=interested)
    ]
    if not deliveries:
        return
    Delivery.objects.bulk_create(deliveries)
    transaction.on_commit(_kick)


def _deliveries_for(
    name: str, data: dict[str, Any], at: datetime, *, interested: list[tuple[int, int | None]]
) -> list[Delivery]:
    """One event's deliveries: one per interested subscription of its team (or of any)."""
    team = data.get("team")
    wanted = [pk for pk, team_id in interested if team_id is None or team_id == team]
    if not wanted:
        return []
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "event": name,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return [
        Delivery(
            subscription_id=pk,
            event=name[:60],
            event_id=event_id,
            payload=payload,
            created_at=at,
            next_attempt_at=at,
        )
        for pk in wanted
    ]


def _kick() -> None:
    """Ask the worker to send now; if the queue is unreachable, the periodic run will."""
    from lastmile.webhooks.tasks import deliveries_send_task

    try:
        deliveries_send_task()
    except Exception:
        log.warning("could not queue webhook delivery; the periodic run will send", exc_info=True)


@dataclass
class SendResult:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def deliveries_send(*, now: datetime, batch_size: int = 50, max_batches: int = 100) -> SendResult:
    """Send due deliveries, batch after batch until none is due, none of it inside a
    database transaction (a slow receiver must not hold the database).

    1. Claim: a conditional UPDATE that counts the attempt and pushes the next one out by
       the backoff; only the worker whose UPDATE changed the row goes on. A worker that dies
       mid-request leaves the delivery to be retried on schedule.
    2. POST it, signed at the moment it is sent (``now`` plus the time this run has taken).
    3. Record the outcome: 2xx delivered; else retried later, or failed after MAX_ATTEMPTS.
       A redelivery asked for meanwhile wins: the late outcome only goes in the log.
    """
    result = SendResult()
    started = time.monotonic()
    for _ in range(max_batches):
        due = list(
            Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("pk", "attempts")[:batch_size]
        )
        for pk, attempts in due:
            _send_one(pk, attempts, now=now, started=started, result=result)
        if len(due) < batch_size:
            break
    return result


def _send_one(pk: int, attempts: int, *, now: datetime, started: float, result: SendResult) -> None:
    base = Delivery.objects.filter(
        pk=pk, status=DeliveryStatus.PENDING, attempts=attempts, next_attempt_at__lte=now
    )
    if attempts >= MAX_ATTEMPTS:  # the worker died during the last attempt
        if base.update(status=DeliveryStatus.FAILED, next_attempt_at=None):
            result.failed += 1
        return
    number = attempts + 1
    if not base.update(
        attempts=number, last_attempt_at=now, next_attempt_at=now + retry_delay(number)
    ):
        return  # another worker claimed it, or it was redelivered meanwhile
    delivery = Delivery.objects.select_related("subscription").get(pk=pk)
    subscription = delivery.subscription
    if not subscription.active:
        outcome = Outcome(status=None, error="the subscription is inactive")
    else:
        try:
            outcome = post_signed(
                url=subscription.url,
                secret=subscription.secret,
                body=json.dumps(delivery.payload, separators=(",", ":")).encode(),
                now=now + timedelta(seconds=time.monotonic() - started),
                headers={DELIVERY_HEADER: str(delivery.uuid), EVENT_HEADER: delivery.event},
            )
        except Exception as exc:  # noqa: BLE001 - one delivery's bug must not stop the batch
            log.exception("delivery %s could not be sent", pk)
            outcome = Outcome(status=None, error=f"{type(exc).__name__}: {exc}")
    result.outcomes.append(outcome)
    # An internal target stays internal: retrying for hours would only knock again.
    state = _record(
        delivery,
        number=number,
        outcome=outcome,
        at=now,
        give_up=not subscription.active or outcome.refused,
    )
    if state == DeliveryStatus.DELIVERED:
        result.delivered += 1
    elif state == DeliveryStatus.FAILED:
        result.failed += 1
    elif state == DeliveryStatus.PENDING:
        result.retried += 1


def _record(
    delivery: Delivery, *, number: int, outcome: Outcome, at: datetime, give_up: bool
) -> str | None:
    """Write one attempt's outcome; the delivery's new status, or None if a redelivery
    reset it meanwhile (then only the log gets the attempt)."""
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=DeliveryAttempt.objects.filter(delivery=delivery).count() + 1,
            at=at,
            response_code=outcome.status,
            response_excerpt=outcome.excerpt,
            error="" if outcome.ok else outcome.describe()[:500],
            duration_ms=outcome.duration_ms,
        )
        mine = Delivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=number
        )
        fields: dict[str, Any] = {
            "response_code": outcome.status,
            "response_excerpt": outcome.excerpt,
        }
        if outcome.ok:
            status = DeliveryStatus.DELIVERED
            fields.update(status=status, delivered_at=at, next_attempt_at=None, last_error="")
        elif give_up or number >= MAX_ATTEMPTS:
            status = DeliveryStatus.FAILED
            fields.update(status=status, next_attempt_at=None, last_error=outcome.describe()[:500])
        else:
            status = DeliveryStatus.PENDING
            fields.update(last_error=outcome.describe()[:500])
        return status if mine.update(**fields) else None


def delivery_redeliver(*, delivery: Delivery, now: datetime, actor: str = "") -> Delivery:
    """Send a delivery again, now, with a fresh retry schedule and the same delivery id
    (a receiver that processed it already drops it)."""
    with transaction.atomic():
        row = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if row is None:
            raise NotFound(f"delivery {delivery.pk}")
        row.status = DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.redelivered_at = now
        row.redelivered_by = (actor or "")[:150]
        row.save(
            update_fields=[
                "status",
                "attempts",
                "next_attempt_at",
                "redelivered_at",
                "redelivered_by",
            ]
        )
        transaction.on_commit(_kick)
    return row


def deliveries_prune(*, now: datetime, keep: timedelta = KEEP_DELIVERIES) -> int:
    """Forget finished deliveries (delivered or failed) created more than ``keep`` ago, with
    their attempts, so the log does not grow for ever; pending ones are kept whatever their
    age. Returns how many went."""
    old = Delivery.objects.filter(
        created_at__lt=now - keep,
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED],
    )
    count = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:1000])
        if not ids:
            return count
        with transaction.atomic():
            DeliveryAttempt.objects.filter(delivery_id__in=ids).delete()
            count += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)


def deliveries_redeliver(*, ids: Sequence[int], now: datetime, actor: str = "") -> int:
    """Redeliver several (the admin action); returns how many."""
    count = 0
    for pk in ids:
        try:
            delivery_redeliver(delivery=Delivery(pk=pk), now=now, actor=actor)
        except DomainError:
            continue
        count += 1
    return count
