"""The response page a survey link opens: no login, no JavaScript, CSRF-safe."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from lastmile.feedback.models import Response
from lastmile.feedback.services import invite_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def link(survey, asked, now):
    invite, token = invite_create(survey=survey, customer=asked, channel="link", now=now)
    return invite, f"/feedback/r/{token}/"


def test_the_page_asks_the_question_with_one_radio_per_score(client, link):
    r = client.get(link[1])
    assert r.status_code == 200
    html = r.content.decode()
    assert "How likely are you to recommend us" in html
    assert html.count('type="radio" name="score"') == 11
    assert 'name="csrfmiddlewaretoken"' in html and "<script" not in html
    assert 'name="viewport" content="width=device-width' in html


def test_posting_the_form_records_the_answer(client, link):
    r = client.post(link[1], {"score": "9", "comment": "Quick and kind"})
    assert r.status_code == 200 and "Thank you" in r.content.decode()
    response = Response.objects.get()
    assert (response.score, response.comment, response.source) == (9, "Quick and kind", "link")


def test_the_form_needs_the_csrf_token(link):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(link[1], {"score": "9"}).status_code == 403
    page = strict.get(link[1])
    token = page.cookies["csrftoken"].value
    r = strict.post(link[1], {"score": "9", "csrfmiddlewaretoken": token})
    assert r.status_code == 200 and Response.objects.get().score == 9


def test_a_forged_token_gets_a_clear_404_page(client, link):
    r = client.get("/feedback/r/not-a-real-token/")
    assert r.status_code == 404 and "This survey link is not valid" in r.content.decode()
    assert client.post("/feedback/r/not-a-real-token/", {"score": "9"}).status_code == 404
    assert not Response.objects.exists()


@pytest.mark.parametrize("score", ["", "eleven", "11", "-1"])
def test_no_score_or_one_off_the_scale_shows_the_form_again_with_the_error(client, link, score):
    r = client.post(link[1], {"score": score, "comment": "kept"})
    assert r.status_code == 422
    html = r.content.decode()
    assert 'role="alert"' in html and "kept" in html
    assert not Response.objects.exists()


def test_the_answer_can_be_changed_for_24_hours_then_not(client, link, now):
    client.post(link[1], {"score": "3"})
    page = client.get(link[1]).content.decode()
    assert "You answered 3" in page and 'value="3" required checked' in page

    with time_machine.travel(now + timedelta(hours=23), tick=False):
        assert client.post(link[1], {"score": "8"}).status_code == 200
    with time_machine.travel(now + timedelta(hours=24), tick=False):
        late = client.post(link[1], {"score": "10"})
        assert late.status_code == 409 and "that time is over" in late.content.decode()
        assert client.get(link[1]).status_code == 200  # the thanks, not an error

    assert Response.objects.get().score == 8


def test_a_suppressed_invites_link_is_a_410_page(client, survey, asked, now, link):
    _, token = invite_create(survey=survey, customer=asked, channel="link", now=now)
    r = client.get(f"/feedback/r/{token}/")
    assert r.status_code == 410 and "This survey is closed" in r.content.decode()


def test_an_expired_invites_link_is_a_410_page(client, link):
    invite, url = link
    with time_machine.travel(invite.expires_at, tick=False):
        assert client.get(url).status_code == 410
        assert client.post(url, {"score": "9"}).status_code == 410
    assert not Response.objects.exists()


def test_the_page_speaks_the_customers_language_when_the_survey_has_it(client, survey, asked, now):
    survey.wording = {"fr": {"question": "Nous recommanderiez-vous ?"}}
    survey.save()
    asked.attributes = {"language": "fr"}
    asked.save()
    _, token = invite_create(survey=survey, customer=asked, channel="link", now=now)
    assert "Nous recommanderiez-vous" in client.get(f"/feedback/r/{token}/").content.decode()
