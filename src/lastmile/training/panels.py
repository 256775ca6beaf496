"""The practice panel of the scorecard page: for the agents on the page, their onboarding
path's progress (steps done of the steps of their teams' paths) and their practice QA
scores, the mean of each week's scored attempts over the weeks up to the period's end."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from lastmile.scorecards.panels import Panel
from lastmile.scorecards.selectors import Scorecards
from lastmile.training.selectors import TREND_WEEKS, progress_of

TEMPLATE = "training/_scorecard_panel.html"


def scorecard_panel(viewer: Any, cards: Scorecards) -> Panel | None:
    """None when no agent on the page has a path step or a scored practice attempt. The
    scorecards chose the agents by the viewer's scope; this shows only those agents."""
    names = [c.key for c in cards.agents]
    if not names:
        return None
    users = dict(get_user_model().objects.filter(username__in=names).values_list("username", "pk"))
    progress = progress_of(list(users.values()), until=cards.period.end)
    rows = []
    for card in cards.agents:
        p = progress.get(users.get(card.key, -1))
        if p is None or not (p.total or p.weeks):
            continue
        rows.append({"key": card.key, "name": card.name, "progress": p})
    if not rows:
        return None
    return Panel(TEMPLATE, {"rows": rows, "weeks": TREND_WEEKS, "period": cards.period})
