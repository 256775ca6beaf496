"""Words the customer reads for internal states."""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.portal.selectors import customer_title

register = template.Library()

STEP_WORDS = {
    "pending": "Not started",
    "open": "In progress",
    "done": "Done",
    "cancelled": "Cancelled",
}
JOURNEY_WORDS = {"active": "In progress", "completed": "Completed", "cancelled": "Cancelled"}
ACTION_WORDS = {"upload": "Upload a document", "choose_slot": "Choose a time", "confirm": "Confirm"}


@register.filter
def step_word(state: str) -> str:
    return STEP_WORDS.get(state, state.capitalize())


@register.filter
def journey_word(state: str) -> str:
    return JOURNEY_WORDS.get(state, state.capitalize())


@register.filter
def action_word(action: str) -> str:
    return ACTION_WORDS.get(action, "Open")


@register.filter
def case_title(case: Any) -> str:
    """The case's title as its customer reads it (never its internal subject)."""
    return customer_title(case)
