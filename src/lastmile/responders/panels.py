"""The responders' panel on the scorecard page (``scorecards.panels``)."""

from __future__ import annotations

from typing import Any

from lastmile.responders.selectors import responder_cards
from lastmile.scorecards.panels import Panel
from lastmile.scorecards.selectors import Scorecards


def responders_panel(viewer: Any, cards: Scorecards) -> Panel | None:
    """Each responder the viewer may see (own, led, all) with the period's figures; nothing
    when there is none."""
    rows = responder_cards(viewer=viewer, start=cards.period.start, end=cards.period.end)
    if not rows:
        return None
    return Panel("responders/_panel.html", {"cards": rows, "period": cards.period.key})
