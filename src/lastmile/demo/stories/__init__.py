"""The stories that make the demo plan, one module each; ``build_plan`` runs them in order."""

from __future__ import annotations

from datetime import UTC, datetime

from lastmile.demo.builder import Builder
from lastmile.demo.plan import Plan
from lastmile.demo.stories import background, bank, hotel, rant, visit


def build_plan(*, seed: int, customers: int, now: datetime) -> Plan:
    """The whole demo for ``customers`` background customers (plus the four stories' people).

    The stories run in this order and draw from one random generator: the order is part of
    the plan.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    b = Builder(seed=seed, now=now)
    bank.plan(b)
    rant.plan(b)
    hotel.plan(b)
    visit.plan(b)
    background.plan(b, max(0, customers))
    return b.finish()
