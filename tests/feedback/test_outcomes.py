"""A detractor's recovery loop closes with an outcome and may ask the customer again, under
the one contact budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.core.errors import Conflict, InvalidInput
from lastmile.feedback.models import Invite, Response
from lastmile.feedback.services import invite_create, recovery_close, response_record
from lastmile.loops.models import LoopEvent
from lastmile.people.selectors import agent_for
from tests.api.client import Api
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def agent_api(client, user, now):  # type: ignore[no-untyped-def]
    return Api(client, token_create(name=user.username, now=now, agent=agent_for(user))[1])


@pytest.fixture
def detractor(survey, asked, now):  # type: ignore[no-untyped-def]
    """An NPS 3 given by email an hour after the invite: its recovery loop is open."""
    invite, _ = invite_create(survey=survey, customer=asked, channel="email", now=now)
    response = response_record(invite=invite, score=3, now=now + timedelta(hours=1))
    assert response.recovery_loop.state == "open"
    return response


def test_the_loop_closes_with_its_outcome_in_its_trail_and_on_the_response(detractor, alice, now):
    later = now + timedelta(days=1)

    response, invite, _ = recovery_close(
        response=detractor, outcome="refunded", note="Refunded the fee.", actor=alice, now=later
    )

    assert invite is None
    loop = response.recovery_loop
    loop.refresh_from_db()
    assert (loop.state, loop.closed_at) == ("closed", later)
    event = LoopEvent.objects.get(loop=loop, kind="closed")
    assert (event.reason, event.actor) == ("Outcome: refunded. Refunded the fee.", alice)
    stored = Response.objects.get(pk=detractor.pk)
    assert (stored.recovery_outcome, stored.recovery_note) == ("refunded", "Refunded the fee.")
    assert (stored.recovery_closed_at, stored.recovery_closed_by) == (later, alice)


def test_an_unknown_outcome_is_refused_and_the_loop_stays_open(detractor, alice, now):
    with pytest.raises(InvalidInput) as exc:
        recovery_close(response=detractor, outcome="apologised", actor=alice, now=now)

    assert exc.value.errors[0].field == "outcome"
    detractor.recovery_loop.refresh_from_db()
    assert detractor.recovery_loop.state == "open"
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == ""


def test_an_outcome_is_recorded_once(detractor, alice, now):
    recovery_close(response=detractor, outcome="fixed", actor=alice, now=now)

    with pytest.raises(Conflict):
        recovery_close(response=detractor, outcome="refunded", actor=alice, now=now)
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == "fixed"


def test_a_promoter_has_no_recovery_to_close(survey, asked, alice, now):
    invite, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)
    promoter = response_record(invite=invite, score=10, now=now)

    with pytest.raises(Conflict) as exc:
        recovery_close(response=promoter, outcome="fixed", actor=alice, now=now)
    assert exc.value.errors[0].field == "response"


def test_a_re_survey_within_the_week_is_suppressed_by_the_budget(detractor, alice, now):
    response, invite, token = recovery_close(
        response=detractor,
        outcome="called_back",
        resurvey=True,
        actor=alice,
        now=now + timedelta(days=2),
    )

    assert invite.state == "suppressed" and invite.rule_check == "max_per_period"
    assert response.resurvey == invite and invite.key == f"resurvey:{detractor.pk}"


def test_a_re_survey_after_the_week_asks_again_on_the_same_channel(detractor, alice, now):
    response, invite, token = recovery_close(
        response=detractor,
        outcome="fixed",
        resurvey=True,
        actor=alice,
        now=now + timedelta(days=8),
    )

    assert (invite.state, invite.channel, invite.customer_id) == (
        "queued",
        "email",
        detractor.invite.customer_id,
    )
    assert token and Response.objects.get(pk=detractor.pk).resurvey_id == invite.pk


def test_a_re_survey_that_cannot_be_sent_refuses_the_whole(survey, alice, now):
    # Given a detractor who answered through a link and has no email address
    invite, _ = invite_create(survey=survey, customer=CustomerFactory(), channel="link", now=now)
    detractor = response_record(invite=invite, score=1, now=now)

    # When the agent closes it asking again by email
    with pytest.raises(InvalidInput) as exc:
        recovery_close(
            response=detractor,
            outcome="fixed",
            resurvey=True,
            channel="email",
            actor=alice,
            now=now + timedelta(days=8),
        )

    # Then nothing is written: the loop is open, no outcome, no new invite
    assert exc.value.errors[0].field == "channel"
    detractor.recovery_loop.refresh_from_db()
    assert detractor.recovery_loop.state == "open"
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == ""
    assert Invite.objects.count() == 1


# --- the API --------------------------------------------------------------------------------


def test_the_api_closes_the_recovery_with_its_outcome(client, detractor, alice, now):
    r = agent_api(client, alice, now).post(
        f"/responses/{detractor.pk}/recovery", {"outcome": "could_not_reach", "note": "3 tries"}
    )

    assert r.status_code == 200, r.content
    body = r.json()
    assert body["response"]["recovery_outcome"] == "could_not_reach"
    assert body["resurvey"] is None
    detractor.recovery_loop.refresh_from_db()
    assert detractor.recovery_loop.state == "closed"


@pytest.mark.usefixtures("frozen_clock")
def test_the_api_re_surveys_and_says_how_it_went(api, detractor):
    r = api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "fixed", "resurvey": True})

    assert r.status_code == 200, r.content
    asked = r.json()["resurvey"]
    assert asked["state"] == "suppressed" and asked["url"] is None and asked["reason"]
    assert r.json()["response"]["resurvey"] == asked["id"]


def test_an_unknown_outcome_is_a_422_naming_outcome(api, detractor):
    r = api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "apologised"})

    assert r.status_code == 422
    assert any("outcome" in str(e["field"]) for e in r.json()["errors"])
    detractor.recovery_loop.refresh_from_db()
    assert detractor.recovery_loop.state == "open"


def test_closing_twice_through_the_api_is_a_409(api, detractor):
    assert api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "fixed"}).status_code == 200

    r = api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "refunded"})

    assert r.status_code == 409
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == "fixed"


def test_an_outsider_gets_a_404_and_nothing_changes(client, detractor, charlie, now):
    r = agent_api(client, charlie, now).post(
        f"/responses/{detractor.pk}/recovery", {"outcome": "fixed"}
    )

    assert r.status_code == 404
    detractor.recovery_loop.refresh_from_db()
    assert detractor.recovery_loop.state == "open"
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == ""


def test_a_teammate_who_owns_the_loop_but_not_the_survey_may_close_it(
    client, detractor, charlie, now
):
    # The loop moved to the back office (the team that served the customer)
    from lastmile.loops.models import Loop

    Loop.objects.filter(pk=detractor.recovery_loop_id).update(team=charlie.agent.teams.first())

    r = agent_api(client, charlie, now).post(
        f"/responses/{detractor.pk}/recovery", {"outcome": "called_back"}
    )

    assert r.status_code == 200, r.content


def test_a_viewer_of_the_survey_who_cannot_see_the_loop_gets_a_404(
    client, detractor, alice, charlie, now
):
    """Alice sees the survey (her team's) but the loop moved to the back office: she may read
    the answer, not close another team's loop."""
    from lastmile.loops.models import Loop

    Loop.objects.filter(pk=detractor.recovery_loop_id).update(team=charlie.agent.teams.first())
    alice_api = agent_api(client, alice, now)
    assert alice_api.get("/responses").json()["count"] == 1  # she still sees the answer

    r = alice_api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "fixed"})

    assert r.status_code == 404
    detractor.recovery_loop.refresh_from_db()
    assert detractor.recovery_loop.state == "open"
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == ""


def test_a_loop_closed_elsewhere_still_takes_its_outcome_once(api, detractor, now):
    """The console's "Mark done" closes the loop without an outcome: the outcome can still be
    recorded afterwards (the loop is not closed again, its trail keeps the one close), with a
    re-survey only when asked; a second outcome is a 409 as always."""
    from lastmile.loops.services import loop_close

    loop_close(loop=detractor.recovery_loop, reason="done by phone", now=now)

    r = api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "fixed", "note": "by phone"})

    assert r.status_code == 200, r.content
    assert r.json()["response"]["recovery_outcome"] == "fixed"
    assert r.json()["resurvey"] is None
    stored = Response.objects.get(pk=detractor.pk)
    assert stored.recovery_outcome == "fixed" and stored.recovery_note == "by phone"
    assert Invite.objects.count() == 1  # no re-survey: none was asked for
    closes = LoopEvent.objects.filter(loop=detractor.recovery_loop, kind="closed")
    assert list(closes.values_list("reason", flat=True)) == ["done by phone"]

    again = api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "refunded"})
    assert again.status_code == 409
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == "fixed"


def test_a_cancelled_loop_takes_no_outcome(api, detractor, now):
    from lastmile.loops.services import loop_cancel

    loop_cancel(loop=detractor.recovery_loop, reason="sent in error", now=now)

    r = api.post(f"/responses/{detractor.pk}/recovery", {"outcome": "fixed", "resurvey": True})

    assert r.status_code == 409 and r.json()["code"] == "loop_not_open"
    assert "cancelled" in r.json()["detail"]
    assert Response.objects.get(pk=detractor.pk).recovery_outcome == ""
    assert Invite.objects.count() == 1  # no re-survey either
