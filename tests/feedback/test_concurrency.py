"""Invites to one customer made at the same instant on PostgreSQL: the contact budget is
counted once (the outbox's per-customer lock), so only one goes out."""

from __future__ import annotations

import threading
from importlib import import_module

import pytest
from django.db import connections

from lastmile.channels.models import ContactRule
from lastmile.feedback.models import Invite
from lastmile.feedback.services import invite_create
from tests.feedback.factories import SurveyFactory, reachable_customer
from tests.people.factories import TeamFactory


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_four_invites_at_once_leave_one_queued_and_three_suppressed(now):
    # A transactional test runs on tables another one may have emptied (the flush): the
    # survey rule as its migration seeds it.
    seeded = import_module("lastmile.channels.migrations.0004_contact_rules_seed")
    (spec,) = [r for r in seeded.RULES if r["purpose"] == "survey"]
    ContactRule.objects.update_or_create(
        purpose="survey", defaults={k: v for k, v in spec.items() if k != "purpose"}
    )
    team = TeamFactory(slug="front")
    surveys = [SurveyFactory(team=team) for _ in range(4)]
    customer = reachable_customer()
    start = threading.Barrier(len(surveys))
    errors: list[Exception] = []

    def ask(survey):  # type: ignore[no-untyped-def]
        try:
            start.wait()
            invite_create(survey=survey, customer=customer, channel="email", now=now)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask, args=(s,)) for s in surveys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == [] and not any(t.is_alive() for t in threads)
    states = sorted(Invite.objects.values_list("state", flat=True))
    assert states == ["queued", "suppressed", "suppressed", "suppressed"]
