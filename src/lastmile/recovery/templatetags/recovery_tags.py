"""The recoveries panel the console's customer page includes (one line:
``{% include "recovery/_customer_include.html" %}``).

The console does not know about recovery, so the tag builds its own context through
``recovery.selectors.customer_recoveries``: the customer's recoveries the viewer's teams own
(admins: all), open ones first, each with its rule and funnel, the cart or application, the
outcome and a link to the recovery's loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template

from lastmile.core.clock import utcnow
from lastmile.people.selectors import visible_team_ids
from lastmile.recovery.models import Recovery
from lastmile.recovery.selectors import customer_recoveries

register = template.Library()

ITEMS_SHOWN = 5


def amount(value: Decimal | None, currency: str) -> str:
    """``129.50 EUR``, thousands separated; "" for no amount."""
    if value is None:
        return ""
    return f"{value.quantize(Decimal('0.01')):,} {currency}".strip()


def item_lines(items: list[Any]) -> list[str]:
    """Each cart line or application product as a person reads it: ``2 × Socks``."""
    out = []
    for it in items:
        if isinstance(it, dict):
            name = it.get("name") or it.get("title") or it.get("sku") or it.get("product_id")
            if name is None:
                continue
            qty = it.get("quantity")
            line = f"{qty} × {name}" if isinstance(qty, int) and qty > 1 else str(name)
            ref = it.get("reference")
            out.append(f"{line} ({ref})" if ref is not None else line)
        elif isinstance(it, str | int | float):
            out.append(str(it))
    return out


@dataclass
class RecoveryRow:
    """One recovery as the panel shows it."""

    recovery: Recovery
    lines: list[str]
    more: int  # lines past ITEMS_SHOWN
    value: str
    revenue: str
    overdue: bool  # open, and its loop's deadline has passed

    @property
    def outreach_said(self) -> str:
        """How the team reaches out: "a call", "an email", "a text message"."""
        r = self.recovery
        if r.outreach == "call":
            return "a call"
        return "a text message" if r.outreach_label.startswith("sms:") else "an email"


def rows_for(recoveries: list[Recovery], *, now: datetime) -> list[RecoveryRow]:
    rows = []
    for r in recoveries:
        lines = item_lines(r.items or [])
        due = r.loop.due_at
        rows.append(
            RecoveryRow(
                recovery=r,
                lines=lines[:ITEMS_SHOWN],
                more=max(0, len(lines) - ITEMS_SHOWN),
                value=amount(r.value, r.currency),
                revenue=amount(r.revenue, r.revenue_currency),
                overdue=r.outcome == "open" and due is not None and due <= now,
            )
        )
    return rows


@register.inclusion_tag("recovery/_customer_recoveries.html", takes_context=True)
def recovery_customer_panel(context: template.Context) -> dict[str, Any]:
    """The customer's recoveries the viewer may see: open (with the loop's deadline and the
    window's end), recovered (with the revenue) and lost."""
    customer = context["customer"]
    request = context["request"]
    now = context.get("now") or utcnow()
    found = customer_recoveries(customer=customer, viewer=request.user)
    return {
        "customer": customer,
        "now": now,
        "rows": rows_for(found, now=now),
        "scoped": visible_team_ids(request.user) is not None,
    }
