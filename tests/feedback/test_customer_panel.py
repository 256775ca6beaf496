"""The customer's page in the console shows the surveys asked of them: suppressed ones with
the contact rule's reason, answered ones with the score, only for the viewer's teams."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from lastmile.feedback.services import invite_create, response_record
from tests.cases.factories import customer_case
from tests.feedback.factories import SurveyFactory
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(team, now):
    """A customer with an email address and a case of the team's (so its agents see them)."""
    return customer_case(
        team=team,
        name="Ada Lane",
        email="ada@example.com",
        subject="Late",
        channel="email",
        now=now,
    ).customer


def page(client, user, customer):  # type: ignore[no-untyped-def]
    client.force_login(user)
    response = client.get(reverse("console:customer", kwargs={"customer_id": customer.pk}))
    assert response.status_code == 200
    return response.content.decode()


def test_a_suppressed_invite_shows_with_the_rules_reason_and_an_answer_with_its_score(
    client, survey, asked, team, alice, now
):
    # Given a delivery survey answered yesterday and today's case survey suppressed
    other = SurveyFactory(name="Delivery effort", kind="ces", team=team)
    first, _ = invite_create(survey=other, customer=asked, channel="link", now=now)
    response_record(invite=first, score=6, comment="Slow van", now=now + timedelta(hours=1))
    second, _ = invite_create(survey=survey, customer=asked, channel="email", now=now)
    assert second.state == "suppressed"

    # When Alice opens the customer's page
    html = page(client, alice, asked)

    # Then both are listed, the suppressed one with the rule's reason
    assert f'id="survey-invite-{second.pk}"' in html and "Not asked" in html
    assert second.reason in html
    assert f'id="survey-invite-{first.pk}"' in html and "Answered 6" in html
    assert "Slow van" in html


def test_another_teams_survey_is_not_shown_to_an_agent(client, asked, alice, now):
    elsewhere = SurveyFactory(name="Elsewhere", team=TeamFactory(name="Other", slug="other"))
    invite, _ = invite_create(survey=elsewhere, customer=asked, channel="link", now=now)

    html = page(client, alice, asked)

    assert f'id="survey-invite-{invite.pk}"' not in html
    assert 'id="surveys-none"' in html
