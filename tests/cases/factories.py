"""Factories of the cases app's rows."""

from __future__ import annotations

import factory

from lastmile.cases.models import Case
from tests.customers.factories import T0, CustomerFactory
from tests.people.factories import TeamFactory


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    number = factory.Sequence(lambda n: 5000 + n)
    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Case subject {n}")
    team = factory.SubFactory(TeamFactory)
    created_at = T0
    updated_at = T0
