"""How working together hears the apps below it (``LiveConfig.ready`` subscribes these;
``lastmile.core.events`` explains events):

- ``interaction.recorded`` (customers, internal): the @mentions of a note notify the agents
  they name, :func:`lastmile.live.services.mentions_record`.
- ``case.assigned`` (cases, internal): the new assignee is told.
- ``loop.breached`` (loops): whoever answers for the loop is told.
- ``loop.escalated`` (loops): the person the sweeper's rung names is told: the loop's owner,
  the team's lead, or the lead it was given to.

Loops tells no event when a person reassigns a loop (``loop_reassign``), so that tells
nobody here; a case given to a person does (``case.assigned``).

Each runs in the transaction of the change it hears of.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lastmile.live.services import (
    mentions_record,
    notify_assignment,
    notify_breaches,
    notify_escalations,
)


def on_interactions_recorded(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    if events:
        mentions_record(interactions=[d["interaction"] for d, _ in events], now=events[0][1])


def on_interaction_recorded(name: str, data: dict[str, Any], at: datetime) -> None:
    on_interactions_recorded(name, [(data, at)])


def on_case_assigned(name: str, data: dict[str, Any], at: datetime) -> None:
    notify_assignment(
        case=data["case"], assignee=data.get("assignee"), actor=data.get("actor"), now=at
    )


def on_loops_breached(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    notify_breaches(events=events)


def on_loop_breached(name: str, data: dict[str, Any], at: datetime) -> None:
    notify_breaches(events=[(data, at)])


def on_loops_escalated(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    notify_escalations(events=events)


def on_loop_escalated(name: str, data: dict[str, Any], at: datetime) -> None:
    notify_escalations(events=[(data, at)])
