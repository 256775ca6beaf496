"""Reads of the outbox: a customer's contact history, and what the timeline shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.db.models.functions import Coalesce

from lastmile.channels.contact import Contact, History
from lastmile.channels.models import OutboxMessage, OutboxStatus

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
    *, customer: Any, limit: int = 20, statuses: Sequence[str] | None = None
) -> list[OutboxMessage]:
    """The customer's outbound messages, newest first, with the rule that held or stopped each.

    For the timeline: the viewer must already be allowed to see ``customer``.
    """
    qs = OutboxMessage.objects.filter(customer_id=customer.pk).select_related("rule", "case")
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    return list(qs.order_by("-created_at", "-id")[: max(1, min(limit, 200))])
