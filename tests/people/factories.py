"""Factories of the people app's rows: teams, users, agents and team leads."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from lastmile.people.models import Agent, Team


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
