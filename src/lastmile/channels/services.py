"""The outbox: every message lastmile sends, written with the change that caused it.

A worker (``outbox_deliver``) checks each due message against its purpose's contact rule,
then hands it to its channel's transport (``channels.delivery``), retrying failures with
backoff. The key makes a message impossible to queue twice; the claim makes it impossible
for two workers to send it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django.db.models import Q

from lastmile.channels.contact import (
    History,
    Outcome,
    Outgoing,
    RuleSpec,
    contact_decide,
    rule_pick,
    timezone_pick,
)
from lastmile.channels.delivery import PermanentFailure, email_data_errors, transport_send
from lastmile.channels.models import ContactRule, OutboxMessage, OutboxStatus
from lastmile.channels.selectors import contact_history
from lastmile.core.audit import audited_delete, audited_save
from lastmile.core.db import rows_insert_new
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.retry import retry_delay
from lastmile.people.viewers import Actor

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
# How long a claimed message is left to its worker. A worker that dies mid-send leaves the
# message claimed; after the lease another worker sends it again (with the same key and
# Message-ID, so the receiving side can tell). That crash is the only way to send twice.
LEASE = timedelta(minutes=15)
# Transaction-scoped advisory lock class (PostgreSQL) serialising contact decisions per
# customer: two workers never both pass the same cap. SQLite has one writer anyway.
_CONTACT_LOCK = 0x4C4D4354  # "LMCT"


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
    customer: Any = None,
    case: Any = None,
) -> dict[str, Any]:
    """An outbox row to pass, with others, to ``outbox_enqueue``.

    ``customer`` (a Customer or its id) is whom contact rules count and whose timeline shows
    the message; leave it out for messages to agents. ``case`` (a Case or its id) gives the
    customer when ``customer`` is not given. For email, ``data`` may carry ``headers``
    (Message-ID, In-Reply-To, References…), ``reply_to`` and ``from_email``; bad ones are
    refused here (422), not at send time.
    """
    data = data or {}
    if not key:
        raise InvalidInput("an outbox message needs a key", [FieldError("key", "required")])
    if channel == "email" or channel.startswith("email:"):
        errors = email_data_errors(data)
        if errors:
            raise InvalidInput("bad email fields for the outbox", errors)
    customer_id = getattr(customer, "pk", customer)
    case_id = getattr(case, "pk", case)
    if customer_id is None and case is not None and hasattr(case, "customer_id"):
        customer_id = case.customer_id
    return {
        "key": key[:200],
        "purpose": purpose,
        "channel": channel,
        "recipient": recipient,
        "customer_id": customer_id,
        "case_id": case_id,
        "subject": subject[:300],
        "body": body,
        "data": data,
        "created_at": now,
        "next_attempt_at": now,
    }


def outbox_enqueue(messages: Sequence[dict[str, Any]]) -> int:
    """Queue messages in the caller's transaction; a key already queued is not queued again.

    Returns how many were new. Delivery is kicked once the caller's transaction commits.
    """
    # A key already queued (or twice in ``messages``) is skipped by the unique key; only
    # the rows inserted are counted.
    new = rows_insert_new(OutboxMessage, messages)
    if new:
        _kick_on_commit()
    return new


def _kick_on_commit() -> None:
    from lastmile.channels.tasks import outbox_deliver_task

    transaction.on_commit(lambda: _kick(outbox_deliver_task))


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
    deferred: int = 0
    suppressed: int = 0


def outbox_deliver(
    *,
    now: datetime,
    batch_size: int = 100,
    max_batches: int | None = None,
    keys: Collection[str] | None = None,
) -> DeliveryResult:
    """Deliver due pending messages, by batches, until none is due.

    1. In one short transaction, claim a batch of due messages (``FOR UPDATE SKIP LOCKED`` on
       PostgreSQL, so concurrent workers take different rows; on SQLite the IMMEDIATE
       transaction is the only writer) and decide each against its contact rule, holding a
       per-customer lock so a cap is counted once: suppressed and deferred messages are
       written so; the others are claimed (an attempt counted, a lease set).
    2. Outside any transaction (a slow SMTP server must not hold the database), send each
       claimed message with its channel's transport.
    3. Record each outcome with a conditional update: sent; or retried after 1, 2, 4 …
       minutes; or failed after ``MAX_ATTEMPTS`` or a permanent failure (no transport).
    Running it again sends nothing twice: a sent message is no longer pending. ``keys``
    limits the run to those messages (the demo replays a story at past times with it).
    """
    result = DeliveryResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            claimed, due = _claim_and_decide(
                now=now, batch_size=batch_size, keys=keys, result=result
            )
        for message in claimed:
            _send_one(message, now=now, result=result)
        batches += 1
        if due < batch_size:
            break
    return result


def _claim_and_decide(
    *, now: datetime, batch_size: int, keys: Collection[str] | None, result: DeliveryResult
) -> tuple[list[OutboxMessage], int]:
    # Lock and limit in one statement, as loops._claim_due: PostgreSQL skips rows another
    # worker holds before applying the LIMIT.
    due = OutboxMessage.objects.filter(
        status=OutboxStatus.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "pk")
    if keys is not None:
        due = due.filter(key__in=list(keys))
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    ids = list(due.values_list("pk", flat=True)[:batch_size])
    if not ids:
        return [], 0
    messages = list(
        OutboxMessage.objects.filter(pk__in=ids)
        .select_related("customer")
        .order_by("next_attempt_at", "pk")
    )
    contact_lock(customer_ids={m.customer_id for m in messages if m.customer_id})
    rules = [RuleSpec.of(r) for r in ContactRule.objects.all()]
    claimed = []
    for message in messages:
        decision = contact_decide(_outgoing(message, rules), _history(message), now)
        fields = ["rule_id", "rule_check", "rule_reason"]
        if decision.outcome is not Outcome.SEND:
            message.rule_id = decision.rule_id
            message.rule_check = decision.check
            message.rule_reason = decision.reason
        if decision.outcome is Outcome.SUPPRESS:
            message.status = OutboxStatus.SUPPRESSED
            fields.append("status")
            result.suppressed += 1
        elif decision.outcome is Outcome.DEFER:
            message.next_attempt_at = decision.until  # type: ignore[assignment]
            fields.append("next_attempt_at")
            result.deferred += 1
        else:
            message.attempts += 1
            message.claimed_at = now
            message.next_attempt_at = now + LEASE
            fields += ["attempts", "claimed_at", "next_attempt_at"]
            claimed.append(message)
        message.save(update_fields=fields)
    return claimed, len(ids)


def contact_lock(*, customer_ids: Iterable[int]) -> None:
    """Take the per-customer contact lock for ``customer_ids`` until the caller's transaction
    ends: whoever decides a contact for one of them (the outbox worker, a survey invite)
    under it takes turns with every other such decision, so two never both pass one cap.

    Call it inside ``transaction.atomic()``, before reading the history. PostgreSQL: a
    transaction-scoped advisory lock per customer, taken in id order (no deadlock). SQLite:
    nothing to do, its IMMEDIATE transactions have one writer at a time.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for pk in sorted(customer_ids):  # one order for every worker: no deadlock
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_CONTACT_LOCK, pk % 2_147_483_647]
            )


def _outgoing(message: OutboxMessage, rules: Sequence[RuleSpec]) -> Outgoing:
    customer = message.customer
    zone = timezone_pick(
        customer.timezone if customer is not None else None,
        (message.data or {}).get("timezone"),
        default=settings.TIME_ZONE,
    )
    return Outgoing(
        purpose=message.purpose,
        rule=rule_pick(
            rules, message.purpose, customer.attributes if customer is not None else None
        ),
        has_customer=message.customer_id is not None,
        timezone=zone,
    )


def _history(message: OutboxMessage) -> History:
    if message.customer_id is None:
        return History()
    return contact_history(customer_id=message.customer_id, exclude=message.pk)


def _send_one(message: OutboxMessage, *, now: datetime, result: DeliveryResult) -> None:
    claim = Q(pk=message.pk, status=OutboxStatus.PENDING, claimed_at=message.claimed_at)
    try:
        external_id = transport_send(message)
    except PermanentFailure as exc:
        _record(claim, status=OutboxStatus.FAILED, error=exc, result=result)
    except Exception as exc:
        if message.attempts >= MAX_ATTEMPTS:
            _record(claim, status=OutboxStatus.FAILED, error=exc, result=result)
        else:
            backoff = retry_delay(message.attempts)
            _record(claim, next_attempt_at=now + backoff, error=exc, result=result)
    else:
        updated = OutboxMessage.objects.filter(claim).update(
            status=OutboxStatus.SENT,
            sent_at=now,
            claimed_at=None,
            last_error="",
            external_id=(external_id or "")[:200],
        )
        if updated:
            result.sent += 1
        else:  # the lease ran out and another worker took it over: it records the outcome
            log.warning("outbox message %s sent after its claim was taken over", message.pk)


def _record(
    claim: Q,
    *,
    error: BaseException,
    result: DeliveryResult,
    status: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {
        "claimed_at": None,
        "last_error": f"{type(error).__name__}: {error}"[:2000],
    }
    if status is not None:
        values["status"] = status
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if OutboxMessage.objects.filter(claim).update(**values):
        if status == OutboxStatus.FAILED:
            result.failed += 1
            log.warning("outbox message failed: %s", values["last_error"])
        else:
            result.retried += 1


def outbox_retry(*, message_ids: Iterable[int], now: datetime) -> int:
    """Queue failed messages again, due now, with a fresh count of attempts.

    Only failed messages: a sent one is never sent again, a suppressed one stays stopped.
    Returns how many were queued; delivery is kicked when the transaction commits.
    """
    with transaction.atomic():
        n = OutboxMessage.objects.filter(
            pk__in=list(message_ids), status=OutboxStatus.FAILED
        ).update(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, claimed_at=None)
        if n:
            _kick_on_commit()
    return n


def contact_rule_save(
    *, rule: ContactRule, actor: Actor, now: datetime, actor_label: str = ""
) -> ContactRule:
    """Create or change a contact rule and write the audit row with it.

    The rule is checked as the admin form checks it (quiet hours in pairs, a positive
    period, an attribute key with its value, one rule per purpose and condition):
    InvalidInput names the fields (a duplicate is named on ``purpose``), nothing is written. The
    outbox reads the rule at each delivery, so the change applies to the next message.
    """
    try:
        rule.full_clean()
    except ValidationError as exc:
        raise InvalidInput(
            "the contact rule is not valid",
            [
                FieldError(name if name != NON_FIELD_ERRORS else "purpose", str(reason))
                for name, reasons in exc.message_dict.items()
                for reason in reasons
            ],
        ) from None
    audited_save(rule, actor=actor, now=now, actor_label=actor_label)
    return rule


def contact_rule_delete(
    *, rule: ContactRule, actor: Actor, now: datetime, actor_label: str = ""
) -> None:
    """Delete a contact rule: its purpose is sent as it comes from now on."""
    audited_delete(rule, actor=actor, now=now, actor_label=actor_label)
