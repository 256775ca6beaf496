"""The journey panel of the case page (included by console/case.html)."""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.core.clock import utcnow
from lastmile.journeys.selectors import case_journey_panel

register = template.Library()


@register.inclusion_tag("journeys/_panel.html", takes_context=True)
def journey_panel(context: template.Context, case: Any) -> dict[str, Any]:
    request = context["request"]
    now = context.get("now") or utcnow()
    # The console's page context already knows the viewer's teams (one query saved).
    mine = context.get("my_teams")
    known = {} if mine is None else {"team_ids": None if mine.every else {t.pk for t in mine}}
    return {
        "case": case,
        "now": now,
        "request": request,
        "panel": case_journey_panel(case=case, viewer=request.user, now=now, **known),
    }
