"""The scorecards' part of the demo: the QA first pass over the demo's closed conversations
and the dashboard's weekly rollups over the history the other extensions wrote, so
``/scorecards/``, ``/scorecards/qa/`` and ``/scorecards/dashboard/`` have figures at once
(the worker keeps them current after that)."""

from __future__ import annotations

from typing import Any

from lastmile.scorecards.rollups import rollups_rebuild
from lastmile.scorecards.services import qa_autoreview_pending

WEEKS = 13


def seed(seeder: Any) -> list[str]:
    now = seeder.now
    reviewed = 0
    while batch := qa_autoreview_pending(now=now):
        reviewed += batch
    rows = rollups_rebuild(weeks=WEEKS, now=now)
    return [
        f"scorecards: {reviewed} closed conversations reviewed by the QA first pass; "
        f"{rows} weekly team rollups over {WEEKS} weeks (/scorecards/dashboard/)"
    ]
