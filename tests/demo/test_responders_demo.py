"""The guarded responders' part of the demo: Jordan from the stores, enrolled by Social care,
with one reply to a mention approved and sent and one held for Marcus's approval."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth import authenticate
from django.db import transaction
from django.test import override_settings

from lastmile.customers.models import Interaction
from lastmile.demo import seed as demo_seed
from lastmile.demo.extensions import listening, responders, scorecards
from lastmile.listening.models import Mention
from lastmile.people.models import Agent
from lastmile.responders.models import Enrolment, ResponderEvent, ResponderReply
from lastmile.responders.selectors import replies_held_for

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A small demo with listening's brand terms, the scorecards' rollups and then the
    responders' part (its place in the demo), rolled back after."""
    with django_db_blocker.unblock(), transaction.atomic():
        saved = list(demo_seed.DEMO_EXTENSIONS)
        demo_seed.DEMO_EXTENSIONS[:] = [listening, scorecards, responders]
        try:
            with override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
            ):
                out: list[str] = []
                report = demo_seed.seed_demo(
                    seed=7, customers=8, now=NOW, out=out.append, funnel_events=0
                )
                login = authenticate(username="store", password="demo")
        finally:
            demo_seed.DEMO_EXTENSIONS[:] = saved
        yield SimpleNamespace(report=report, out=out, login=login)
        transaction.set_rollback(True)


def test_jordan_from_the_stores_is_enrolled_by_social_care(demo):
    e = Enrolment.objects.select_related("user", "team").get()
    assert (e.user.username, e.team.slug, e.networks) == ("store", "social", ["twitter"])
    assert [t.slug for t in Agent.objects.get(user=e.user).teams.all()] == ["stores"]
    assert e.macros.count() == 2 and e.approvals_needed == 5
    assert demo.login == e.user  # the README's login works


def test_one_reply_was_approved_and_sent_and_one_waits_for_the_lead(demo):
    sent, held = ResponderReply.objects.order_by("created_at")
    assert sent.state == "sent" and sent.decided_by.username == "social-lead"
    reply = Interaction.objects.get(pk=sent.interaction_id)
    assert reply.actor.username == "store" and reply.channel == "social:twitter"
    assert Mention.objects.get(pk=sent.mention_id).replied_at is not None
    # on Social care's case of the conversation
    assert sent.case.team.slug == "social"
    assert held.state == "held" and held.hold == ["first_replies"]
    lead = held.enrolment.team.lead
    assert list(replies_held_for(viewer=lead)) == [held]
    kinds = list(ResponderEvent.objects.order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["enrolled", "held", "approved", "sent", "held"]
    assert any(line.startswith("responders: Jordan Lee (login store)") for line in demo.out)


def test_the_stores_team_has_its_weeks_on_the_dashboard_too(demo):
    from lastmile.people.models import Team
    from lastmile.scorecards.models import TeamWeekRollup

    # the scorecards' extension built the rollups before the Stores team existed
    assert TeamWeekRollup.objects.count() == 13 * Team.objects.count()
    assert TeamWeekRollup.objects.filter(team__slug="stores").count() == 13
