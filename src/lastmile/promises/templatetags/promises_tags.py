"""The promise panels the console's case and customer pages include (one line each).

The console's views do not know about promises, so these tags build their own context
through the promises selectors: one query for the open promises (with makers, teams and
cases joined), one for the viewer's teams, and the form's choices on the case page.
"""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.core.clock import utcnow
from lastmile.promises.terms import terms_format

register = template.Library()


def _base(context: template.Context) -> dict[str, Any]:
    return {"csrf_token": context.get("csrf_token"), "messages": context.get("messages")}


@register.inclusion_tag("promises/_panel.html", takes_context=True)
def promise_case_panel(context: template.Context) -> dict[str, Any]:
    """Open promises to the case's customer, and the form to record one on this case."""
    from lastmile.promises.views import panel_context

    case = context["case"]
    request = context["request"]
    now = context.get("now") or utcnow()
    return {**_base(context), **panel_context(request, case=case, customer=case.customer, now=now)}


@register.inclusion_tag("promises/_customer_promises.html", takes_context=True)
def promise_customer_panel(context: template.Context) -> dict[str, Any]:
    """Open promises to this customer, at the top of their page: who, when, on which channel."""
    from lastmile.promises.views import panel_context

    customer = context["customer"]
    request = context["request"]
    now = context.get("now") or utcnow()
    return {**_base(context), **panel_context(request, case=None, customer=customer, now=now)}


@register.filter
def terms_text(terms: dict[str, Any] | None) -> str:
    """The terms as an agent types them: adults=4, extra_beds=2, room_type=deluxe."""
    return terms_format(terms or {})


@register.filter
def term_items(terms: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(key, shown value) pairs, for chips."""
    out = []
    for key, value in (terms or {}).items():
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, float) and value.is_integer():
            shown = f"{value:.2f}"
        else:
            shown = str(value)
        out.append((key.replace("_", " "), shown))
    return out


@register.filter
def failing(verdicts: list[dict[str, Any]] | None, severity: str) -> list[dict[str, Any]]:
    return [
        v for v in verdicts or [] if v.get("severity") == severity and v.get("result") != "pass"
    ]
