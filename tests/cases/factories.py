"""Factories of the cases app's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


def customer_case(
    *,
    team: Any,
    name: str,
    email: str,
    subject: str,
    channel: str,
    now: datetime,
    wrote: str = "",
) -> Case:
    """A customer (by email) and a case of theirs, through the services (so loops and events
    follow as for real traffic); with ``wrote``, their first message on it, which opens the
    case's reply loop."""
    from lastmile.cases.services import case_create
    from lastmile.customers.identities import identity_normalize
    from lastmile.customers.services.customers import customer_resolve
    from lastmile.customers.services.timeline import interaction_record

    customer = customer_resolve(
        identities=[identity_normalize("email", email)], display_name=name, now=now
    ).customer
    case = case_create(customer=customer, subject=subject, team=team, channel=channel, now=now)
    if wrote:
        interaction_record(
            customer=customer,
            case=case,
            channel=channel,
            direction="inbound",
            occurred_at=now,
            now=now,
            body=wrote,
        )
    return case
