"""Panels that apps above the scorecards add to the scorecard page.

The scorecards cannot import the apps built on them (training, responders, ...), so those
apps register a panel here from their ``AppConfig.ready``. A panel is a function of the
viewer and the scorecards on the page that returns the template and context to include, or
None when it has nothing to show this viewer; the page renders the panels in the order they
were registered, after the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lastmile.scorecards.selectors import Scorecards


@dataclass(frozen=True)
class Panel:
    template: str
    context: dict[str, Any] = field(default_factory=dict)


PanelFunction = Callable[[Any, Scorecards], Panel | None]

_PANELS: dict[str, PanelFunction] = {}


def panel_register(name: str, function: PanelFunction) -> None:
    """Add (or, under the same name, replace) a panel of the scorecard page."""
    _PANELS[name] = function


def panels_for(viewer: Any, cards: Scorecards) -> list[Panel]:
    """The registered panels that have something to show this viewer for these scorecards."""
    shown = []
    for function in _PANELS.values():
        panel = function(viewer, cards)
        if panel is not None:
            shown.append(panel)
    return shown
