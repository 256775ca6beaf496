"""What the search tests share: a message on the timeline, an API call as an agent."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from lastmile.api.services import token_create
from lastmile.customers.models import Direction
from lastmile.customers.services.timeline import interaction_record
from lastmile.people.models import Agent

_tokens = count()


def message(case, body: str, at: datetime, *, direction: str = Direction.INBOUND, customer=None):  # type: ignore[no-untyped-def]
    """A message on ``case`` (or on no case, for ``customer``), recorded as the product does."""
    return interaction_record(
        customer=customer if customer is not None else case.customer,
        case=case,
        channel="email",
        direction=direction,
        occurred_at=at,
        now=at,
        body=body,
        # Scored already: the tests are about search, not the sentiment model.
        sentiment=("neutral", 0.0) if direction == Direction.INBOUND else None,
    )


def api_search(client, user, now, **params):  # type: ignore[no-untyped-def]
    """``GET /api/v1/search`` with a token of ``user``'s agent (an integration token for None)."""
    agent = Agent.objects.get(user=user) if user is not None else None
    secret = token_create(name=f"search-{next(_tokens)}", now=now, agent=agent)[1]
    return client.get("/api/v1/search", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


def ids(hits) -> list[int]:  # type: ignore[no-untyped-def]
    return [h.interaction.pk for h in hits]
