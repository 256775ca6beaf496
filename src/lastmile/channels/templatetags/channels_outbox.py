"""``{% outbox_for_customer customer viewer=request.user as messages %}``: the customer page's outbound messages.

A tag, so the console shows the outbox with one ``{% include %}`` and no change to its views.
The page that includes it has already checked that the viewer may see the customer.
"""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.channels.selectors import outbox_for_customer as _outbox_for_customer
from lastmile.people.viewers import Viewer

register = template.Library()


@register.simple_tag
def outbox_for_customer(customer: Any, viewer: Viewer, limit: int = 20) -> list[Any]:
    """``viewer`` (the signed-in user) decides how much of a failed message's error is shown."""
    if customer is None or getattr(customer, "pk", None) is None:
        return []
    return _outbox_for_customer(customer=customer, viewer=viewer, limit=limit)
