"""The composer's macro picker: the viewer's macros, each already filled for this case."""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.core.clock import utcnow
from lastmile.macros.placeholders import placeholders_fill
from lastmile.macros.selectors import macros_for
from lastmile.macros.services import macro_values

register = template.Library()


@register.inclusion_tag("macros/_picker.html", takes_context=True)
def macro_picker(context: template.Context, case: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"macros": []}
    now = context.get("now") or utcnow()
    macros = macros_for(viewer=user)
    if not macros:
        return {"macros": []}
    values = macro_values(case=case, agent=user, now=now)
    rows = [(m, placeholders_fill(m.body, values)) for m in macros]
    return {"macros": rows, "case": case}
