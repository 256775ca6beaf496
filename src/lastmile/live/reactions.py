"""How working together hears the apps below it (``LiveConfig.ready`` subscribes these;
``lastmile.core.events`` explains events):

- ``interaction.recorded`` (customers, internal): the @mentions of a note notify the agents
  they name, :func:`lastmile.live.services.mentions_record`.
- ``case.assigned`` (cases, internal): the new assignee is told.
- ``loop.breached`` (loops): whoever answers for the loop is told.
- ``loop.escalated`` (loops): the person the sweeper's rung names is told: the loop's owner,
  the team's lead, or the lead it was given to.

- ``loop.assigned`` (loops, internal): a person gave a loop to another agent or team
  (``loop_reassign``, from the console, the admin or the API); the new assignee is told,
  unless they took it themselves. A loop moved to a team with nobody named tells nobody
  (the team finds it in its inbox).

Each runs in the transaction of the change it hears of.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lastmile.live.services import (
    LoopNews,
    mentions_record,
    notify_assignment,
    notify_breaches,
    notify_escalations,
    notify_loops,
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


def on_loop_assigned(name: str, data: dict[str, Any], at: datetime) -> None:
    assignee = data.get("assignee")
    before = data.get("before") or {}
    if assignee is None or assignee == data.get("actor") or assignee == before.get("assignee"):
        return
    notify_loops(news=[LoopNews(data, at, "assigned", assignee)])
