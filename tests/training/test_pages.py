"""The practice pages: the index as an agent and as a lead, a practice case with the draft
form (and its Check without JavaScript), the scoring page, the path page, making a case
from a closed one, scoping, and the panel on the scorecard page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.training import services
from lastmile.training.models import AttemptState, PracticeAttempt, PracticeCase
from tests.people.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def _draft_post(**kw):  # type: ignore[no-untyped-def]
    data = {
        "reply": "Sorry for the wait; we will refund the delivery charge by Friday.",
        "promise-0-text": "Refund the delivery charge",
        "promise-0-terms": "refund_amount=45",
        "promise-0-due_at": "2026-11-25T17:00",
        "promise-1-text": "",
        "promise-1-terms": "",
        "promise-1-due_at": "",
        "handoff_team": "",
        "handoff_note": "",
    }
    data.update(kw)
    return data


def test_the_index_needs_a_login_and_shows_a_stranger_the_empty_state(client, db):
    assert client.get("/training/").status_code == 302
    client.force_login(UserFactory(username="visitor"))
    r = client.get("/training/")
    assert r.status_code == 200 and 'id="training-empty"' in r.content.decode()


def test_an_agent_without_a_path_sees_the_empty_states(client, nina):
    client.force_login(nina)
    html = client.get("/training/").content.decode()
    assert 'id="my-path-empty"' in html and 'id="my-attempts-empty"' in html
    assert 'id="waiting"' not in html


def test_the_check_button_shows_the_verdict_and_the_article_without_javascript(
    client, nina, practice, refund_policy, late_article
):
    client.force_login(nina)
    r = client.post(f"/training/cases/{practice.pk}/", _draft_post(action="check"))
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-policy="delivery-refund"' in html and 'data-result="fail"' in html
    assert f'data-slug="{late_article.slug}"' in html
    assert not PracticeAttempt.objects.exists()  # a check saves nothing


def test_the_live_check_endpoint_answers_a_fragment(client, nina, practice, refund_policy):
    client.force_login(nina)
    r = client.post(f"/training/cases/{practice.pk}/check/", _draft_post())
    assert r.status_code == 200
    html = r.content.decode()
    assert html.startswith('<div id="practice-check-body">') and "Warning" in html


def test_the_practice_page_hides_the_original_reply_and_the_guidance_from_the_agent(
    client, nina, practice
):
    client.force_login(nina)
    html = client.get(f"/training/cases/{practice.pk}/").content.decode()
    assert "three days late" in html and "refund the delivery charge today" not in html
    assert "Apologise; refund within policy" not in html and 'id="draft-form"' in html


def test_a_lead_sees_the_guidance_and_the_original(client, lena, practice):
    client.force_login(lena)
    html = client.get(f"/training/cases/{practice.pk}/").content.decode()
    assert "Apologise; refund within policy" in html and "refund the delivery charge today" in html


def test_submitting_a_draft_then_the_lead_scores_it(client, nina, lena, practice, card):
    client.force_login(nina)
    r = client.post(f"/training/cases/{practice.pk}/", _draft_post(action="submit"))
    attempt = PracticeAttempt.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/training/attempts/{attempt.pk}/"
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.promises[0]["terms"] == {"refund_amount": 45}
    client.force_login(lena)
    html = client.get("/training/").content.decode()
    assert f'id="waiting-{attempt.pk}"' in html
    cats = list(card.categories.all())
    r = client.post(
        f"/training/attempts/{attempt.pk}/",
        {"action": "score", "comment": "Good", **{f"score-{c.pk}": c.max_score for c in cats}},
    )
    assert r.status_code == 302
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.SCORED and attempt.score == 100.0
    client.force_login(nina)
    html = client.get(f"/training/attempts/{attempt.pk}/").content.decode()
    assert 'id="attempt-score">100.0<' in html and "Apologise; refund within policy" in html


def test_a_bad_draft_is_refused_with_the_field_and_keeps_what_was_typed(client, nina, practice):
    client.force_login(nina)
    r = client.post(
        f"/training/cases/{practice.pk}/", _draft_post(action="save", **{"promise-0-due_at": ""})
    )
    assert r.status_code == 422
    html = r.content.decode()
    assert 'data-field="promises[0].due_at"' in html and "refund_amount=45" in html


def test_a_score_out_of_range_is_a_422_on_the_page(client, nina, lena, practice, card, now):
    attempt = services.attempt_save(viewer=nina, practice_case=practice, reply="Sorry", now=now)
    services.attempt_submit(viewer=nina, attempt=attempt, now=now)
    client.force_login(lena)
    cats = list(card.categories.all())
    r = client.post(
        f"/training/attempts/{attempt.pk}/",
        {"action": "score", **{f"score-{c.pk}": c.max_score + 1 for c in cats}},
    )
    assert r.status_code == 422 and 'data-field="scores[0].score"' in r.content.decode()


def test_returning_without_a_comment_is_a_422(client, nina, lena, practice, now):
    attempt = services.attempt_submit(
        viewer=nina,
        attempt=services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now),
        now=now,
    )
    client.force_login(lena)
    r = client.post(f"/training/attempts/{attempt.pk}/", {"action": "return", "comment": ""})
    assert r.status_code == 422
    r = client.post(f"/training/attempts/{attempt.pk}/", {"action": "return", "comment": "Redo"})
    assert r.status_code == 302
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.RETURNED


def test_an_outsider_gets_404_everywhere(client, charlie, nina, practice, now):
    attempt = services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now)
    client.force_login(charlie)
    assert client.get(f"/training/cases/{practice.pk}/").status_code == 404
    assert client.get(f"/training/attempts/{attempt.pk}/").status_code == 404
    assert client.post(f"/training/cases/{practice.pk}/check/", _draft_post()).status_code == 404


def test_a_teammate_does_not_see_anothers_attempt(client, alice, nina, practice, now):
    attempt = services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now)
    client.force_login(alice)
    assert client.get(f"/training/attempts/{attempt.pk}/").status_code == 404


def test_a_lead_makes_a_case_from_the_link_on_a_closed_case(client, lena, closed_case, card):
    client.force_login(lena)
    r = client.get("/training/cases/new", {"case": closed_case.ref})
    assert r.status_code == 200 and f'value="{closed_case.ref}"' in r.content.decode()
    r = client.post(
        "/training/cases/new",
        {"case": closed_case.ref, "title": "Late parcel", "scorecard": card.pk, "guidance": ""},
    )
    made = PracticeCase.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/training/cases/{made.pk}/"


def test_an_agent_cannot_make_a_case(client, alice, closed_case):
    client.force_login(alice)
    assert client.get("/training/cases/new", {"case": closed_case.ref}).status_code == 403


def test_a_lead_arranges_the_path_on_its_page(client, lena, nina, practice):
    client.force_login(lena)
    assert client.get("/training/paths/front/").status_code == 200
    r = client.post("/training/paths/front/", {f"pos-{practice.pk}": "1"})
    assert r.status_code == 302
    client.force_login(nina)
    html = client.get("/training/").content.decode()
    assert 'id="my-progress">0 of 1 done' in html and "A late parcel" in html


def test_a_bad_step_number_is_a_422(client, lena, practice):
    client.force_login(lena)
    assert client.post("/training/paths/front/", {f"pos-{practice.pk}": "x"}).status_code == 422


def test_the_scorecard_page_shows_progress_and_the_weekly_practice_score(
    client, lena, nina, practice, card, now
):
    services.path_arrange(viewer=lena, team=practice.team, case_ids=[practice.pk], now=now)
    attempt = services.attempt_submit(
        viewer=nina,
        attempt=services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now),
        now=now,
    )
    cats = list(card.categories.all())
    services.attempt_score(
        viewer=lena,
        attempt=attempt,
        scores=[services.ScoreIn(category=c.pk, score=c.max_score) for c in cats],
        now=now + timedelta(hours=1),
    )
    client.force_login(lena)
    html = client.get("/scorecards/", {"period": "2026-11"}).content.decode()
    assert 'id="training-nina"' in html
    assert '<td class="num" data-metric="path">1 / 1</td>' in html
    assert "2026-W48: 100.0" in html
    client.force_login(nina)
    html = client.get("/scorecards/", {"period": "2026-11"}).content.decode()
    assert 'id="training-nina"' in html


def test_the_scorecard_page_has_no_practice_panel_without_practice(client, alice, lena):
    client.force_login(lena)
    assert 'id="training-panel"' not in client.get("/scorecards/").content.decode()


def test_the_admin_lists_practice_read_only(staff, nina, practice, now):
    attempt = services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now)
    for url in (
        "/admin/training/practicecase/",
        f"/admin/training/practicecase/{practice.pk}/change/",
        "/admin/training/practiceattempt/",
        f"/admin/training/practiceattempt/{attempt.pk}/change/",
        "/admin/training/onboardingpath/",
    ):
        assert staff.get(url).status_code == 200, url
    assert staff.get("/admin/training/practicecase/add/").status_code == 403


def test_an_admin_sees_every_teams_practice(client, admin_user, nina, practice, now):
    attempt = services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now)
    client.force_login(admin_user)
    assert client.get(f"/training/attempts/{attempt.pk}/").status_code == 200
    html = client.get("/training/").content.decode()
    assert 'id="team-front"' in html and "A late parcel" in html


def test_the_case_page_offers_a_lead_to_make_a_practice_case_of_a_closed_case(
    client, lena, nina, closed_case
):
    client.force_login(lena)
    html = client.get(f"/cases/{closed_case.ref}/").content.decode()
    assert f'href="/training/cases/new?case={closed_case.ref}"' in html
    client.force_login(nina)  # an agent of the team: no link
    assert 'id="make-practice"' not in client.get(f"/cases/{closed_case.ref}/").content.decode()
