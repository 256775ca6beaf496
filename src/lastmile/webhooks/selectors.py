"""Reads of the webhooks app."""

from __future__ import annotations

from django.db.models import QuerySet

from lastmile.webhooks.models import Delivery


def delivery_list(
    *, status: str | None = None, event: str | None = None, subscription: str | None = None
) -> QuerySet[Delivery]:
    """The delivery log, newest first, filtered; deliveries concern every team, so callers
    check the viewer may see everything."""
    qs = Delivery.objects.select_related("subscription").order_by("-id")
    if status:
        qs = qs.filter(status=status)
    if event:
        qs = qs.filter(event=event)
    if subscription:
        qs = qs.filter(subscription__name=subscription)
    return qs
