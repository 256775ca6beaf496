"""Recovery's fixtures: a shop's events through the real Segment ingest path, the analytics
copy in a temporary directory, a checkout funnel and its recovery rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.customers.models import Customer
from lastmile.funnels import funnel_services
from lastmile.recovery.services import rule_save

CHECKOUT = {
    "mode": "ordered",
    "window_seconds": 86400,
    "steps": [
        {"event": "Product Added"},
        {"event": "Checkout Started"},
        {"event": "Order Completed"},
    ],
}


_n = iter(range(10**6))


def track(event, *, user="u1", at, **properties):
    return {
        "type": "track",
        "event": event,
        "messageId": f"m{next(_n)}",
        "userId": user,
        "timestamp": at.isoformat(),
        "properties": properties,
    }


def identify(*, user="u1", email, name, at):
    return {
        "type": "identify",
        "messageId": f"m{next(_n)}",
        "userId": user,
        "timestamp": at.isoformat(),
        "traits": {"email": email, "name": name},
    }


CART = {
    "items": [
        {"name": "Trail shoes", "quantity": 1, "price": 89.5},
        {"name": "Socks", "quantity": 2, "price": 20},
    ],
    "value": 129.5,
    "currency": "eur",
}


@pytest.fixture
def funnel(team, now):
    return funnel_services.funnel_create(
        name="Checkout", definition=CHECKOUT, team=team, actor=None, now=now - timedelta(days=30)
    )


@pytest.fixture
def rule(funnel, team, now):
    return rule_save(
        name="Abandoned carts",
        funnel=funnel,
        abandon_step=2,
        abandon_after_seconds=3600,
        window_seconds=3 * 86400,
        team=team,
        sla_seconds=4 * 3600,
        outreach="message",
        channel="email",
        subject="Your cart is waiting, {{customer.first_name}}",
        body="Hello {{customer.first_name}}, your {{items}} ({{value}} {{currency}}) are still here.",
        now=now - timedelta(days=30),
    )


@pytest.fixture
def abandoned(send, now):
    """Maya added shoes and started the checkout two hours ago, then stopped."""

    def abandoned(user="u1", email="maya@example.com", name="Maya Lind", hours=2):
        at = now - timedelta(hours=hours)
        ids = send(
            identify(user=user, email=email, name=name, at=at - timedelta(minutes=10)),
            track("Product Added", user=user, at=at - timedelta(minutes=5)),
            track("Checkout Started", user=user, at=at, **CART),
            at=at,
        )
        # The Segment API does not name customers from traits; the console would.
        Customer.objects.filter(interactions__pk=ids[-1]).update(display_name=name)
        return ids

    return abandoned
