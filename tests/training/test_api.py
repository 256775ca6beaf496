"""/api/v1/training: paths, practice cases, the dry-run check, drafts, submit, score and
return, with 422 naming the field, 404 outside the token's scope and 409 on a wrong state."""

from __future__ import annotations

import json

import pytest

from lastmile.promises.models import Promise
from lastmile.scorecards.qa import Rated, review_score
from lastmile.training.models import PracticeAttempt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock", "other_team")]

DRAFT = {
    "reply": "Sorry for the wait; we will refund the delivery charge by Friday.",
    "promises": [
        {
            "text": "Refund the delivery charge",
            "terms": {"refund_amount": 45},
            "due_at": "2026-11-25T17:00:00Z",
        }
    ],
    "handoff": {"team": "back", "note": "Refund to approve"},
}


def _put(api, path, body):  # type: ignore[no-untyped-def]
    return api.client.put(
        f"/api/v1{path}", json.dumps(body), content_type="application/json", **api.headers
    )


def _submitted(api_as, nina, practice):  # type: ignore[no-untyped-def]
    api = api_as(nina)
    attempt = api.post(f"/training/cases/{practice.pk}/draft", DRAFT).json()
    return api.post(f"/training/attempts/{attempt['id']}/submit").json()


def test_a_lead_makes_a_practice_case_and_gets_the_masked_conversation(
    api_as, lena, closed_case, card
):
    r = api_as(lena).post(
        "/training/cases",
        {
            "case": closed_case.ref,
            "title": "Late parcel",
            "scorecard": card.pk,
            "guidance": "Say when",
        },
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["source"] == closed_case.ref and body["guidance"] == "Say when"
    assert "Margaret" not in json.dumps(body["conversation"])


def test_an_agent_reads_the_case_without_the_answer(api_as, nina, practice):
    body = api_as(nina).get(f"/training/cases/{practice.pk}").json()
    assert body["guidance"] is None and body["source"] is None
    assert body["conversation"][0]["author"] == "customer"


def test_making_a_case_names_the_bad_field(api_as, lena, closed_case, card):
    api = api_as(lena)
    r = api.post("/training/cases", {"case": "LM-999999", "title": "x", "scorecard": card.pk})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "case"
    r = api.post("/training/cases", {"case": closed_case.ref, "title": "x", "scorecard": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scorecard"


def test_an_agent_gets_403_making_a_case(api_as, alice, closed_case, card):
    r = api_as(alice).post(
        "/training/cases", {"case": closed_case.ref, "title": "x", "scorecard": card.pk}
    )
    assert r.status_code == 403


def test_the_check_is_a_dry_run_with_verdicts_and_articles(
    api_as, nina, practice, refund_policy, late_article
):
    r = api_as(nina).post(
        f"/training/cases/{practice.pk}/check",
        {"reply": "refund for the late parcel", "promises": DRAFT["promises"]},
    )
    assert r.status_code == 200
    body = r.json()
    assert [(v["policy"], v["result"]) for v in body["promises"][0]["verdicts"]] == [
        ("delivery-refund", "fail")
    ]
    assert late_article.slug in [s["slug"] for s in body["suggestions"]]
    assert not PracticeAttempt.objects.exists() and not Promise.objects.exists()


def test_draft_submit_score_through_the_api(api_as, nina, lena, practice, card):
    attempt = _submitted(api_as, nina, practice)
    assert attempt["state"] == "submitted" and attempt["handoff"] == {
        "team": "back",
        "note": "Refund to approve",
    }
    cats = list(card.categories.all())
    picks = [4, 3, 1]
    r = api_as(lena).post(
        f"/training/attempts/{attempt['id']}/score",
        {"scores": [{"category": c.pk, "score": s} for c, s in zip(cats, picks, strict=True)]},
    )
    assert r.status_code == 200, r.json()
    expected = review_score(
        [
            Rated(weight=c.weight, low=c.min_score, high=c.max_score, critical=c.critical, score=s)
            for c, s in zip(cats, picks, strict=True)
        ]
    )
    assert r.json()["score"] == expected and r.json()["state"] == "scored"
    assert [s["score"] for s in r.json()["scores"]] == picks


def test_scoring_twice_is_a_409_and_a_draft_cannot_be_scored(api_as, nina, lena, practice, card):
    api = api_as(nina)
    draft = api.post(f"/training/cases/{practice.pk}/draft", DRAFT).json()
    scores = {"scores": [{"category": c.pk, "score": c.max_score} for c in card.categories.all()]}
    assert api_as(lena).post(f"/training/attempts/{draft['id']}/score", scores).status_code == 409
    api.post(f"/training/attempts/{draft['id']}/submit")
    assert api_as(lena).post(f"/training/attempts/{draft['id']}/score", scores).status_code == 200
    assert api_as(lena).post(f"/training/attempts/{draft['id']}/score", scores).status_code == 409
    assert api.post(f"/training/attempts/{draft['id']}/submit").status_code == 409


def test_a_bad_score_names_the_field(api_as, nina, lena, practice, card):
    attempt = _submitted(api_as, nina, practice)
    cat = card.categories.first()
    r = api_as(lena).post(
        f"/training/attempts/{attempt['id']}/score",
        {"scores": [{"category": cat.pk, "score": 99}]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scores[0].score"


def test_a_bad_draft_names_the_field(api_as, nina, practice):
    r = api_as(nina).post(
        f"/training/cases/{practice.pk}/draft",
        {"reply": "x", "promises": [{"text": "Refund", "terms": {}, "due_at": None}]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "promises[0].due_at"
    r = api_as(nina).post(f"/training/cases/{practice.pk}/draft", {"reply": "x", "extra": 1})
    assert r.status_code == 422


def test_the_return_and_redo_cycle(api_as, nina, lena, practice):
    attempt = _submitted(api_as, nina, practice)
    r = api_as(lena).post(f"/training/attempts/{attempt['id']}/return", {"comment": "Say when"})
    assert r.status_code == 200 and r.json()["state"] == "returned"
    again = api_as(nina).post(f"/training/cases/{practice.pk}/draft", DRAFT).json()
    assert again["id"] == attempt["id"]


def test_scoping_of_attempts_and_cases(api_as, nina, alice, lena, charlie, practice):
    attempt = _submitted(api_as, nina, practice)
    assert [a["id"] for a in api_as(nina).get("/training/attempts").json()["items"]] == [
        attempt["id"]
    ]
    assert api_as(alice).get("/training/attempts").json()["items"] == []
    assert api_as(alice).get(f"/training/attempts/{attempt['id']}").status_code == 404
    waiting = api_as(lena).get("/training/attempts", state="submitted").json()["items"]
    assert [a["id"] for a in waiting] == [attempt["id"]]
    assert api_as(charlie).get(f"/training/cases/{practice.pk}").status_code == 404
    assert api_as(charlie).get("/training/cases").json()["items"] == []
    assert api_as(charlie).post(f"/training/cases/{practice.pk}/draft", DRAFT).status_code == 404


def test_paths_arranged_and_listed(api_as, lena, nina, charlie, practice):
    r = _put(api_as(lena), "/training/paths/front", {"cases": [practice.pk]})
    assert r.status_code == 200, r.json()
    assert r.json()["steps"] == [
        {"position": 1, "case": practice.pk, "title": "A late parcel", "active": True}
    ]
    assert [p["team"] for p in api_as(nina).get("/training/paths").json()] == ["front"]
    assert api_as(charlie).get("/training/paths").json() == []
    assert _put(api_as(nina), "/training/paths/front", {"cases": []}).status_code == 403
    assert _put(api_as(charlie), "/training/paths/front", {"cases": []}).status_code == 404
    r = _put(api_as(lena), "/training/paths/front", {"cases": [12345]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cases[0]"


def test_a_lead_retires_a_case(api_as, lena, nina, practice):
    r = api_as(lena).patch(f"/training/cases/{practice.pk}", {"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert api_as(nina).post(f"/training/cases/{practice.pk}/draft", DRAFT).status_code == 409
    assert api_as(nina).patch(f"/training/cases/{practice.pk}", {"active": True}).status_code == 403


def test_the_attempts_list_reads_a_fixed_number_of_queries(
    api_as, lena, team, practice, card, django_assert_max_num_queries
):
    from lastmile.training import services as training_services
    from tests.people.factories import AgentFactory

    for i in range(6):
        agent = AgentFactory(user__username=f"new{i}", teams=[team]).user
        attempt = training_services.attempt_save(
            viewer=agent, practice_case=practice, reply="Hi", now=practice.created_at
        )
        training_services.attempt_submit(viewer=agent, attempt=attempt, now=practice.created_at)
    api = api_as(lena)
    api.get("/training/attempts")  # the token's first use is written once
    with django_assert_max_num_queries(8):
        r = api.get("/training/attempts")
    assert r.json()["count"] == 6
