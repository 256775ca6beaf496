"""Markdown for article pages, and the case page's "suggested articles" panel."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from lastmile.knowledge.rendering import markdown_html
from lastmile.knowledge.selectors import articles_suggest_for_case

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown rendered and sanitised (see knowledge.rendering)."""
    return markdown_html(text)


@register.inclusion_tag("knowledge/_suggestions.html", takes_context=True)
def suggested_articles(context: template.Context, case: Any, limit: int = 5) -> dict[str, Any]:
    # The case page has the thread already; elsewhere the selector reads it.
    thread = context.get("thread")
    hits = articles_suggest_for_case(
        case, limit=limit, thread=list(thread) if thread is not None else None
    )
    return {"case": case, "hits": hits}
