"""qa_score in the scorecards: the mean of the agent's effective reviews in the period,
null without reviews, linked to the reviews it is the mean of."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.scorecards.selectors import METRICS
from lastmile.scorecards.services import qa_autoreview
from tests.scorecards.qa_helpers import conversation
from tests.scorecards.test_scorecards_api import follow, row

pytestmark = pytest.mark.django_db


def good(customer, team, who, at):  # type: ignore[no-untyped-def]
    """A conversation the automatic pass scores 100."""
    return conversation(
        customer, team, who, at=at, parts=[("in", "Late?"), ("out", "It arrives by Friday.")]
    )


def unanswered(customer, team, who, at):  # type: ignore[no-untyped-def]
    """A conversation the automatic pass scores 0 (the critical rule fails)."""
    return conversation(
        customer, team, who, at=at, parts=[("in", "Late?"), ("out", "Hm."), ("in", "??")]
    )


def test_qa_score_is_null_without_reviews(api, alice):
    got = row(api.get("/scorecards", period="2026-11").json(), "alice")
    assert got["qa_score"] is None and got["qa_reviews"] == 0
    assert "weighted mean" in METRICS["qa_score"]


def test_qa_score_is_the_mean_of_the_periods_reviews(api, customer, team, alice, bob, now):
    for case in (
        good(customer, team, alice, now),
        unanswered(customer, team, alice, now),
        good(customer, team, alice, datetime(2026, 10, 20, tzinfo=UTC)),  # October
        unanswered(customer, team, bob, now),
    ):
        qa_autoreview(case=case, now=now)
    body = api.get("/scorecards", period="2026-11").json()
    assert (row(body, "alice")["qa_score"], row(body, "alice")["qa_reviews"]) == (50.0, 2)
    assert row(body, "bob")["qa_score"] == 0.0
    team_row = next(t for t in body["teams"] if t["slug"] == "front")
    assert (team_row["qa_score"], team_row["qa_reviews"]) == (round(100 / 3, 2), 3)
    assert row(api.get("/scorecards", period="2026-10").json(), "alice")["qa_score"] == 100.0


def test_an_override_replaces_the_automatic_score(api, api_as, lena, customer, team, alice, now):
    case = unanswered(customer, team, alice, now)
    auto = qa_autoreview(case=case, now=now)
    scores = [{"category": c.pk, "score": 1} for c in auto.scorecard.categories.all()]
    r = api_as(lena).post(
        "/qa/reviews",
        {"case": case.ref, "scorecard": auto.scorecard_id, "scores": scores, "overrides": auto.pk},
    )
    assert r.status_code == 201
    got = row(api.get("/scorecards", period="2026-11").json(), "alice")
    assert (got["qa_score"], got["qa_reviews"]) == (100.0, 1)


def test_the_qa_link_lists_exactly_the_reviews_averaged(api, customer, team, alice, now):
    reviews = [
        qa_autoreview(case=good(customer, team, alice, now), now=now),
        qa_autoreview(case=unanswered(customer, team, alice, now), now=now),
    ]
    got = row(api.get("/scorecards", period="2026-11").json(), "alice")
    listed = follow(api, got["links"]["qa_score"]).json()["items"]
    assert sorted(i["id"] for i in listed) == sorted(r.pk for r in reviews)
    assert sum(i["score"] for i in listed) / len(listed) == got["qa_score"]


def test_the_page_shows_qa_and_links_to_the_reviews(client, customer, team, alice, now):
    review = qa_autoreview(case=good(customer, team, alice, now), now=now)
    client.force_login(alice)
    cells = client.get("/scorecards/", {"period": "2026-11"}).context["agents"][0]["cells"]
    qa = next(c for c in cells if c["name"] == "qa_score")
    assert qa["shown"] == "100.0"
    assert qa["link"].startswith("/scorecards/qa/?agent=alice&period=2026-11")
    r = client.get(qa["link"])
    assert r.status_code == 200
    assert [x["id"] for x in r.context["reviews"]] == [review.pk]
    html = r.content.decode()
    assert case_ref(review) in html and "The customer&#x27;s question was answered" in html


def case_ref(review):  # type: ignore[no-untyped-def]
    return review.case.ref


def test_the_reviews_page_shows_an_agent_only_their_own(client, customer, team, alice, bob, now):
    qa_autoreview(case=good(customer, team, bob, now), now=now)
    client.force_login(alice)
    r = client.get("/scorecards/qa/", {"agent": "bob", "period": "2026-11"})
    assert r.status_code == 200 and r.context["reviews"] == []
    assert client.get("/scorecards/qa/", {"period": "nope"}).status_code == 422
