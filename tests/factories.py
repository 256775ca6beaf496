from __future__ import annotations

from datetime import UTC, datetime

import factory
from django.contrib.auth import get_user_model

from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Identity
from lastmile.people.models import Agent, Team

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    email = factory.LazyAttribute(lambda t: f"{t.slug}@example.com")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"agent{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    role = "agent"

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted:
            self.teams.set(extracted)


def team_lead(team, username, *, first_name="", last_name="", limits=None):  # type: ignore[no-untyped-def]
    """A new agent with the lead role who leads ``team``, with authority ``limits``."""
    user = AgentFactory(
        user__username=username,
        user__first_name=first_name,
        user__last_name=last_name,
        role="lead",
        teams=[team],
        authority={"limits": limits or {}},
    ).user
    team.lead = user
    team.save()
    return user


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


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    number = factory.Sequence(lambda n: 5000 + n)
    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Case subject {n}")
    team = factory.SubFactory(TeamFactory)
    created_at = T0
    updated_at = T0
