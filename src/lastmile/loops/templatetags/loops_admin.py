"""Admin template tags of the loops app."""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.loops.selectors import loops_visible, loops_without_policy

register = template.Library()


@register.simple_tag(takes_context=True)
def sla_gap_count(context: dict[str, Any]) -> int:
    """How many open loops the viewer can see have no deadline because no policy matches."""
    return loops_without_policy(loops_visible(viewer=context["request"].user)).count()
