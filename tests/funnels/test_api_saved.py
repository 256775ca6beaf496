"""Saved funnels through /api/v1/funnels: who may write them, what is checked, asking
them over a range, their trend and their drop-offs, on events sent to /v1/batch."""

# ruff: noqa: F811 - the fixtures imported from test_api are redefined as test arguments

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.models import AuditEntry
from lastmile.funnels import funnel_services
from lastmile.funnels.models import Funnel
from tests.funnels.test_api import (  # noqa: F401 - fixtures
    STEPS,
    _analytics_dir,
    agent_api,
    api_for,
    copy,
    integration,
    send,
    shop,
    track,
    write_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

CART = {"name": "Cart", "steps": STEPS, "window_seconds": 86400}
CART_DEFINITION = {"steps": STEPS, "window_seconds": 86400}


@pytest.fixture
def admin_api(client, now, admin_user):
    return api_for(client, now, admin_user)


@pytest.fixture
def cart(integration, team):
    r = integration.post("/funnels", {**CART, "description": "Online shop", "team": "front"})
    assert r.status_code == 201, r.content
    return r.json()


def _fields(r, status=422):
    assert r.status_code == status, r.content
    return [e["field"] for e in r.json()["errors"]]


def test_an_integration_saves_a_funnel_and_every_agent_reads_it(cart, agent_api):
    # given the funnel an integration saved
    assert cart["name"] == "Cart" and cart["team"] == "front"
    assert cart["mode"] == "ordered" and cart["window_seconds"] == 86400
    assert [s["event"] for s in cart["steps"]] == [s["event"] for s in STEPS]
    assert cart["created_by"] is None and cart["archived"] is False

    # when an agent lists them and reads it
    listed = agent_api.get("/funnels").json()
    one = agent_api.get(f"/funnels/{cart['id']}").json()

    # then it is there, as saved
    assert [f["id"] for f in listed["items"]] == [cart["id"]] and listed["count"] == 1
    assert one == cart


def test_an_admin_agent_saves_a_funnel_as_themself(admin_api):
    r = admin_api.post("/funnels", CART)

    assert r.status_code == 201, r.content
    assert r.json()["created_by"] == "boss"
    assert Funnel.objects.get().created_by.username == "boss"


def test_an_agent_may_not_save_change_or_archive_a_funnel(cart, agent_api):
    # given the stored funnel and its audit
    audits = AuditEntry.objects.count()
    path = f"/funnels/{cart['id']}"

    # when an agent tries each write
    created = agent_api.post("/funnels", {**CART, "name": "Mine"})
    replaced = agent_api.client.put(
        f"/api/v1{path}",
        '{"name": "X", "steps": [{"event": "A"}, {"event": "B"}], "window_seconds": 60}',
        content_type="application/json",
        **agent_api.headers,
    )
    changed = agent_api.patch(path, {"name": "X"})
    archived = agent_api.client.delete(f"/api/v1{path}", **agent_api.headers)

    # then each is refused and nothing changed
    assert [r.status_code for r in (created, replaced, changed, archived)] == [403] * 4
    assert created.json()["code"] == "forbidden"
    funnel = Funnel.objects.get()
    assert (funnel.name, funnel.archived, Funnel.objects.count()) == ("Cart", False, 1)
    assert AuditEntry.objects.count() == audits


def test_a_funnel_name_is_taken_once(cart, integration):
    r = integration.post("/funnels", CART)

    assert _fields(r, 409) == ["name"]
    assert r.json()["code"] == "duplicate"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": []}, "steps"),
        ({"mode": "sideways"}, "mode"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 366 * 24 * 3600}, "window_seconds"),
        ({"from": "2026-11-01T00:00:00Z"}, "from"),
        ({"breakdown": {"property": "plan"}}, "breakdown"),
        ({"team": "nowhere"}, "team"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_saved_funnel_is_a_422_naming_the_field(integration, team, change, field):
    r = integration.post("/funnels", {**CART, **change})

    assert field in _fields(r)
    assert not Funnel.objects.exists()


def test_put_replaces_a_funnel_and_patch_changes_only_what_is_given(cart, integration):
    path = f"/api/v1/funnels/{cart['id']}"
    body = '{"name": "Checkout", "steps": [{"event": "A"}, {"event": "B"}], "window_seconds": 60}'

    put = integration.client.put(path, body, content_type="application/json", **integration.headers)

    assert put.status_code == 200, put.content
    replaced = put.json()
    assert (replaced["name"], replaced["team"], replaced["description"]) == ("Checkout", None, "")
    assert [s["event"] for s in replaced["steps"]] == ["A", "B"]

    patched = integration.patch(
        f"/funnels/{cart['id']}", {"window_seconds": 3600, "mode": "strict"}
    )

    assert patched.status_code == 200, patched.content
    after = patched.json()
    assert (after["name"], after["window_seconds"], after["mode"]) == ("Checkout", 3600, "strict")
    assert after["steps"] == replaced["steps"]


def test_a_patch_that_breaks_the_definition_names_the_field_and_changes_nothing(cart, integration):
    r = integration.patch(
        f"/funnels/{cart['id']}", {"mode": "unordered", "exclusions": [{"event": "X"}]}
    )

    assert _fields(r) == ["exclusions"]
    assert Funnel.objects.get().definition["mode"] == "ordered"


def test_delete_archives_the_funnel_and_patch_brings_it_back(cart, integration):
    path = f"/funnels/{cart['id']}"

    deleted = integration.client.delete(f"/api/v1{path}", **integration.headers)

    assert deleted.status_code == 200 and deleted.json()["archived"] is True
    assert integration.get("/funnels").json()["count"] == 0
    assert [f["id"] for f in integration.get("/funnels", archived="true").json()["items"]] == [
        cart["id"]
    ]
    assert integration.get(path).json()["archived"] is True
    assert AuditEntry.objects.filter(object_type="funnels.funnel", action="changed").count() == 1

    back = integration.patch(path, {"archived": False})

    assert back.json()["archived"] is False
    assert integration.get("/funnels").json()["count"] == 1


def test_a_missing_funnel_is_a_404(integration):
    assert integration.get("/funnels/999").status_code == 404
    assert integration.post("/funnels/999/query", {}).status_code == 404


def test_a_saved_funnel_is_asked_over_the_range_given(cart, shop, integration, now):
    path = f"/funnels/{cart['id']}/query"

    ranged = integration.post(path, {"from": (now - timedelta(days=2)).isoformat()}).json()
    default = integration.post(path, {}).json()
    split = integration.post(path, {"breakdown": {"property": "plan"}}).json()

    assert ranged["funnel"] == cart["id"]
    assert [s["count"] for s in ranged["steps"]] == [3, 2, 1]
    assert default["people"] == 4  # the last 30 days: e too
    assert {b["value"]: b["people"] for b in split["breakdown"]} == {"free": 2, "pro": 1, None: 1}


def test_a_saved_query_with_from_after_to_is_a_422_naming_from(cart, integration):
    r = integration.post(
        f"/funnels/{cart['id']}/query",
        {"from": "2026-11-23T00:00:00Z", "to": "2026-11-22T00:00:00Z"},
    )

    assert _fields(r) == ["from"]


def test_the_trend_counts_entries_and_conversions_per_day_and_week(cart, shop, integration):
    path = f"/funnels/{cart['id']}/trend"

    days = integration.get(path, interval="day").json()
    weeks = integration.get(path, interval="week").json()

    # e entered on Friday the 20th; a, b and c on Sunday the 22nd, and a converted
    assert [(p["start"], p["entered"], p["converted"]) for p in days["points"]] == [
        ("2026-11-20", 1, 0),
        ("2026-11-22", 3, 1),
    ]
    assert [(p["start"], p["entered"], p["converted"]) for p in weeks["points"]] == [
        ("2026-11-16", 4, 1)
    ]
    assert weeks["points"][0]["conversion"] == 0.25
    assert days["freshness"]["mark"] > 0


def test_an_unknown_trend_interval_is_a_422(cart, integration):
    assert _fields(integration.get(f"/funnels/{cart['id']}/trend", interval="month")) == [
        "interval"
    ]


def test_dropoffs_list_each_person_with_their_last_event_and_open_window(
    cart, shop, integration, agent_api
):
    path = f"/funnels/{cart['id']}/dropoffs"

    # when the people who stopped before step 2 are asked for, one a page
    first = integration.get(path, step=2, limit=1).json()
    second = integration.get(path, step=2, limit=1, after=first["next_after"]).json()
    as_agent = agent_api.get(path, step=2).json()

    # then c (a day ago: window open) and e (three days ago: closed), by id
    people = first["items"] + second["items"]
    assert second["next_after"] is None
    assert [p["last_event"] for p in people] == ["Product Added", "Product Added"]
    assert [p["window_open"] for p in people] == [True, False]
    assert all(p["display_name"] for p in people)
    # an agent who may see neither customer gets their ids, not their names
    assert [p["id"] for p in as_agent["items"]] == [p["id"] for p in people]
    assert [p["display_name"] for p in as_agent["items"]] == [None, None]


def test_dropoffs_are_listed_newest_first_by_their_last_event(cart, shop, send, copy, integration):
    # given c and e dropped off before step 2 (c a day ago, e three days ago), and e came
    # back an hour ago and read the pricing page
    send(track("e", "Pricing Viewed", shop + timedelta(hours=23)))
    copy()
    path = f"/funnels/{cart['id']}/dropoffs"

    # when they are asked for, one a page
    first = integration.get(path, step=2, limit=1).json()
    second = integration.get(path, step=2, limit=1, after=first["next_after"]).json()

    # then e comes first, by their newer last event, though c's id is smaller
    people = first["items"] + second["items"]
    assert [p["last_event"] for p in people] == ["Pricing Viewed", "Product Added"]
    assert people[0]["id"] > people[1]["id"] and second["next_after"] is None


@pytest.mark.parametrize("after", ["12", "x_1", "1_-2", "1.5_2", "99999999999999999999_1"])
def test_a_dropoff_page_after_no_page_is_a_422_naming_after(cart, integration, after):
    r = integration.get(f"/funnels/{cart['id']}/dropoffs", step=2, after=after)
    assert _fields(r) == ["after"]


def test_dropoffs_before_the_last_step(cart, shop, integration):
    body = integration.get(f"/funnels/{cart['id']}/dropoffs", step=3).json()

    assert [(p["last_event"], p["window_open"]) for p in body["items"]] == [
        ("Checkout Started", True)
    ]


@pytest.mark.parametrize("step", ["1", "4", "0", "two"])
def test_a_dropoff_step_out_of_range_is_a_422_naming_step(cart, integration, step):
    assert _fields(integration.get(f"/funnels/{cart['id']}/dropoffs", step=step)) == ["step"]


def test_the_list_reads_a_page_in_a_fixed_number_of_queries(
    integration, team, admin_user, now, django_assert_num_queries
):
    # given funnels with a team and an author each
    for n in range(5):
        funnel_services.funnel_create(
            name=f"F{n}", definition=CART_DEFINITION, team=team, actor=admin_user, now=now
        )
    integration.get("/funnels")  # the token's first use records it

    # when the list is read: the token, the count, the page with its teams and authors
    with django_assert_num_queries(3):
        r = integration.get("/funnels")

    assert [f["created_by"] for f in r.json()["items"]] == ["boss"] * 5
