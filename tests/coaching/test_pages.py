"""The coaching pages: the list (own lessons, a lead's teams', state filters, pagination,
empty state) and one lesson (masked conversation, the agent's form, the lead's decision)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.coaching.models import Lesson
from lastmile.coaching.services import lesson_submit
from lastmile.loops.models import Loop
from tests.coaching.conftest import review
from tests.scorecards.qa_helpers import conversation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def lesson(lena, solved, card, now):  # type: ignore[no-untyped-def]
    review(lena, solved, card, tone=2, accuracy=6, comment="No next step named.", now=now)
    return Lesson.objects.get()


def test_the_agent_sees_their_lesson_listed(client, alice, lesson):
    client.force_login(alice)
    page = client.get("/coaching/").content.decode()
    assert "Coaching: my lessons" in page
    assert f'id="lesson-{lesson.pk}"' in page and lesson.title in page


def test_a_lead_sees_their_teams_lessons_with_the_agent(client, lena, lesson):
    client.force_login(lena)
    page = client.get("/coaching/").content.decode()
    assert "lessons of my teams" in page and f'id="lesson-{lesson.pk}"' in page


def test_the_empty_state_and_the_filters(client, alice, lesson):
    client.force_login(alice)
    page = client.get("/coaching/?state=accepted").content.decode()
    assert 'id="coaching-empty"' in page and f'id="lesson-{lesson.pk}"' not in page
    assert client.get("/coaching/?state=nope").status_code == 422


def test_the_list_is_paginated(client, lena, alice, team, card, priya, now):
    for i in range(21):
        case = conversation(
            priya, team, alice, at=now - timedelta(days=i + 1), parts=[("in", "Hi"), ("out", "Ok")]
        )
        review(lena, case, card, tone=1, accuracy=0, now=now)
    client.force_login(alice)
    first = client.get("/coaching/").content.decode()
    assert first.count('class="card coaching-row"') == 20 and 'id="page-older"' in first
    second = client.get("/coaching/?state=open&page=2").content.decode()
    assert second.count('class="card coaching-row"') == 1
    # and the links keep the filter
    assert 'href="?state=open&amp;page=1" id="page-newer"' in second
    assert (
        'href="?state=all&amp;page=2" id="page-older"'
        in client.get("/coaching/?state=all").content.decode()
    )


def test_an_outsider_gets_404(client, bob, charlie, lesson):
    for who in (bob, charlie):
        client.force_login(who)
        assert client.get(f"/coaching/{lesson.pk}/").status_code == 404
        assert client.post(f"/coaching/{lesson.pk}/submit/", {"draft": "x"}).status_code == 404


def test_the_lesson_page_shows_the_masked_conversation_and_the_form(client, alice, lesson):
    client.force_login(alice)
    page = client.get(f"/coaching/{lesson.pk}/").content.decode()
    assert "No next step named." in page
    assert "Priya" not in page and "priya.raman@example.com" not in page
    assert "[email]" in page and 'id="submit-form"' in page
    assert 'id="decide-form"' not in page
    assert "<script>" not in page and 'style="' not in page


def test_an_empty_submission_is_422_naming_the_fields(client, alice, lesson):
    client.force_login(alice)
    r = client.post(f"/coaching/{lesson.pk}/submit/", {"answer-1": "Only this"})
    assert r.status_code == 422
    page = r.content.decode()
    assert 'id="answers-error"' in page and 'id="draft-error"' in page
    assert "Only this" in page  # what was typed is kept


def test_agent_submits_lead_returns_then_accepts(client, alice, lena, lesson):
    client.force_login(alice)
    r = client.post(
        f"/coaching/{lesson.pk}/submit/", {"draft": "Sorry — a courier comes tomorrow."}
    )
    assert r.status_code == 302
    client.force_login(lena)
    page = client.get(f"/coaching/{lesson.pk}/").content.decode()
    assert 'id="decide-form"' in page and "a courier comes tomorrow" in page
    r = client.post(f"/coaching/{lesson.pk}/return/", {"note": ""})
    assert r.status_code == 422 and 'id="note-error"' in r.content.decode()
    client.post(f"/coaching/{lesson.pk}/return/", {"note": "Say when it comes."})
    lesson.refresh_from_db()
    assert lesson.state == "returned"
    client.force_login(alice)
    assert "Say when it comes." in client.get(f"/coaching/{lesson.pk}/").content.decode()
    client.post(f"/coaching/{lesson.pk}/submit/", {"draft": "It comes tomorrow before noon."})
    client.force_login(lena)
    client.post(f"/coaching/{lesson.pk}/accept/", {"note": ""})
    lesson.refresh_from_db()
    assert lesson.state == "accepted"
    assert Loop.objects.get(pk=lesson.loop_id).state == "closed"


def test_accepting_twice_is_409(client, alice, lena, lesson, now):
    lesson_submit(lesson=lesson, actor=alice, draft="x", now=now)
    client.force_login(lena)
    assert client.post(f"/coaching/{lesson.pk}/accept/").status_code == 302
    assert client.post(f"/coaching/{lesson.pk}/accept/").status_code == 409


def test_the_scorecard_page_has_the_coaching_panel(client, lena, alice, lesson):
    client.force_login(lena)
    page = client.get("/scorecards/?period=2026-11").content.decode()
    assert 'id="coaching-panel"' in page and 'id="coaching-panel-alice"' in page
