"""/api/v1/qa: reviews by leads and admins, overrides of the automatic pass, validation and
permissions, and the sample of conversations to review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.scorecards.models import QaReview, QaScore
from lastmile.scorecards.services import qa_automatic_scorecard, qa_autoreview
from tests.people.factories import TeamFactory, team_lead
from tests.scorecards.qa_helpers import conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def solved(customer, team, alice, now):  # type: ignore[no-untyped-def]
    """Alice's case, answered and solved on 23 November."""
    return conversation(
        customer, team, alice, at=now, parts=[("in", "Where is it?"), ("out", "Sorry.")]
    )


def body(case, card, tone=5, accuracy=10, **extra):  # type: ignore[no-untyped-def]
    tone_cat, accuracy_cat = card.categories.order_by("pk")
    return {
        "case": case.ref,
        "scorecard": card.pk,
        "scores": [
            {"category": tone_cat.pk, "score": tone},
            {"category": accuracy_cat.pk, "score": accuracy},
        ],
        "comment": "Checked the order first.",
        **extra,
    }


def test_a_lead_reviews_their_agent(api_as, lena, alice, solved, card):
    r = api_as(lena).post("/qa/reviews", body(solved, card, tone=4, accuracy=8))
    assert r.status_code == 201, r.content
    got = r.json()
    # (75 % * 1 + 80 % * 3) / 4
    assert got["score"] == 78.75
    assert (got["agent"], got["reviewer"], got["automatic"], got["effective"]) == (
        "alice",
        "lena",
        False,
        True,
    )
    assert [(s["name"], s["score"], s["percent"]) for s in got["scores"]] == [
        ("Tone", 4, 75.0),
        ("Accuracy", 8, 80.0),
    ]
    assert QaReview.objects.get().comment == "Checked the order first."


def test_an_admin_reviews_anyone(api_as, admin_user, solved, card):
    assert api_as(admin_user).post("/qa/reviews", body(solved, card)).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tone": 6}, "scores[0].score"),
        ({"tone": 0}, "scores[0].score"),
        ({"accuracy": 11}, "scores[1].score"),
    ],
)
def test_a_score_outside_min_max_is_a_422_naming_it(api_as, lena, solved, card, change, field):
    r = api_as(lena).post("/qa/reviews", body(solved, card, **change))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert not QaReview.objects.exists()


def test_a_missing_category_is_a_422_naming_scores(api_as, lena, solved, card):
    b = body(solved, card)
    b["scores"] = b["scores"][:1]
    r = api_as(lena).post("/qa/reviews", b)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["scores"]
    assert "Accuracy" in r.json()["errors"][0]["reason"]
    assert not QaReview.objects.exists()


def test_another_scorecards_category_is_a_422(api_as, lena, solved, card):
    b = body(solved, card)
    b["scores"].append({"category": qa_automatic_scorecard().categories.first().pk, "score": 1})
    r = api_as(lena).post("/qa/reviews", b)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["scores[2].category"]


@pytest.mark.parametrize("ref", ["LM-999999", "nonsense"])
def test_an_unknown_case_is_a_422_naming_case(api_as, lena, card, ref, solved):
    b = body(solved, card)
    b["case"] = ref
    r = api_as(lena).post("/qa/reviews", b)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["case"]


def test_an_unknown_or_inactive_scorecard_is_a_422(api_as, lena, solved, card):
    r = api_as(lena).post("/qa/reviews", {**body(solved, card), "scorecard": 99999})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scorecard"
    card.active = False
    card.save()
    r = api_as(lena).post("/qa/reviews", body(solved, card))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scorecard"
    assert not QaReview.objects.exists()


def test_another_teams_scorecard_is_a_422(api_as, lena, solved, card, other_team):
    card.team = other_team
    card.save()
    r = api_as(lena).post("/qa/reviews", body(solved, card))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scorecard"


def test_an_agent_may_not_review_a_teammate(api_as, bob, solved, card):
    r = api_as(bob).post("/qa/reviews", body(solved, card))
    assert r.status_code == 403
    assert not QaReview.objects.exists()


def test_a_lead_of_another_team_cannot_even_see_the_case(api_as, other_team, solved, card):
    olga = team_lead(other_team, "olga")
    r = api_as(olga).post("/qa/reviews", body(solved, card))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "case"
    assert not QaReview.objects.exists()


def test_a_lead_who_sees_the_case_but_leads_none_of_the_agents_teams_is_refused(
    api_as, other_team, solved, card
):
    # given olga, a lead of the back office who also works the front office's queue (so she
    # sees its cases), while alice has moved to the stores, a team olga does not lead
    olga = team_lead(other_team, "olga")
    olga.agent.teams.add(solved.team)
    solved.assignee.agent.teams.set([TeamFactory(name="Stores", slug="stores")])
    r = api_as(olga).post("/qa/reviews", body(solved, card))
    assert r.status_code == 403
    assert not QaReview.objects.exists()


def test_an_integration_token_may_not_review(api, solved, card):
    assert api.post("/qa/reviews", body(solved, card)).status_code == 403


def test_a_lead_does_not_review_their_own_case(api_as, customer, team, lena, card, now):
    own = conversation(customer, team, lena, at=now, parts=[("in", "Hi"), ("out", "Hello")])
    assert api_as(lena).post("/qa/reviews", body(own, card)).status_code == 403


# --- overrides ------------------------------------------------------------------------


def automatic_body(case, review, passed):  # type: ignore[no-untyped-def]
    return {
        "case": case.ref,
        "scorecard": review.scorecard_id,
        "scores": [
            {"category": c.pk, "score": 1 if c.rule in passed else 0}
            for c in review.scorecard.categories.all()
        ],
        "comment": "The reply did name a next step: a call on Monday.",
        "overrides": review.pk,
    }


def test_an_override_is_a_new_review_and_the_automatic_one_is_unchanged(api_as, lena, solved, now):
    auto = qa_autoreview(case=solved, now=now)
    before = (auto.score, list(QaScore.objects.filter(review=auto).values_list("score", flat=True)))
    assert auto.score < 100
    r = api_as(lena).post(
        "/qa/reviews",
        automatic_body(solved, auto, {"answered", "next_step", "promise_recorded", "sentiment"}),
    )
    assert r.status_code == 201, r.content
    assert r.json()["overrides"] == auto.pk and r.json()["score"] == 100.0
    auto.refresh_from_db()
    after = (auto.score, list(QaScore.objects.filter(review=auto).values_list("score", flat=True)))
    assert after == before and auto.automatic
    listed = api_as(lena).get("/qa/reviews", agent="alice", period="2026-11").json()["items"]
    assert {(i["id"], i["effective"]) for i in listed} == {(auto.pk, False), (r.json()["id"], True)}


def test_the_latest_override_counts(api_as, lena, admin_user, solved, now):
    auto = qa_autoreview(case=solved, now=now)
    first = api_as(lena).post("/qa/reviews", automatic_body(solved, auto, {"answered"})).json()
    second = (
        api_as(admin_user)
        .post("/qa/reviews", automatic_body(solved, auto, {"answered", "next_step"}))
        .json()
    )
    effective = api_as(lena).get("/qa/reviews", agent="alice", effective="true").json()["items"]
    assert [i["id"] for i in effective] == [second["id"]]
    replaced = api_as(lena).get("/qa/reviews", agent="alice", effective="false").json()["items"]
    assert sorted(i["id"] for i in replaced) == sorted([auto.pk, first["id"]])


def test_an_override_must_point_at_the_cases_automatic_review(
    api_as, lena, customer, team, alice, solved, card, now
):
    other = conversation(customer, team, alice, at=now, parts=[("in", "Hi"), ("out", "Yo")])
    auto_other = qa_autoreview(case=other, now=now)
    r = api_as(lena).post("/qa/reviews", automatic_body(solved, auto_other, {"answered"}))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "overrides"
    # a person's review is not overridden, it is reviewed again
    human = api_as(lena).post("/qa/reviews", body(solved, card)).json()
    r = api_as(lena).post("/qa/reviews", {**body(solved, card), "overrides": human["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "overrides"


def test_an_override_is_scored_on_the_automatic_scorecard(api_as, lena, solved, card, now):
    auto = qa_autoreview(case=solved, now=now)
    r = api_as(lena).post("/qa/reviews", {**body(solved, card), "overrides": auto.pk})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scorecard"


def test_the_automatic_scorecard_is_not_for_reviews_by_people(api_as, lena, solved, now):
    auto = qa_autoreview(case=solved, now=now)
    b = automatic_body(solved, auto, {"answered"})
    del b["overrides"]
    r = api_as(lena).post("/qa/reviews", b)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scorecard"


def test_an_agent_may_not_override_their_automatic_review(api_as, alice, solved, now):
    auto = qa_autoreview(case=solved, now=now)
    r = api_as(alice).post("/qa/reviews", automatic_body(solved, auto, {"answered"}))
    assert r.status_code == 403
    assert QaReview.objects.count() == 1


# --- reading ----------------------------------------------------------------------------


def test_an_agent_reads_only_their_own_reviews(api_as, alice, bob, customer, team, solved, now):
    theirs = conversation(customer, team, bob, at=now, parts=[("in", "Hi"), ("out", "Hi")])
    mine, _ = qa_autoreview(case=solved, now=now), qa_autoreview(case=theirs, now=now)
    items = api_as(alice).get("/qa/reviews").json()["items"]
    assert [i["id"] for i in items] == [mine.pk]
    assert api_as(alice).get("/qa/reviews", agent="bob").json()["items"] == []


def test_the_reviews_period_is_the_conversations(api_as, lena, solved, now):
    qa_autoreview(case=solved, now=now + timedelta(days=30))
    assert len(api_as(lena).get("/qa/reviews", period="2026-11").json()["items"]) == 1
    assert api_as(lena).get("/qa/reviews", period="2026-12").json()["items"] == []
    assert api_as(lena).get("/qa/reviews", period="2026-13").status_code == 422


def test_the_scorecards_list_names_the_category_ids(api, card):
    qa_automatic_scorecard()
    got = {c["name"]: c for c in api.get("/qa/scorecards").json()}
    assert [c["name"] for c in got["Service"]["categories"]] == ["Tone", "Accuracy"]
    assert got["Automatic"]["automatic"] and len(got["Automatic"]["categories"]) == 4


# --- sampling ---------------------------------------------------------------------------


def test_the_sample_is_n_cases_per_agent_the_same_for_the_same_seed(
    api_as, lena, alice, bob, customer, team, now
):
    for who in [alice] * 6 + [bob] * 2:
        conversation(customer, team, who, at=now, parts=[("in", "Hi"), ("out", "Hello")])
    conversation(customer, team, alice, at=datetime(2026, 10, 5, tzinfo=UTC), parts=[("in", "Old")])
    first = api_as(lena).get("/qa/sample", period="2026-11", n=3, seed=7).json()["agents"]
    again = api_as(lena).get("/qa/sample", period="2026-11", n=3, seed=7).json()["agents"]
    assert first == again
    assert (len(first["alice"]), len(first["bob"])) == (3, 2)
    other = api_as(lena).get("/qa/sample", period="2026-11", n=3, seed=8).json()["agents"]
    assert set(other) == {"alice", "bob"}


def test_an_agent_may_not_sample(api_as, alice):
    assert api_as(alice).get("/qa/sample", period="2026-11").status_code == 403


def test_the_reviews_list_takes_a_fixed_number_of_queries(
    api_as, lena, customer, team, alice, bob, now
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as context:
            assert api_as(lena).get("/qa/reviews", period="2026-11").status_code == 200
        return len(context)

    qa_autoreview(case=conversation(customer, team, alice, at=now, parts=[("in", "a")]), now=now)
    count()  # the token's first use is written
    one = count()
    for who in (alice, bob, bob):
        case = conversation(customer, team, who, at=now, parts=[("in", "b"), ("out", "c")])
        qa_autoreview(case=case, now=now)
    assert count() == one


def test_a_review_may_be_of_one_message_of_the_case(
    api_as, lena, solved, card, customer, team, alice, now
):
    from lastmile.customers.models import Interaction

    message = Interaction.objects.filter(case=solved, direction="outbound").get()
    r = api_as(lena).post("/qa/reviews", body(solved, card, interaction=message.pk))
    assert r.status_code == 201 and r.json()["interaction"] == message.pk
    other = conversation(customer, team, alice, at=now, parts=[("in", "x"), ("out", "y")])
    elsewhere = Interaction.objects.filter(case=other, direction="outbound").get()
    for field, value in (("interaction", elsewhere.pk), ("loop", 999999)):
        r = api_as(lena).post("/qa/reviews", body(solved, card, **{field: value}))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert QaReview.objects.count() == 1
