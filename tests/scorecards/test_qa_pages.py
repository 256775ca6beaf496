"""The QA pages a lead reviews from: the Sample form on /scorecards/qa/, the review form
of one case (/scorecards/qa/review/), overrides of the automatic review, permissions as
the API's; and an agent's own figures listed beside their definitions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.html import escape

from lastmile.scorecards.models import QaCategory, QaReview, QaScore, QaScorecard
from lastmile.scorecards.selectors import METRICS
from lastmile.scorecards.services import qa_autoreview
from tests.people.factories import team_lead
from tests.scorecards.qa_helpers import conversation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def solved(customer, team, alice, now):  # type: ignore[no-untyped-def]
    """Alice's case, answered and solved on 23 November (an hour before the clock)."""
    return conversation(
        customer,
        team,
        alice,
        at=now - timedelta(hours=1),
        parts=[("in", "Where is my parcel?"), ("out", "Sorry, it left today.")],
    )


def _cats(card):  # type: ignore[no-untyped-def]
    return list(card.categories.order_by("pk"))


def _post(client, case, card, tone="4", accuracy="8", **extra):  # type: ignore[no-untyped-def]
    tone_cat, accuracy_cat = _cats(card)
    data = {
        "case": case.ref,
        "scorecard": card.pk,
        f"score_{tone_cat.pk}": tone,
        f"score_{accuracy_cat.pk}": accuracy,
        "comment": "Checked the order first.",
        **extra,
    }
    return client.post("/scorecards/qa/review/", data)


# --- the sample ---------------------------------------------------------------------------


def test_a_lead_samples_solved_cases_per_agent_with_review_links(client, lena, solved, card):
    client.force_login(lena)
    assert 'id="scorecards-qa-sample-link"' in client.get("/scorecards/").content.decode()
    page = client.get("/scorecards/qa/")
    assert page.status_code == 200
    assert 'id="qa-sample-form"' in page.content.decode()

    r = client.get(
        "/scorecards/qa/",
        {"sample": "1", "sample_team": "front", "sample_period": "2026-11", "sample_n": "3"},
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert f'id="qa-sample-case-{solved.ref}"' in html
    [link] = [c["review"] for a in r.context["sample"]["agents"] for c in a["cases"]]
    assert link.startswith(f"/scorecards/qa/review/?case={solved.ref}&sample=")
    assert f'href="{escape(link)}"' in html
    assert [
        (a["agent"], [c["ref"] for c in a["cases"]]) for a in r.context["sample"]["agents"]
    ] == [("alice", [solved.ref])]
    # the sample's fields are not the review list's filters
    assert r.context["api_link"] == "/api/v1/qa/reviews?"


def test_the_sample_is_the_apis(client, api_as, lena, solved, card, customer, team, alice, now):
    for hours in (2, 3, 4):
        conversation(customer, team, alice, at=now - timedelta(hours=hours), parts=[("in", "Hi?")])
    client.force_login(lena)
    query = {"sample": "1", "sample_period": "2026-11", "sample_n": "2", "sample_seed": "7"}
    shown = client.get("/scorecards/qa/", query).context["sample"]["agents"]
    api = api_as(lena).get("/qa/sample?period=2026-11&n=2&seed=7").json()["agents"]
    assert {a["agent"]: [c["ref"] for c in a["cases"]] for a in shown} == api
    assert len(api["alice"]) == 2


def test_a_bad_sample_field_is_shown_next_to_it(client, lena, solved):
    client.force_login(lena)
    r = client.get("/scorecards/qa/", {"sample": "1", "sample_n": "0"})
    assert r.status_code == 200
    assert r.context["sample"] is None
    assert 'id="qa-sample-n-error"' in r.content.decode()
    assert "1 to 100" in r.context["sample_errors"]["n"]


def test_an_agent_gets_no_sample_form(client, alice, bob, solved):
    client.force_login(bob)
    assert 'id="scorecards-qa-sample-link"' not in client.get("/scorecards/").content.decode()
    r = client.get("/scorecards/qa/", {"sample": "1"})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="qa-sample-form"' not in html and "qa-sample-case" not in html


# --- the review form ------------------------------------------------------------------------


def test_the_form_shows_the_conversation_and_each_category(client, lena, solved, card):
    client.force_login(lena)
    r = client.get("/scorecards/qa/review/", {"case": solved.ref})
    assert r.status_code == 200
    html = r.content.decode()
    assert "Where is my parcel?" in html and "Sorry, it left today." in html
    tone, accuracy = _cats(card)
    assert f'name="score_{tone.pk}"' in html and 'min="1" max="5"' in html
    assert f'name="score_{accuracy.pk}"' in html and 'min="0" max="10"' in html
    assert "weight 3" in html and "critical" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="comment"' in html
    assert [c.pk for c in r.context["cards"]] == [card.pk]


def test_the_form_offers_the_teams_and_every_teams_scorecards_only(
    client, lena, solved, card, team, other_team
):
    ours = QaScorecard.objects.create(name="Front QA", team=team)
    QaCategory.objects.create(scorecard=ours, name="Warmth", min_score=0, max_score=3)
    QaScorecard.objects.create(name="Back QA", team=other_team)
    QaScorecard.objects.create(name="Old", active=False)
    client.force_login(lena)
    r = client.get("/scorecards/qa/review/", {"case": solved.ref, "scorecard": ours.pk})
    assert [c.name for c in r.context["cards"]] == ["Front QA", "Service"]
    assert r.context["card"] == ours
    assert "Warmth" in r.content.decode()


def test_a_valid_review_is_created_as_the_api_creates_it(client, lena, alice, solved, card):
    client.force_login(lena)
    r = _post(client, solved, card)
    review = QaReview.objects.get()
    assert r.status_code == 302
    assert (
        r["Location"]
        == f"/scorecards/qa/?case={solved.ref}&reviewed={review.pk}#qa-review-{review.pk}"
    )
    # (75 % * 1 + 80 % * 3) / 4
    assert (review.score, review.agent, review.reviewer, review.automatic) == (
        78.75,
        alice,
        lena,
        False,
    )
    assert review.comment == "Checked the order first."
    assert sorted(QaScore.objects.values_list("score", flat=True)) == [4, 8]
    listed = client.get(r["Location"])
    assert f'id="qa-review-{review.pk}"' in listed.content.decode()
    assert 'id="qa-saved"' in listed.content.decode()


@pytest.mark.parametrize(
    ("tone", "accuracy", "named"),
    [("6", "8", "Tone"), ("4", "11", "Accuracy"), ("", "8", "Tone"), ("4", "x", "Accuracy")],
)
def test_a_bad_score_is_shown_next_to_its_category_and_nothing_is_stored(
    client, lena, solved, card, tone, accuracy, named
):
    client.force_login(lena)
    r = _post(client, solved, card, tone=tone, accuracy=accuracy)
    assert r.status_code == 422
    assert not QaReview.objects.exists() and not QaScore.objects.exists()
    cat = next(c for c in _cats(card) if c.name == named)
    html = r.content.decode()
    assert f'id="error_score_{cat.pk}"' in html
    row = next(row for row in r.context["rows"] if row["category"] == cat)
    assert named in row["error"] and f"{cat.min_score} to {cat.max_score}" in row["error"]
    # the other category keeps what was typed, and no other field is marked
    others = [row for row in r.context["rows"] if row["category"] != cat]
    assert [row["error"] for row in others] == [""]
    assert escape("Checked the order first.") in html


def test_a_scorecard_refused_is_said_next_to_the_scorecard(client, lena, solved, card):
    client.force_login(lena)
    QaScorecard.objects.filter(pk=card.pk).update(active=False)
    other = QaScorecard.objects.create(name="Other")
    QaCategory.objects.create(scorecard=other, name="Care", min_score=0, max_score=1)
    r = _post(client, solved, card)
    assert r.status_code == 422
    assert not QaReview.objects.exists()
    assert "'Service' is inactive" in r.context["errors"]["scorecard"]
    assert 'id="qa-scorecard-error"' in r.content.decode()
    assert r.context["card"] == other


def test_an_override_keeps_the_automatic_review(client, lena, alice, solved):
    auto = qa_autoreview(case=solved, now=solved.solved_at)
    assert auto is not None
    before = (auto.score, list(auto.scores.values_list("category_id", "score", "reason")))
    client.force_login(lena)
    listed = client.get("/scorecards/qa/", {"case": solved.ref}).content.decode()
    link = f"/scorecards/qa/review/?case={solved.ref}&amp;overrides={auto.pk}"
    assert link in listed

    form = client.get("/scorecards/qa/review/", {"case": solved.ref, "overrides": auto.pk})
    assert form.status_code == 200
    assert [c.pk for c in form.context["cards"]] == [auto.scorecard_id]
    # each category says what the automatic review gave it, and why
    said = {row["category"].name: row["was"] for row in form.context["rows"]}
    assert all(said.values()) and len(said) == auto.scores.count()
    assert "the last reply names no next step" in form.content.decode()
    data = {
        "case": solved.ref,
        "overrides": auto.pk,
        "scorecard": auto.scorecard_id,
        "comment": "It was answered by phone.",
    }
    for cat in auto.scorecard.categories.all():
        data[f"score_{cat.pk}"] = "1"
    r = client.post("/scorecards/qa/review/", data)
    assert r.status_code == 302, r.content
    override = QaReview.objects.get(overrides=auto)
    assert (override.automatic, override.reviewer, override.score) == (False, lena, 100.0)
    auto.refresh_from_db()
    assert (auto.score, list(auto.scores.values_list("category_id", "score", "reason"))) == before
    rows = {
        row["id"]: row
        for row in client.get("/scorecards/qa/", {"case": solved.ref}).context["reviews"]
    }
    assert rows[auto.pk]["effective"] is False and rows[override.pk]["effective"] is True


def test_an_override_of_another_cases_review_is_404(
    client, lena, solved, customer, team, alice, now
):
    other = conversation(customer, team, alice, at=now - timedelta(hours=3), parts=[("in", "?")])
    auto = qa_autoreview(case=other, now=now)
    assert auto is not None
    client.force_login(lena)
    r = client.get("/scorecards/qa/review/", {"case": solved.ref, "overrides": auto.pk})
    assert r.status_code == 404


# --- permissions, as the API's -----------------------------------------------------------


def test_an_admin_reviews_anyone(client, admin_user, solved, card):
    client.force_login(admin_user)
    assert client.get("/scorecards/qa/review/", {"case": solved.ref}).status_code == 200
    assert _post(client, solved, card).status_code == 302
    assert QaReview.objects.get().reviewer == admin_user


def test_a_teammate_agent_gets_403_and_writes_nothing(client, bob, solved, card):
    client.force_login(bob)
    assert client.get("/scorecards/qa/review/", {"case": solved.ref}).status_code == 403
    assert _post(client, solved, card).status_code == 403
    assert not QaReview.objects.exists()


def test_the_agent_may_not_review_their_own_case(client, alice, solved, card):
    client.force_login(alice)
    assert client.get("/scorecards/qa/review/", {"case": solved.ref}).status_code == 403


def test_a_case_the_viewer_may_not_see_is_404(client, other_team, solved, card):
    olga = team_lead(other_team, "olga")
    client.force_login(olga)
    assert client.get("/scorecards/qa/review/", {"case": solved.ref}).status_code == 404
    assert _post(client, solved, card).status_code == 404
    assert client.get("/scorecards/qa/review/", {"case": "LM-999999"}).status_code == 404
    assert not QaReview.objects.exists()


def test_the_review_form_needs_a_login(client, solved):
    r = client.get("/scorecards/qa/review/", {"case": solved.ref})
    assert r.status_code == 302 and "login" in r["Location"]


# --- an agent's own figures beside their definitions ---------------------------------------


def test_an_agents_own_scorecard_lists_each_figure_with_its_definition(client, alice, solved):
    client.force_login(alice)
    r = client.get("/scorecards/", {"period": "2026-11"})
    html = r.content.decode()
    assert 'id="scorecards-own-list"' in html
    assert 'id="scorecards-agents"' in html and 'id="scorecards-definitions"' in html
    for cell in r.context["agents"][0]["cells"]:
        assert cell["definition"] == METRICS[cell["name"]]
        item = (
            f'<li data-own="{cell["name"]}"><span class="own-name">{escape(cell["heading"])}</span>'
        )
        assert item in html
        start = html.index(item)
        assert escape(METRICS[cell["name"]]) in html[start : html.index("</li>", start)]


def test_the_saved_notice_names_a_review_number_only(client, lena):
    client.force_login(lena)
    assert 'id="qa-saved"' not in client.get("/scorecards/qa/?reviewed=<b>x").content.decode()
    assert "Review #12 saved." in client.get("/scorecards/qa/?reviewed=12").content.decode()


def test_a_review_opened_from_the_sample_returns_to_it(client, lena, solved, card):
    client.force_login(lena)
    query = {"sample": "1", "sample_period": "2026-11", "sample_n": "3"}
    [link] = [
        c["review"]
        for a in client.get("/scorecards/qa/", query).context["sample"]["agents"]
        for c in a["cases"]
    ]
    form = client.get(link)
    assert 'id="qa-back-to-sample"' in form.content.decode()
    back = form.context["sample"]
    assert back == "sample=1&sample_period=2026-11&sample_n=3"
    r = _post(client, solved, card, sample=back)
    review = QaReview.objects.get()
    assert r["Location"] == (
        f"/scorecards/qa/?case={solved.ref}&reviewed={review.pk}&{back}#qa-review-{review.pk}"
    )
    listed = client.get(r["Location"])
    assert listed.context["sample_open"] is True
    # the sample says the case was reviewed, with its score
    [item] = [c for a in listed.context["sample"]["agents"] for c in a["cases"]]
    assert item["reviewed"] == [78.75]
    assert "reviewed: 78.75" in listed.content.decode()
    assert f'id="qa-sample-case-{solved.ref}"' in listed.content.decode()
    assert [row["id"] for row in listed.context["reviews"]] == [review.pk]


def test_the_leads_own_sampled_case_has_no_review_link(client, lena, customer, team, now):
    own = conversation(customer, team, lena, at=now - timedelta(hours=2), parts=[("in", "?")])
    client.force_login(lena)
    r = client.get("/scorecards/qa/", {"sample": "1", "sample_period": "2026-11"})
    html = r.content.decode()
    start = html.index(f'id="qa-sample-case-{own.ref}"')
    item = html[start : html.index("</li>", start)]
    assert "qa-review-link" not in item and "another lead or an admin reviews it" in item
    assert client.get("/scorecards/qa/review/", {"case": own.ref}).status_code == 403


def test_the_sample_offers_to_override_an_automatic_review_that_counts(client, lena, solved):
    # given an automatic review of alice's sampled case, still counting
    auto = qa_autoreview(case=solved, now=solved.solved_at)
    assert auto is not None
    client.force_login(lena)

    # when the lead samples
    r = client.get("/scorecards/qa/", {"sample": "1", "sample_period": "2026-11"})

    # then the case says the automatic review counts beside a review, and links its override
    [case] = [c for a in r.context["sample"]["agents"] for c in a["cases"]]
    assert case["automatic"] == auto.pk
    assert f"overrides={auto.pk}" in case["override"]
    assert escape(case["override"]) in r.content.decode()
    assert client.get(case["override"]).status_code == 200


def test_a_leads_own_automatic_reviews_have_no_override_link(client, lena, customer, team, now):
    # given an automatic review of a case the lead handled herself
    own = conversation(customer, team, lena, at=now - timedelta(hours=2), parts=[("in", "?")])
    auto = qa_autoreview(case=own, now=own.solved_at)
    assert auto is not None
    client.force_login(lena)

    # when she lists it, there is no Override link (nobody reviews their own conversation)
    html = client.get("/scorecards/qa/", {"case": own.ref}).content.decode()
    assert f'id="qa-review-{auto.pk}"' in html
    assert f"overrides={auto.pk}" not in html
