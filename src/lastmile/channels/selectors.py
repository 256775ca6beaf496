"""Reads of the outbox: a customer's contact history, and what the timeline shows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.db.models.functions import Coalesce

from lastmile.channels.contact import Contact, History
from lastmile.channels.models import OUTBOX_STATUS, OutboxMessage, OutboxStatus
from lastmile.core.choices import Badge
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

# Enough for any sane cap; a customer flooded beyond it is still over every cap.
HISTORY_LIMIT = 1000


def contact_history(*, customer_id: int, exclude: int | None = None) -> History:
    """What counts towards the contact rules for a customer, newest first.

    A contact is a message sent (at ``sent_at``) or in flight (claimed by a worker, at
    ``claimed_at``): a message a worker is sending right now counts, so two workers cannot
    both pass one cap. Failed and suppressed messages never reached the customer.
    ``last_inbound_at`` is when the customer last wrote, on any channel.
    """
    qs = (
        OutboxMessage.objects.filter(customer_id=customer_id)
        .filter(Q(status=OutboxStatus.SENT) | Q(claimed_at__isnull=False))
        .annotate(at=Coalesce("sent_at", "claimed_at"))
        .order_by("-at")
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    contacts = tuple(
        Contact(purpose, at) for purpose, at in qs.values_list("purpose", "at")[:HISTORY_LIMIT]
    )
    return History(contacts=contacts, last_inbound_at=_last_inbound_at(customer_id))


def _last_inbound_at(customer_id: int) -> datetime | None:
    # The timeline belongs to customers; its index (customer, -occurred_at) makes this one
    # short range scan. Read here rather than through a customers selector, which has none.
    from lastmile.customers.models import Direction, Interaction

    return (
        Interaction.objects.filter(customer_id=customer_id, direction=Direction.INBOUND)
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )


def outbox_for_customer(
    *,
    customer: Any,
    viewer: Viewer,
    limit: int = 20,
    statuses: Sequence[str] | None = None,
) -> list[OutboxMessage]:
    """The customer's outbound messages, newest first, with the rule that held or stopped each.

    For the timeline: the viewer must already be allowed to see ``customer``. Each message
    carries ``error_shown``, its last error as ``viewer`` may read it (``outbox_error_shown``),
    and ``badge``, how its status is shown (``outbox_status_badge``).
    """
    qs = OutboxMessage.objects.filter(customer_id=customer.pk).select_related("rule", "case")
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    messages = list(qs.order_by("-created_at", "-id")[: max(1, min(limit, 200))])
    full = _sees_receivers_answers(viewer)
    for message in messages:
        message.error_shown = outbox_error_shown(message, viewer=viewer, full=full)  # type: ignore[attr-defined]
        message.badge = outbox_status_badge(message)  # type: ignore[attr-defined]
    return messages


def outbox_status_badge(message: OutboxMessage) -> Badge:
    """How a message's status is shown: a pending message a worker has claimed is "Sending";
    one a contact rule held and that was never tried is "Held"; otherwise its status."""
    if message.status == OutboxStatus.PENDING:
        if message.claimed_at:
            return OUTBOX_STATUS.derived("sending")
        if message.rule_check and not message.attempts:
            return OUTBOX_STATUS.derived("held")
    return OUTBOX_STATUS.badge(message.status)


# "HTTP 500: <what the receiver answered>", as ``lastmile.webhooks.sender.Outcome.describe``
# writes it into a transport's error.
_RECEIVER_ANSWER = re.compile(r"\bHTTP \d{3}(?=: )")


def outbox_error_shown(message: OutboxMessage, *, viewer: Viewer, full: bool | None = None) -> str:
    """``message.last_error`` as ``viewer`` may read it: in full for admins and ``SYSTEM``;
    for everyone else cut after the status line, so "shop: HTTP 500: <the receiver's
    page>" shows as "shop: HTTP 500".

    A receiver's answer may hold what only its operators should read (an internal
    service's page, had a target slipped through); the API keeps it from non-admins too
    (``lastmile.webhooks.api.sees_responses``). Errors of our own (no answer, a target
    refused before sending) are shown whole: they say nothing the receiver wrote.
    """
    text = message.last_error or ""
    if full is None:
        full = _sees_receivers_answers(viewer)
    else:
        viewer_check(viewer)  # the caller knows the answer, yet None is still no viewer
    if full:
        return text
    status = _RECEIVER_ANSWER.search(text)
    return text[: status.end()] if status else text


def _sees_receivers_answers(viewer: Viewer) -> bool:
    """Admins, superusers and ``SYSTEM`` (an integration token reads them in the API too)."""
    from lastmile.people.models import Role
    from lastmile.people.selectors import agent_for

    viewer = viewer_check(viewer)
    if viewer is SYSTEM or viewer.is_superuser:
        return True
    agent = agent_for(viewer)
    return agent is not None and agent.role == Role.ADMIN
