"""Macro text: ``{{customer.first_name}}`` and friends, filled from a fixed list of names.

Pure functions, no ORM and no template engine: an agent's text is never a template (it could
reach any attribute of any object), only text with a few known holes. ``{{ name }}`` with
spaces inside is the same hole; anything else between double braces is an unknown
placeholder, refused when the macro is saved. Values are plain text (the composer is a
textarea; the page escapes it when it shows it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# name → what it is, for the admin's help text and the error message.
PLACEHOLDERS: dict[str, str] = {
    "customer.first_name": "the customer's first name (their display name's first word)",
    "customer.name": "the customer's display name",
    "case.ref": "the case reference, LM-1042",
    "case.subject": "the case subject",
    "agent.name": "the agent sending (full name, else username)",
    "agent.first_name": "the agent's first name",
    "team.name": "the case's team",
    "loop.due": "when the case's open reply loop is due, in the customer's time zone",
    "today": "today's date, in the customer's time zone",
}


def placeholders_unknown(text: str) -> list[str]:
    """The placeholders in ``text`` that are not in :data:`PLACEHOLDERS`, in order, once."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(text or ""):
        name = match.group(1)
        if name not in PLACEHOLDERS and name not in seen:
            seen.append(name)
    return seen


def placeholders_fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each known placeholder replaced by its value ("" when it has none).

    One pass over the text: a value that itself looks like ``{{case.ref}}`` (a customer
    called that) is not filled again.

    >>> placeholders_fill("Hi {{ customer.first_name }}, see {{case.ref}}.",
    ...                   {"customer.first_name": "Maya", "case.ref": "LM-1"})
    'Hi Maya, see LM-1.'
    """

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            return match.group(0)
        return values.get(name, "")

    return PLACEHOLDER.sub(one, text or "")
