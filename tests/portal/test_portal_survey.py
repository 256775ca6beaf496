"""A pending survey on the customer's portal home page, answered from the portal: the
customer's own invites only, found by id (no token), recorded as the link's page records."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.channels.models import ContactRule
from lastmile.feedback.models import Invite, Response
from lastmile.feedback.services import invite_create, response_record
from tests.feedback.factories import SurveyFactory
from tests.portal.fixtures import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_clock")]


@pytest.fixture
def survey(team):  # type: ignore[no-untyped-def]
    return SurveyFactory(
        name="After a case",
        kind="nps",
        team=team,
        channel="portal",
        wording={"en": {"question": "Would you recommend Acme to a friend?"}},
    )


def ask(survey, customer, now, channel="portal"):  # type: ignore[no-untyped-def]
    invite, _ = invite_create(survey=survey, customer=customer, channel=channel, now=now)
    return invite


def test_the_home_page_shows_a_pending_survey_with_a_link_to_answer(client, survey, ann, now):
    invite = ask(survey, ann, now)
    signed_in(client, ann, now)

    home = client.get("/portal/")

    assert home.status_code == 200
    assert b"A question for you" in home.content
    assert b"Would you recommend Acme to a friend?" in home.content
    assert f'href="/portal/surveys/{invite.pk}/"'.encode() in home.content
    assert b"/feedback/r/" not in home.content  # no token on the page


def test_another_customers_survey_is_neither_shown_nor_answerable(client, survey, ann, ben, now):
    bens = ask(survey, ben, now)
    signed_in(client, ann, now)

    assert b"A question for you" not in client.get("/portal/").content
    assert client.get(f"/portal/surveys/{bens.pk}/").status_code == 404
    post = client.post(f"/portal/surveys/{bens.pk}/", {"score": "10"})

    assert post.status_code == 404
    assert not Response.objects.exists()
    assert Invite.objects.get(pk=bens.pk).state == "queued"


def test_a_survey_page_needs_a_portal_session(client, survey, ann, now):
    invite = ask(survey, ann, now)

    assert client.get(f"/portal/surveys/{invite.pk}/").status_code == 403
    assert client.post(f"/portal/surveys/{invite.pk}/", {"score": "3"}).status_code == 403
    assert not Response.objects.exists()


def test_the_customer_answers_in_the_portal_and_the_survey_leaves_the_home_page(
    client, survey, ann, now
):
    invite = ask(survey, ann, now)
    signed_in(client, ann, now)

    page = client.get(f"/portal/surveys/{invite.pk}/")
    assert page.status_code == 200 and b'name="score" value="10"' in page.content
    posted = client.post(f"/portal/surveys/{invite.pk}/", {"score": "9", "comment": "Quick"})

    assert posted.status_code == 302 and posted["Location"].endswith("?thanks=1")
    thanks = client.get(posted["Location"])
    assert b'id="thanks"' in thanks.content and b'id="score">9<' in thanks.content
    response = Response.objects.get()
    assert (response.invite_id, response.score, response.comment, response.source) == (
        invite.pk,
        9,
        "Quick",
        "portal",
    )
    assert b"A question for you" not in client.get("/portal/").content


def test_an_unanswered_email_invite_is_answerable_from_the_portal_too(client, survey, ann, now):
    invite = ask(survey, ann, now, channel="email")
    signed_in(client, ann, now)

    assert f"/portal/surveys/{invite.pk}/".encode() in client.get("/portal/").content
    client.post(f"/portal/surveys/{invite.pk}/", {"score": "2"})

    response = Response.objects.get(invite=invite)
    assert response.detractor and response.recovery_loop is not None  # the same recording


@pytest.mark.parametrize("score", ["", "eleven", "11", "-1"])
def test_a_bad_score_is_refused_with_the_reason_and_nothing_is_stored(
    client, survey, ann, now, score
):
    invite = ask(survey, ann, now)
    signed_in(client, ann, now)

    page = client.post(f"/portal/surveys/{invite.pk}/", {"score": score, "comment": "typed"})

    assert page.status_code == 422
    assert b'id="error"' in page.content and b"typed" in page.content
    assert not Response.objects.exists()


def test_a_suppressed_invite_is_not_shown_and_takes_no_answer(client, survey, team, ann, now):
    ask(SurveyFactory(name="Delivery", team=team, channel="portal"), ann, now)
    suppressed = ask(survey, ann, now)  # the second ask in a week: suppressed
    assert suppressed.state == "suppressed"
    signed_in(client, ann, now)

    assert f"/portal/surveys/{suppressed.pk}/".encode() not in client.get("/portal/").content
    page = client.get(f"/portal/surveys/{suppressed.pk}/")
    assert page.status_code == 410 and b"did not send this survey" in page.content
    assert client.post(f"/portal/surveys/{suppressed.pk}/", {"score": "9"}).status_code == 410
    assert not Response.objects.exists()


def test_an_answer_changes_for_24_hours_then_is_kept(client, survey, ann, now):
    invite = ask(survey, ann, now)
    response_record(invite=invite, score=3, now=now, source="portal")
    signed_in(client, ann, now)

    changed = client.post(f"/portal/surveys/{invite.pk}/", {"score": "8"})
    assert changed.status_code == 302
    assert Response.objects.get().score == 8

    with time_machine.travel(now + timedelta(hours=24, minutes=1), tick=False):
        signed_in(client, ann, now + timedelta(hours=24))
        page = client.get(f"/portal/surveys/{invite.pk}/")
        assert page.status_code == 200 and b'id="answered-score">8<' in page.content
        late = client.post(f"/portal/surveys/{invite.pk}/", {"score": "10"})
    assert late.status_code == 409
    assert Response.objects.get().score == 8


def test_an_expired_survey_leaves_the_home_page(client, survey, ann, now):
    invite = ask(survey, ann, now)
    end = invite.expires_at

    with time_machine.travel(end, tick=False):
        signed_in(client, ann, end - timedelta(minutes=1))
        assert b"A question for you" not in client.get("/portal/").content
        assert client.get(f"/portal/surveys/{invite.pk}/").status_code == 410


def test_an_answer_stays_on_the_home_page_to_be_changed_for_24_hours(client, survey, ann, now):
    # given (no survey contact rule, so both are asked) one answer given an hour ago and
    # one given yesterday morning
    ContactRule.objects.filter(purpose="survey").delete()
    recent = ask(survey, ann, now - timedelta(hours=2))
    response_record(invite=recent, score=4, now=now - timedelta(hours=1))
    older_survey = SurveyFactory(name="Older", kind="csat", team=survey.team, channel="portal")
    older = ask(older_survey, ann, now - timedelta(hours=30))
    response_record(invite=older, score=5, now=now - timedelta(hours=25))
    signed_in(client, ann, now)

    # when she opens her home page
    home = client.get("/portal/").content.decode()

    # then the recent answer is there, to be changed on its page; yesterday's is not
    assert "Your answers" in home and f'id="answer-{recent.pk}"' in home
    assert "you answered 4" in home
    assert f'href="/portal/surveys/{recent.pk}/">Change my answer' in home
    assert f'id="answer-{older.pk}"' not in home
