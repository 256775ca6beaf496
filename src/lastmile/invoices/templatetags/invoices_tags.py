"""The billing panel of the case page (``invoices/_case_billing.html``, which the console's
case page includes): the case's jobs and invoices, read by ``selectors.case_billing``."""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.invoices.selectors import case_billing

register = template.Library()


@register.inclusion_tag("invoices/_case_billing_panel.html", takes_context=True)
def case_billing_panel(context: template.Context, case: Any) -> dict[str, Any]:
    request = context["request"]
    return {
        "case": case,
        "billing": case_billing(case=case, viewer=request.user),
        "request": request,
    }
