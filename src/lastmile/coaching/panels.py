"""The coaching panel of the scorecard page: each agent's lessons, open and accepted."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from lastmile.coaching.selectors import lesson_counts
from lastmile.scorecards.panels import Panel
from lastmile.scorecards.selectors import Scorecards


def lessons_panel(viewer: Any, cards: Scorecards) -> Panel | None:
    """Lessons of the agents on the page (open now, waiting for the lead, accepted in the
    period); None when no agent is on it."""
    names = [card.key for card in cards.agents]
    if not names:
        return None
    users = dict(get_user_model().objects.filter(username__in=names).values_list("username", "pk"))
    counts = lesson_counts(
        viewer=viewer,
        agent_ids=users.values(),
        start=cards.period.start,
        end=cards.period.end,
    )
    rows = []
    for card in cards.agents:
        found = counts.get(users.get(card.key, -1))
        rows.append(
            {
                "name": card.name,
                "username": card.key,
                "open": found.open if found else 0,
                "submitted": found.submitted if found else 0,
                "accepted": found.accepted if found else 0,
            }
        )
    return Panel(template="coaching/_panel.html", context={"rows": rows, "period": cards.period})
