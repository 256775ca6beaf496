"""What every console page shares: the layout's context and a form's errors in one line.

The console, crisis, listening, promises and knowledge pages all use these, so a page looks
and reports the same whichever app draws it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest

from lastmile.console.selectors import teams_of


def page_chrome(request: HttpRequest, now: datetime) -> dict[str, Any]:
    """What the layout needs on every page: who I am and my teams."""
    return {"now": now, "my_teams": teams_of(request.user)}


def form_errors(form: Any) -> str:
    """A bound form's errors as one sentence: ``label: message; label: message``.

    A field without a label is named by its name; errors not tied to a field stand alone.
    """
    parts = []
    for field, errors in form.errors.items():
        label = (
            (form.fields[field].label or field.replace("_", " ")) if field in form.fields else ""
        )
        parts.append(f"{str(label).lower() + ': ' if label else ''}{' '.join(errors)}")
    return "; ".join(parts)
