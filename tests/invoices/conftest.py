"""Invoices' fixtures: a customer with an email address and a case of theirs, and lines."""

from __future__ import annotations

import pytest

from lastmile.invoices.services import LineIn
from tests.cases.factories import customer_case


@pytest.fixture
def zoe_case(team, now):
    return customer_case(
        team=team,
        name="Zoë Faure",
        email="zoe@example.com",
        subject="Delivery of a washing machine",
        channel="email",
        now=now,
    )


@pytest.fixture
def zoe(zoe_case):
    return zoe_case.customer


def lines(*pairs, currency="GBP"):
    """``(quantity, unit_price)`` pairs as lines."""
    return [
        LineIn(sku=f"SKU-{i}", description=f"Item {i}", quantity=q, unit_price=p, currency=currency)
        for i, (q, p) in enumerate(pairs, start=1)
    ]
