"""The funnels API asked about real events: sent to the Segment endpoint (/v1/batch),
copied by the analytics copy into the engine, then asked through /api/v1/funnels."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.channels import segment
from lastmile.customers.models import CustomerMerge, Interaction
from lastmile.funnels import services
from lastmile.loops.services import loop_open
from lastmile.people.models import Agent
from tests.api.client import Api
from tests.cases.factories import CaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

STEPS = [{"event": "Product Added"}, {"event": "Checkout Started"}, {"event": "Order Completed"}]
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _analytics_dir(settings, tmp_path):
    """Each test its own copy: the engine lives under the var dir."""
    settings.VAR_DIR = tmp_path


@pytest.fixture
def write_key(db, now):
    return segment.source_create(name="shop", now=now)[1]


@pytest.fixture
def send(client, write_key):
    """POST a batch to the Segment endpoint, as a site's analytics library does."""

    def send(*messages):
        basic = base64.b64encode(f"{write_key}:".encode()).decode()
        r = client.post(
            "/v1/batch",
            json.dumps({"batch": list(messages)}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )
        assert r.status_code == 200, r.content

    return send


def track(user, event, at, **properties):
    return {
        "type": "track",
        "event": event,
        "userId": user,
        "messageId": f"m{next(_names)}",
        "timestamp": at.isoformat(),
        "properties": properties,
    }


@pytest.fixture
def copy(now):
    """Run the analytics copy, as the worker does."""

    def copy():
        return services.analytics_copy(engine=services.analytics_engine(), now=now)

    return copy


@pytest.fixture
def shop(send, copy, now):
    """Five shoppers, the first a day ago. Steps 1..3: three entered, two checked out, one
    ordered; e (three days ago) is outside a 2-day range; d never added a product.

    a: added, checkout +10 min, order +30 min  (converted)
    b: added +1 h, checkout +20 min            (dropped before step 3, window open)
    c: added +2 h                              (dropped before step 2, window open)
    d: checkout only                           (not in the funnel)
    e: added 3 days ago                        (dropped before step 2, window closed)
    """
    t0 = now - timedelta(days=1)
    send(
        track("a", "Product Added", t0, plan="pro"),
        track("a", "Checkout Started", t0 + timedelta(minutes=10)),
        track("a", "Order Completed", t0 + timedelta(minutes=30), value=120),
        track("b", "Product Added", t0 + timedelta(hours=1), plan="free"),
        track("b", "Checkout Started", t0 + timedelta(hours=1, minutes=20)),
        track("c", "Product Added", t0 + timedelta(hours=2), plan="free"),
        track("d", "Checkout Started", t0 + timedelta(hours=3)),
        track("e", "Product Added", now - timedelta(days=3)),
    )
    copy()
    return t0


_tokens = itertools.count(1)


def api_for(client, now, user=None):
    """The API as ``user``'s agent token, or as an integration token (no user)."""
    agent = Agent.objects.get(user=user) if user is not None else None
    name = f"{user.username if user else 'integration'}-{next(_tokens)}"
    return Api(client, token_create(name=name, agent=agent, now=now)[1])


@pytest.fixture
def integration(client, now):
    return api_for(client, now)


@pytest.fixture
def agent_api(client, now, alice):
    return api_for(client, now, alice)


def ask(api, **body):
    return api.post("/funnels/query", {"steps": STEPS, "window_seconds": 86400, **body})


def test_an_ad_hoc_funnel_counts_conversions_and_times_per_step(agent_api, shop, now):
    # when an agent asks the funnel of the example over the last two days
    r = ask(
        agent_api,
        mode="ordered",
        breakdown=None,
        **{"from": (now - timedelta(days=2)).isoformat(), "to": now.isoformat()},
    )

    # then a, b and c entered, a and b checked out, a ordered
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["people"] == 3
    steps = body["steps"]
    assert [s["event"] for s in steps] == ["Product Added", "Checkout Started", "Order Completed"]
    assert [s["count"] for s in steps] == [3, 2, 1]
    assert [s["conversion_from_first"] for s in steps] == [1, pytest.approx(2 / 3), 1 / 3]
    assert [s["conversion_from_previous"] for s in steps] == [1, pytest.approx(2 / 3), 0.5]
    # a took 10 min and b 20 min to check out; a 20 min more to order
    assert steps[0]["median_seconds_from_previous"] is None
    assert steps[1]["median_seconds_from_previous"] == 900
    assert steps[1]["p90_seconds_from_previous"] == pytest.approx(1140)
    assert steps[2]["median_seconds_from_previous"] == 1200
    assert body["breakdown"] is None
    assert body["from"] == "2026-11-21T10:00:00Z" and body["to"] == "2026-11-23T10:00:00Z"


def test_the_answer_says_how_fresh_the_copy_is(integration, send, copy, now):
    # given nothing copied yet
    before = ask(integration).json()
    assert before["freshness"] == {"mark": 0, "copied_at": None}
    assert [s["count"] for s in before["steps"]] == [0, 0, 0]

    # when an event arrives and the copy runs
    send(track("a", "Product Added", now - timedelta(hours=1)))
    report = copy()

    # then the answer counts it and gives the copy's mark and time
    after = ask(integration).json()
    assert after["steps"][0]["count"] == 1
    assert after["freshness"]["mark"] == report.mark > 0
    assert after["freshness"]["copied_at"] is not None


def test_an_event_not_copied_yet_is_not_counted(integration, shop, send, now):
    send(track("f", "Product Added", now - timedelta(minutes=5)))

    body = ask(integration).json()

    # a, b, c and e: not f
    assert body["people"] == 4


def test_the_default_range_is_the_last_30_days(integration, shop, now):
    body = ask(integration).json()

    # e, three days ago, is inside it now
    assert body["people"] == 4
    assert body["to"] == "2026-11-23T10:00:00Z" and body["from"] == "2026-10-24T10:00:00Z"


def test_a_breakdown_by_property_splits_the_people(integration, shop, now):
    r = ask(
        integration,
        breakdown={"property": "plan"},
        **{"from": (now - timedelta(days=2)).isoformat()},
    )

    assert r.status_code == 200, r.content
    buckets = {b["value"]: b for b in r.json()["breakdown"]}
    assert {v: b["people"] for v, b in buckets.items()} == {"free": 2, "pro": 1}
    assert [s["count"] for s in buckets["free"]["steps"]] == [2, 1, 0]
    assert [s["count"] for s in buckets["pro"]["steps"]] == [1, 1, 1]


def test_a_breakdown_by_first_touch_channel_splits_the_people(integration, shop, send, copy, now):
    # given c opened the app (a screen call) before shopping on the web
    screen = {"type": "screen", "name": "Home", "userId": "c", "messageId": "c-app"}
    send({**screen, "timestamp": (shop - timedelta(hours=1)).isoformat()})
    copy()

    # when the funnel is broken down by first-touch channel
    r = ask(
        integration,
        breakdown={"first_touch": "channel"},
        **{"from": (now - timedelta(days=2)).isoformat()},
    )

    # then c is in "app", a and b in "web"
    assert r.status_code == 200, r.content
    assert [(b["value"], b["people"]) for b in r.json()["breakdown"]] == [("web", 2), ("app", 1)]


def test_a_breakdown_by_first_touch_team_splits_the_people(
    integration, shop, copy, now, team, other_team
):
    # given front opened a case for a, and back a loop for b, then front a loop for b
    a, b = (Interaction.objects.filter(data__userId=u).first().customer for u in "ab")
    CaseFactory(customer=a, team=team, created_at=shop, updated_at=shop)
    loop_open(customer=b, kind="task", title="Call", team=other_team, now=shop)
    loop_open(customer=b, kind="task", title="Call", team=team, now=shop + timedelta(hours=1))
    copy()

    # when the funnel is broken down by first-touch team
    r = ask(
        integration,
        breakdown={"first_touch": "team"},
        **{"from": (now - timedelta(days=2)).isoformat()},
    )

    # then a is front's, b back's (the first to touch them), c nobody's
    assert r.status_code == 200, r.content
    got = [
        (b["value"], b["people"], [s["count"] for s in b["steps"]]) for b in r.json()["breakdown"]
    ]
    assert got == [("back", 1, [1, 1, 0]), ("front", 1, [1, 1, 1]), (None, 1, [1, 0, 0])]


def test_a_page_step_answers_under_its_name(integration, send, copy, now):
    send(
        {"type": "page", "name": "Pricing", "userId": "p", "messageId": "p1",
         "timestamp": (now - timedelta(hours=2)).isoformat()},
        track("p", "Signed Up", now - timedelta(hours=1)),
    )  # fmt: skip
    copy()

    r = integration.post(
        "/funnels/query",
        {"steps": [{"page": "Pricing"}, {"event": "Signed Up"}], "window_seconds": 86400},
    )

    assert [(s["kind"], s["event"], s["count"]) for s in r.json()["steps"]] == [
        ("page", "Pricing", 1),
        ("track", "Signed Up", 1),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"event": "Product Added"}]}, "steps"),
        ({"mode": "sideways"}, "mode"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 365 * 24 * 3600 + 1}, "window_seconds"),
        ({"window_seconds": "86400"}, "window_seconds"),
        ({"from": "2026-11-23T10:00:00Z", "to": "2026-11-22T10:00:00Z"}, "from"),
        ({"from": "2026-11-23"}, "from"),
        # a model validator's error names its field first in the reason: "event: give..."
        ({"steps": [{"event": "A"}, {"event": "B", "page": "C"}]}, "steps[1]: event"),
        ({"steps": [{"event": "A"}, {"event": "B", "colour": "red"}]}, "steps[1].colour"),
        (
            {"steps": [{"event": "A"}, {"event": "B", "within_seconds": "5"}]},
            "steps[1].within_seconds",
        ),
        ({"steps": [{"event": "A"}, {"event": "B", "optional": 1}]}, "steps[1].optional"),
        (
            {"steps": [{"event": "A"}, {"event": "B", "where": [{"property": "v", "op": "gt"}]}]},
            "steps[1].where[0]: value",
        ),
        ({"steps": [{"event": "A", "optional": True}, {"event": "B"}]}, "steps"),
        ({"exclusions": [{"event": "X", "from_step": 3, "to_step": 2}]}, "exclusions"),
        ({"breakdown": {"property": "a", "first_touch": "source"}}, "breakdown: property"),
        ({"breakdown": {"first_touch": "campaign"}}, "breakdown.first_touch"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(integration, change, field):
    body = {"steps": STEPS, "window_seconds": 86400, **change}

    r = integration.post("/funnels/query", body)

    assert field in _error_fields(r)


def _error_fields(r):
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "invalid"
    named = [e["field"] for e in body["errors"]]
    # "steps[1]: event" stands for the field steps[1] with a reason about its event
    return named + [f"{e['field']}: {e['reason'].partition(':')[0]}" for e in body["errors"]]


def test_a_query_needs_a_token(client):
    r = client.post(
        "/api/v1/funnels/query",
        json.dumps({"steps": STEPS, "window_seconds": 60}),
        content_type="application/json",
    )

    assert r.status_code == 401


def test_a_visitor_who_signs_in_later_counts_once(integration, send, copy, now):
    # given an anonymous visitor's cart, their sign-in, then their checkout as a user
    t0 = now - timedelta(hours=3)
    send(
        {"type": "track", "event": "Product Added", "anonymousId": "anon-7", "messageId": "v1",
         "timestamp": t0.isoformat()},
        {"type": "identify", "anonymousId": "anon-7", "userId": "zoe", "messageId": "v2",
         "timestamp": (t0 + timedelta(minutes=1)).isoformat(), "traits": {"name": "Zoe"}},
        track("zoe", "Checkout Started", t0 + timedelta(minutes=2)),
    )  # fmt: skip
    copy()

    body = ask(integration).json()

    # then one person added and checked out
    assert [s["count"] for s in body["steps"]] == [1, 1, 0]


def test_a_visitor_merged_into_a_known_customer_counts_as_that_customer(
    integration, send, copy, now
):
    # given a known customer, and an anonymous visitor's cart copied before they sign in
    t0 = now - timedelta(hours=3)
    send(track("yan", "Page Viewed", t0 - timedelta(days=1)))
    send({"type": "track", "event": "Product Added", "anonymousId": "anon-8", "messageId": "w1",
          "timestamp": t0.isoformat()})  # fmt: skip
    copy()

    # when the visitor signs in as that customer and checks out
    send(
        {"type": "identify", "anonymousId": "anon-8", "userId": "yan", "messageId": "w2",
         "timestamp": (t0 + timedelta(minutes=1)).isoformat()},
        track("yan", "Checkout Started", t0 + timedelta(minutes=2)),
    )  # fmt: skip
    copy()

    # then the visitor was merged into the customer, and the cart and the checkout are theirs
    assert CustomerMerge.objects.count() == 1
    body = ask(integration).json()
    assert [s["count"] for s in body["steps"]] == [1, 1, 0]
