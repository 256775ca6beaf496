"""/api/v1/coaching: lessons listed and read in the viewer's scope; the agent submits, the
lead returns and accepts; 422 naming the field, 404 outside the scope, 409 in the wrong
state."""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.coaching.models import Lesson
from lastmile.loops.models import Loop
from tests.api.client import Api
from tests.coaching.conftest import review

pytestmark = pytest.mark.django_db


@pytest.fixture
def lesson(lena, solved, card, now):  # type: ignore[no-untyped-def]
    review(lena, solved, card, tone=2, accuracy=6, comment="No next step.", now=now)
    return Lesson.objects.get()


def test_the_agent_lists_and_reads_their_lesson_masked(api_as, alice, lesson):
    r = api_as(alice).get("/coaching/lessons", state="open")
    assert r.status_code == 200, r.content
    got = r.json()
    assert got["count"] == 1 and got["items"][0]["id"] == lesson.pk
    one = api_as(alice).get(f"/coaching/lessons/{lesson.pk}").json()
    assert (one["agent"], one["lead"], one["state"], one["reason"]) == (
        "alice",
        "lena",
        "assigned",
        "qa_below_target",
    )
    assert "priya" not in str(one["conversation"]).lower()
    assert one["what_went_wrong"].startswith("No next step.")
    assert [e["kind"] for e in one["trail"]] == ["opened"]


def test_outside_the_scope_is_404(api_as, bob, charlie, lesson):
    for who in (bob, charlie):
        assert api_as(who).get(f"/coaching/lessons/{lesson.pk}").status_code == 404
        r = api_as(who).post(f"/coaching/lessons/{lesson.pk}/submit", {"draft": "x"})
        assert r.status_code == 404
        assert api_as(who).get("/coaching/lessons").json()["count"] == 0


def test_submit_return_resubmit_accept(api_as, alice, lena, lesson):
    r = api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"draft": "Sorry, Priya."})
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "submitted"
    r = api_as(lena).post(f"/coaching/lessons/{lesson.pk}/return", {"note": "Say when."})
    assert (r.json()["state"], r.json()["lead_note"]) == ("returned", "Say when.")
    r = api_as(alice).post(
        f"/coaching/lessons/{lesson.pk}/submit", {"answers": ["a", "b", "c"], "draft": ""}
    )
    assert r.json()["answers"] == ["a", "b", "c"]
    r = api_as(lena).post(f"/coaching/lessons/{lesson.pk}/accept", {})
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    assert Loop.objects.get(pk=lesson.loop_id).state == "closed"
    trail = [(e["kind"], e["actor"]) for e in r.json()["trail"]]
    assert trail[-4:] == [
        ("submitted", "alice"),
        ("returned", "lena"),
        ("submitted", "alice"),
        ("accepted", "lena"),
    ]


def test_an_empty_submission_is_422_naming_the_fields(api_as, alice, lesson):
    r = api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"answers": ["a"]})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"answers", "draft"}


def test_an_unknown_field_or_state_is_422(api_as, alice, lesson):
    r = api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"drafts": "x"})
    assert r.status_code == 422
    r = api_as(alice).get("/coaching/lessons", state="nope")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "state"


def test_returning_without_a_note_is_422(api_as, alice, lena, lesson):
    api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"draft": "x"})
    r = api_as(lena).post(f"/coaching/lessons/{lesson.pk}/return", {"note": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"


def test_the_wrong_state_is_409(api_as, alice, lena, lesson):
    r = api_as(lena).post(f"/coaching/lessons/{lesson.pk}/accept", {})
    assert r.status_code == 409
    api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"draft": "x"})
    r = api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"draft": "y"})
    assert r.status_code == 409


def test_the_agent_cannot_accept_their_own_and_an_integration_cannot_act(
    client, api_as, alice, lesson, now
):
    api_as(alice).post(f"/coaching/lessons/{lesson.pk}/submit", {"draft": "x"})
    assert api_as(alice).post(f"/coaching/lessons/{lesson.pk}/accept", {}).status_code == 403
    integration = Api(client, token_create(name="integration", now=now)[1])
    assert integration.get(f"/coaching/lessons/{lesson.pk}").status_code == 200
    assert integration.post(f"/coaching/lessons/{lesson.pk}/accept", {}).status_code == 403
