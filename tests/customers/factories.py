"""Factories of the customers app's rows: customers and their identities."""

from __future__ import annotations

from datetime import UTC, datetime

import factory

from lastmile.customers.models import Customer, Identity

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    display_name = factory.Sequence(lambda n: f"Customer {n}")
    created_at = T0


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    customer = factory.SubFactory(CustomerFactory)
    kind = "email"
    network = ""
    value = factory.Sequence(lambda n: f"person{n}@example.com")
    created_at = T0
