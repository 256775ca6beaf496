"""What the portal shows a customer, read in a few queries and scoped to that customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Direction, Interaction
from lastmile.journeys.models import JourneyState, JourneyStep, StepState
from lastmile.journeys.selectors import CustomerJourney, CustomerStep, journeys_for_customer
from lastmile.knowledge.selectors import articles_public
from lastmile.promises.selectors import promises_for_customer

# Channels whose messages the customer saw or wrote; notes and tracking events stay internal.
CONVERSATION_DIRECTIONS = (Direction.INBOUND, Direction.OUTBOUND)
HIDDEN_CHANNELS = ("web", "app")
HELP_ON_HOME = 5
# The home page shows the newest; a customer with more sees the rest on each case's page.
JOURNEYS_ON_HOME = 20
PROMISES_ON_HOME = 50


def portal_cases(customer: Customer) -> list[Case]:
    return list(Case.objects.filter(customer=customer).order_by("-created_at")[:50])


def steps_waiting_for(
    journeys: list[CustomerJourney],
) -> list[tuple[CustomerJourney, CustomerStep]]:
    """The customer's own steps that are open now, with their journey, earliest due first."""
    todo = [(j, s) for j in journeys for s in j.steps if s.can_act]
    return sorted(
        todo, key=lambda pair: (pair[1].due_at is None, pair[1].due_at or pair[0].started_at)
    )


def portal_overview(customer: Customer, *, now: datetime) -> dict[str, Any]:
    """The home page: cases, what waits for the customer, journeys, promises, help."""
    journeys = journeys_for_customer(customer=customer, limit=JOURNEYS_ON_HOME)
    return {
        "cases": portal_cases(customer),
        "journeys": journeys,
        "todo": steps_waiting_for(journeys=journeys),
        "promises": promises_for_customer(customer=customer, limit=PROMISES_ON_HOME),
        "articles": articles_public(limit=HELP_ON_HOME),
        "now": now,
    }


def portal_case(case: Case, *, now: datetime) -> dict[str, Any]:
    """A case page: the conversation, and the journeys and promises that belong to the case."""
    messages = (
        Interaction.objects.filter(case=case, direction__in=CONVERSATION_DIRECTIONS)
        .exclude(channel__in=HIDDEN_CHANNELS)
        .order_by("occurred_at", "id")
    )
    journeys = journeys_for_customer(customer=case.customer, case=case)
    promises = promises_for_customer(customer=case.customer, case=case)
    return {
        "case": case,
        "messages": list(messages[:200]),
        "journeys": journeys,
        "promises": promises,
        "now": now,
    }


def portal_step(step: JourneyStep) -> dict[str, Any]:
    """A step page, as the customer may see it: a team's step shows its title, state and
    team only — its instructions and data are for the teams."""
    journey = step.journey
    mine = step.customer_performs
    return {
        "step": step,
        "journey_name": journey.name,
        "case_ref": journey.case.ref,
        "owner": "you" if mine else (step.team.name if step.team is not None else ""),
        "instructions": step.instructions if mine else "",
        "data": dict(step.data or {}) if mine else {},
        "can_act": mine and step.state == StepState.OPEN and journey.state == JourneyState.ACTIVE,
        "action": step.customer_action if mine else "",
    }
