"""Factories of the feedback app's rows, and a customer with an email address."""

from __future__ import annotations

from datetime import UTC, datetime

import factory

from lastmile.feedback.models import ReasonTag, Survey
from tests.customers.factories import CustomerFactory, IdentityFactory
from tests.people.factories import TeamFactory

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    name = factory.Sequence(lambda n: f"Survey {n}")
    kind = "nps"
    team = factory.SubFactory(TeamFactory)
    trigger = "manual"
    channel = "email"
    created_at = T0
    updated_at = T0


class ReasonTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReasonTag

    name = factory.Sequence(lambda n: f"Reason {n}")


def reachable_customer(**kw):  # type: ignore[no-untyped-def]
    """A customer with one email address."""
    customer = CustomerFactory(**kw)
    IdentityFactory(customer=customer, kind="email", value=f"c{customer.pk}@example.com")
    return customer
