"""``{% outbox_for_customer customer viewer=request.user as messages %}``: the customer page's outbound messages.

A tag, so the console shows the outbox with one ``{% include %}`` and no change to its views.
The page that includes it has already checked that the viewer may see the customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from lastmile.channels.selectors import contact_previews as _contact_previews
from lastmile.channels.selectors import outbox_for_customer as _outbox_for_customer
from lastmile.core.clock import utcnow
from lastmile.people.viewers import Viewer

register = template.Library()


@register.simple_tag
def outbox_for_customer(customer: Any, viewer: Viewer, limit: int = 20) -> list[Any]:
    """``viewer`` (the signed-in user) decides how much of a failed message's error is shown."""
    if customer is None or getattr(customer, "pk", None) is None:
        return []
    return _outbox_for_customer(customer=customer, viewer=viewer, limit=limit)


@register.simple_tag
def contact_previews(customer: Any, viewer: Viewer, now: datetime | None = None) -> list[Any]:
    """``{% contact_previews customer viewer=request.user now=now as previews %}``: what a call,
    a message and a survey would meet now (``channels.selectors.contact_previews``), for the
    console's "before you contact them" box. The page has already checked the viewer may
    see the customer."""
    if customer is None or getattr(customer, "pk", None) is None:
        return []
    return _contact_previews(customer=customer, viewer=viewer, now=now or utcnow())
