"""An agent's reply on a case, out on the channel the agent chose.

Apps that can carry a reply on a channel register a route (the mail app: email on a case
that is already an email thread; the webhooks app: SMS, WhatsApp and chat back through the
integration the customer wrote on). A route answers with what it did, or None when the
reply is not for it. A reply no route takes (phone, in person) is recorded as said.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lastmile.customers.models import Direction
from lastmile.people.viewers import Actor

Route = Callable[..., str | None]
_routes: list[Route] = []


def reply_route_register(route: Route) -> None:
    """``route(*, case, channel, body, actor, now) -> str | None`` (idempotent by identity)."""
    if route not in _routes:
        _routes.append(route)


def case_reply_send(*, case: Any, channel: str, body: str, actor: Actor, now: datetime) -> str:
    """Send (or record) the reply; a sentence saying what happened, for the agent."""
    for route in _routes:
        said = route(case=case, channel=channel, body=body, actor=actor, now=now)
        if said is not None:
            return said
    from lastmile.customers.services.timeline import interaction_record

    interaction_record(
        customer=case.customer,
        case=case,
        channel=channel,
        direction=Direction.OUTBOUND,
        occurred_at=now,
        now=now,
        body=body,
        actor=actor,
    )
    return f"Reply sent on {channel}."
