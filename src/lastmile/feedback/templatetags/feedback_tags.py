"""The surveys panel the console's customer page includes (one line:
``{% include "feedback/_customer_include.html" %}``).

The console does not know about feedback, so the tag reads the customer's invites through
``feedback.selectors.invites_of_customer``: the surveys the viewer's teams own (admins: all),
newest first, each with its state, the contact rule's reason when it was suppressed, its
reminder, and the answer.
"""

from __future__ import annotations

from typing import Any

from django import template

from lastmile.feedback.selectors import invites_of_customer
from lastmile.people.selectors import visible_team_ids

register = template.Library()

INVITES_SHOWN = 10


@register.inclusion_tag("feedback/_customer_surveys.html", takes_context=True)
def survey_customer_panel(context: template.Context) -> dict[str, Any]:
    """The customer's last survey invites: asked, suppressed (with the rule's reason),
    reminded, answered (with the score)."""
    customer = context["customer"]
    request = context["request"]
    invites = invites_of_customer(customer=customer, viewer=request.user, limit=INVITES_SHOWN)
    return {
        "customer": customer,
        "invites": invites,
        "scoped": visible_team_ids(request.user) is not None,
    }
