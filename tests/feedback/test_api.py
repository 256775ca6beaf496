"""The feedback API: surveys, invites, responses collected elsewhere, the list and the summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.feedback.models import Invite, Response, Survey
from lastmile.feedback.services import invite_create, response_record
from lastmile.people.selectors import agent_for
from tests.api.client import Api
from tests.feedback.factories import SurveyFactory, reachable_customer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def agent_api(client, user, now, name=""):  # type: ignore[no-untyped-def]
    token = token_create(name=name or user.username, now=now, agent=agent_for(user))[1]
    return Api(client, token)


def test_create_a_survey(api, team):
    r = api.post("/surveys", {"name": "After a case", "kind": "csat", "team": "front"})
    assert r.status_code == 201
    body = r.json()
    assert (body["kind"], body["scale"], body["team"], body["trigger"]) == (
        "csat",
        [1, 5],
        "front",
        "manual",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "stars", "team": "front"}, "kind"),
        ({"name": "x", "kind": "nps", "team": "nowhere"}, "team"),
        ({"name": "x", "kind": "nps", "team": "front", "trigger": "event"}, "trigger_event"),
        (
            {"name": "x", "kind": "nps", "team": "front", "trigger": "loop_closed"},
            "trigger_loop_kind",
        ),
        ({"name": "x", "kind": "nps", "team": "front", "trigger": "schedule"}, "every_days"),
    ],
)
def test_a_bad_survey_is_a_422_naming_the_field(api, team, body, field):
    r = api.post("/surveys", body)
    assert r.status_code == 422
    assert any(field in str(e["field"]) for e in r.json()["errors"])
    assert not Survey.objects.exists()


def test_an_agent_may_not_create_a_survey_and_a_lead_may_for_their_team(client, team, alice, now):
    r = agent_api(client, alice, now).post(
        "/surveys", {"name": "Mine", "kind": "nps", "team": "front"}
    )
    assert r.status_code == 403 and not Survey.objects.exists()
    alice.agent.role = "lead"
    alice.agent.save()
    r = agent_api(client, alice, now, name="alice as lead").post(
        "/surveys", {"name": "Mine", "kind": "nps", "team": "front"}
    )
    assert r.status_code == 201


def test_an_invite_answers_201_with_its_state_and_link(api, survey, asked):
    r = api.post(
        f"/surveys/{survey.pk}/invites", {"customer": {"id": asked.pk}, "channel": "email"}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["state"] == "queued" and body["reason"] is None
    assert body["url"].startswith("http") and "/feedback/r/" in body["url"]
    assert body["id"] == Invite.objects.get().pk


def test_a_suppressed_invite_says_why_and_has_no_link(api, survey, asked):
    api.post(f"/surveys/{survey.pk}/invites", {"customer": {"id": asked.pk}, "channel": "link"})
    r = api.post(
        f"/surveys/{survey.pk}/invites", {"customer": {"id": asked.pk}, "channel": "email"}
    )
    assert r.status_code == 201
    assert r.json()["state"] == "suppressed" and "no answer" in r.json()["reason"]
    assert r.json()["url"] is None


def test_an_invite_on_a_case_names_it_by_reference(api, survey, case):
    r = api.post(
        f"/surveys/{survey.pk}/invites",
        {"customer": {"id": case.customer_id}, "channel": "link", "case": case.ref},
    )
    assert r.status_code == 201 and Invite.objects.get().case == case


def test_an_outsiders_survey_is_a_404(client, survey, asked, charlie, now):
    r = agent_api(client, charlie, now).post(
        f"/surveys/{survey.pk}/invites", {"customer": {"id": asked.pk}, "channel": "link"}
    )
    assert r.status_code == 404 and not Invite.objects.exists()


def test_a_bad_channel_is_a_422(api, survey, asked):
    r = api.post(f"/surveys/{survey.pk}/invites", {"customer": {"id": asked.pk}, "channel": "fax"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("channel")


def link_invite(survey, customer, now):  # type: ignore[no-untyped-def]
    return invite_create(survey=survey, customer=customer, channel="link", now=now)[0]


def test_a_response_collected_elsewhere_is_recorded(api, survey, asked, now):
    invite = link_invite(survey, asked, now)
    r = api.post(
        f"/surveys/{survey.pk}/responses",
        {"invite": invite.pk, "score": 4, "comment": "Too slow"},
    )
    assert r.status_code == 201
    body = r.json()
    assert (body["score"], body["band"], body["source"], body["detractor"]) == (
        4,
        "detractor",
        "api",
        True,
    )
    assert body["loop"] is not None


@pytest.mark.parametrize("score", [11, -1])
def test_a_score_off_the_scale_is_a_422_naming_score(api, survey, asked, now, score):
    invite = link_invite(survey, asked, now)
    r = api.post(f"/surveys/{survey.pk}/responses", {"invite": invite.pk, "score": score})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "score"
    assert "0 to 10" in r.json()["detail"] and not Response.objects.exists()


def test_an_invite_answered_twice_through_the_api_is_a_409(api, survey, asked, now):
    invite = link_invite(survey, asked, now)
    api.post(f"/surveys/{survey.pk}/responses", {"invite": invite.pk, "score": 9})
    r = api.post(f"/surveys/{survey.pk}/responses", {"invite": invite.pk, "score": 1})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "invite"
    assert r.json()["code"] == "already_answered"
    assert "answered already" in r.json()["detail"]
    assert Response.objects.get().score == 9


def test_an_invite_of_another_survey_is_a_404(api, survey, team, asked, now):
    invite = link_invite(SurveyFactory(team=team), asked, now)
    r = api.post(f"/surveys/{survey.pk}/responses", {"invite": invite.pk, "score": 9})
    assert r.status_code == 404 and not Response.objects.exists()


def test_responses_are_listed_newest_first_and_paged(api, survey, now):
    for i in range(3):
        invite = link_invite(survey, reachable_customer(), now)
        response_record(invite=invite, score=i, now=now + timedelta(minutes=i))
    r = api.get("/responses", limit=2)
    assert r.status_code == 200 and r.json()["count"] == 3
    assert [x["score"] for x in r.json()["items"]] == [2, 1]
    assert [x["score"] for x in api.get("/responses", limit=2, offset=2).json()["items"]] == [0]


def test_an_agent_lists_only_their_teams_responses(client, survey, other_team, charlie, alice, now):
    response_record(invite=link_invite(survey, reachable_customer(), now), score=9, now=now)
    theirs = SurveyFactory(team=other_team)
    response_record(invite=link_invite(theirs, reachable_customer(), now), score=3, now=now)

    mine = agent_api(client, alice, now).get("/responses").json()["items"]
    assert [x["survey"] for x in mine] == [survey.pk]


def test_the_summary_counts_bands_the_nps_its_interval_and_the_rate(api, survey, now):
    # Given 10 invites: 4 promoters, 2 passives, 2 detractors answered, 2 not answered
    scores = [10, 9, 9, 10, 7, 8, 0, 6, None, None]
    for score in scores:
        invite = link_invite(survey, reachable_customer(), now)
        if score is not None:
            response_record(invite=invite, score=score, now=now)

    r = api.get("/feedback/summary", survey=survey.pk)

    assert r.status_code == 200
    body = r.json()
    assert body["responses"] == 8
    assert (body["promoters"], body["passives"], body["detractors"]) == (4, 2, 2)
    assert body["nps"] == 25.0
    low, high = body["nps_ci95"]
    assert -100 <= low < 25.0 < high <= 100
    assert body["response_rate"] == 0.8


def test_the_summary_window_and_team_filters(api, survey, other_team, now):
    response_record(invite=link_invite(survey, reachable_customer(), now), score=10, now=now)
    theirs = SurveyFactory(team=other_team)
    response_record(invite=link_invite(theirs, reachable_customer(), now), score=0, now=now)

    assert api.get("/feedback/summary", team="front").json()["nps"] == 100.0
    assert api.get("/feedback/summary").json()["nps"] == 0.0
    later = (now + timedelta(minutes=1)).isoformat()
    empty = api.get("/feedback/summary", **{"from": later}).json()
    assert empty["responses"] == 0 and empty["nps"] is None and empty["nps_ci95"] is None


def test_a_summary_range_ending_before_it_starts_is_a_422(api, now):
    r = api.get(
        "/feedback/summary",
        **{"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"


def test_a_page_of_twenty_responses_is_four_queries(api, survey, now, django_assert_num_queries):
    for i in range(20):
        invite = link_invite(survey, reachable_customer(), now)
        response_record(invite=invite, score=i % 11, now=now)
    # related rows are joined into the page's query, not read row by row
    with django_assert_num_queries(4):
        assert len(api.get("/responses", limit=20).json()["items"]) == 20


def test_an_agent_cannot_summarise_another_teams_survey(client, survey, charlie, now):
    r = agent_api(client, charlie, now).get("/feedback/summary", survey=survey.pk)
    assert r.status_code == 404
