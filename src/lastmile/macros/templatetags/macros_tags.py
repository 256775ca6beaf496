"""What the composer offers to insert: the viewer's macros, each already filled for this case,
and the knowledge articles suggested for it (their text, or their portal link if public)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from lastmile.core.clock import utcnow
from lastmile.knowledge.selectors import articles_suggest_for_case
from lastmile.macros.placeholders import placeholders_fill
from lastmile.macros.selectors import macros_for
from lastmile.macros.services import macro_values

register = template.Library()


def _manage_url() -> str:
    """Where the agent writes their macros ("My macros"), or "" while lastmile.urls does
    not mount the macros pages (then the picker simply offers no link)."""
    try:
        return reverse("macros:list")
    except NoReverseMatch:
        return ""


@register.inclusion_tag("macros/_picker.html", takes_context=True)
def macro_picker(context: template.Context, case: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"macros": []}
    now = context.get("now") or utcnow()
    macros = macros_for(viewer=user)
    if not macros:
        return {"macros": [], "manage_url": _manage_url()}
    values = macro_values(case=case, agent=user, now=now)
    rows = [(m, placeholders_fill(m.body, values)) for m in macros]
    return {"macros": rows, "case": case, "manage_url": _manage_url()}


@register.inclusion_tag("macros/_articles.html", takes_context=True)
def articles_to_insert(context: template.Context, case: Any, limit: int = 5) -> dict[str, Any]:
    """The suggested articles of the case page, each with the text and link to insert."""
    thread = context.get("thread")
    hits = articles_suggest_for_case(
        case, limit=limit, thread=list(thread) if thread is not None else None
    )
    base = settings.LASTMILE_PUBLIC_URL.rstrip("/")
    rows = [
        (
            h,
            f"{base}{reverse('portal:article', args=[h.article.slug])}" if h.article.public else "",
        )
        for h in hits
    ]
    return {"case": case, "rows": rows}
