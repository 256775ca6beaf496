"""Template tags of working together: the case page's version stamp, a thread's mentions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from lastmile.live import selectors

register = template.Library()


@register.simple_tag
def live_case_version(case: Any) -> str:
    """The version stamp of the case as this page draws it (one query)."""
    return selectors.case_version_of(case=case)


@register.simple_tag
def live_mentions(thread: Iterable[Any]) -> dict[int, list[Any]]:
    """The mentions of the notes of ``thread``, by interaction id (one query)."""
    return selectors.mentions_of(
        interaction_ids=[i.pk for i in thread if getattr(i, "direction", "") == "note"]
    )


@register.filter
def live_get(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key, ()) if mapping else ()
