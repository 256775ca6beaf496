"""What the portal shows a customer, read in a few queries and scoped to that customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Direction, Interaction

# Channels whose messages the customer saw or wrote; notes and tracking events stay internal.
CONVERSATION_DIRECTIONS = (Direction.INBOUND, Direction.OUTBOUND)
HIDDEN_CHANNELS = ("web", "app")


def portal_cases(customer: Customer) -> list[Case]:
    return list(Case.objects.filter(customer=customer).order_by("-created_at")[:50])


def portal_overview(customer: Customer, *, now: datetime) -> dict[str, Any]:
    return {"cases": portal_cases(customer)}


def portal_case(case: Case, *, now: datetime) -> dict[str, Any]:
    messages = (
        Interaction.objects.filter(case=case, direction__in=CONVERSATION_DIRECTIONS)
        .exclude(channel__in=HIDDEN_CHANNELS)
        .order_by("occurred_at", "id")
    )
    return {"case": case, "messages": list(messages[:200])}
