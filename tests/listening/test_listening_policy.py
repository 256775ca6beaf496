"""SLA policies that match on a mention's author influence and sentiment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.loops.models import SlaPolicy
from lastmile.loops.services import loop_open, policy_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def policies(db):
    tight = SlaPolicy.objects.create(
        name="Influential negative",
        position=5,
        kind="reply",
        channel="social",
        min_influence=60,
        sentiment="negative",
        first_reply_minutes=15,
    )
    loud = SlaPolicy.objects.create(
        name="Influential",
        position=6,
        kind="reply",
        channel="social",
        min_influence=80,
        first_reply_minutes=30,
    )
    social = SlaPolicy.objects.create(
        name="Social", position=10, kind="reply", channel="social", first_reply_minutes=60
    )
    return tight, loud, social


@pytest.mark.parametrize(
    "influence, sentiment, expected",
    [
        (60.0, "negative", "Influential negative"),  # at the threshold
        (59.9, "negative", "Social"),  # just under it
        (95.0, "negative", "Influential negative"),  # first by position
        (95.0, "positive", "Influential"),
        (79.9, "positive", "Social"),
        (None, "negative", "Social"),  # no influence known: a min_influence policy never matches
        (70.0, "", "Social"),  # no sentiment known: a sentiment policy never matches
    ],
)
def test_policies_match_on_influence_and_sentiment(policies, influence, sentiment, expected):
    found = policy_match(
        kind="reply", channel="social:twitter", influence=influence, sentiment=sentiment
    )
    assert found.name == expected


def test_callers_that_know_nothing_of_mentions_are_unchanged(policies, customer, now):
    # loop_open as every existing caller uses it: no influence, no sentiment
    loop = loop_open(
        customer=customer, kind="reply", title="Answer", channel="social:twitter", now=now
    )
    assert loop.sla_policy.name == "Social" and loop.due_at == now + timedelta(minutes=60)


def test_loop_open_passes_influence_and_sentiment_to_the_match(policies, customer, now):
    loop = loop_open(
        customer=customer,
        kind="reply",
        title="Answer",
        channel="social:twitter",
        influence=72.5,
        sentiment="negative",
        now=now,
    )
    assert loop.sla_policy.name == "Influential negative"
    assert loop.due_at == now + timedelta(minutes=15)


def test_a_sentiment_policy_matches_on_other_channels_too(db, customer, now):
    SlaPolicy.objects.create(
        name="Angry chat",
        position=1,
        kind="reply",
        channel="chat",
        sentiment="negative",
        first_reply_minutes=5,
    )
    assert policy_match(kind="reply", channel="chat", sentiment="negative").name == "Angry chat"
    assert policy_match(kind="reply", channel="chat", sentiment="neutral") is None


def test_the_policy_admin_sets_influence_and_sentiment(staff):
    r = staff.post(
        "/admin/loops/slapolicy/add/",
        {
            "name": "Loud and angry",
            "position": 3,
            "active": "on",
            "kind": "reply",
            "channel": "social",
            "min_influence": "70",
            "sentiment": "negative",
            "first_reply_minutes": "10",
            "escalation": "[]",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    policy = SlaPolicy.objects.get(name="Loud and angry")
    assert (policy.min_influence, policy.sentiment) == (70.0, "negative")


def test_the_policy_list_shows_influence_and_sentiment(staff, policies):
    page = staff.get("/admin/loops/slapolicy/").content.decode()
    assert "Min influence" in page and "Sentiment" in page
    assert "60.0" in page and "Negative" in page
    filtered = staff.get("/admin/loops/slapolicy/?sentiment=negative").content.decode()
    assert "Influential negative" in filtered and ">Social<" not in filtered


def test_the_policy_admin_refuses_a_sentiment_outside_the_three(staff):
    r = staff.post(
        "/admin/loops/slapolicy/add/",
        {"name": "Odd", "position": 3, "active": "on", "sentiment": "furious", "escalation": "[]"},
    )
    assert (
        r.status_code == 200 and "furious is not one of the available choices" in r.content.decode()
    )
    assert not SlaPolicy.objects.filter(name="Odd").exists()
