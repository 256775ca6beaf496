"""Rows for the scorecards' and rollups' newer figures, written straight to the tables (the
services that write them are tested in their own apps): recoveries with their revenue,
solved cases with replies and reopenings, listening alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from lastmile.cases.models import Case, CaseEvent
from lastmile.customers.models import Interaction
from lastmile.funnels import funnel_services
from lastmile.loops.models import Loop
from lastmile.recovery.models import Recovery, RecoveryRule

_n = count(1)

CHECKOUT = {
    "mode": "ordered",
    "window_seconds": 86400,
    "steps": [{"event": "Product Added"}, {"event": "Checkout Started"}],
}


def recovery_rule(team: Any, now: datetime) -> RecoveryRule:
    funnel = funnel_services.funnel_create(
        name=f"Checkout {next(_n)}", definition=CHECKOUT, team=team, actor=None, now=now
    )
    return RecoveryRule.objects.create(
        name=f"Carts {next(_n)}",
        funnel=funnel,
        abandon_step=1,
        abandon_after_seconds=3600,
        window_seconds=86400,
        team=team,
        outreach="call",
        created_at=now,
        updated_at=now,
    )


def recovery(
    rule: RecoveryRule,
    loop: Loop,
    *,
    outcome: str,
    closed_at: datetime | None,
    revenue: str | None = None,
    currency: str = "",
) -> Recovery:
    """A recovery of ``loop`` (a recovery loop with a customer) ending as ``outcome``."""
    assert loop.customer_id is not None
    return Recovery.objects.create(
        rule=rule,
        customer_id=loop.customer_id,
        loop=loop,
        abandon_event_id=next(_n),
        abandoned_at=loop.opened_at - timedelta(hours=1),
        outreach="call",
        outreach_label="call",
        outcome=outcome,
        opened_at=loop.opened_at,
        ends_at=loop.opened_at + timedelta(days=1),
        closed_at=closed_at,
        revenue=None if revenue is None else Decimal(revenue),
        revenue_currency=currency,
    )


def reply(case: Case, at: datetime, actor: Any, *, direction: str = "outbound") -> Interaction:
    """A message on ``case``: an agent's reply (``actor`` set) or an automatic one."""
    return Interaction.objects.create(
        customer=case.customer,
        case=case,
        channel="email",
        direction=direction,
        occurred_at=at,
        recorded_at=at,
        actor=actor,
        body="reply",
    )


def reopened(case: Case, at: datetime) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, kind="status", at=at, data={"from": "solved", "to": "open"}
    )
