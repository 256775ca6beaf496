"""The funnel pages and their CSV exports, through the test client: events sent to the
Segment HTTP API, copied by the analytics copy, asked by the pages."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from lastmile.channels import segment
from lastmile.customers.models import Customer, Interaction
from lastmile.funnels import views
from lastmile.funnels.funnel_services import funnel_create
from lastmile.funnels.services import analytics_copy, analytics_engine
from lastmile.people.models import Role
from lastmile.people.services import agent_create, team_ensure
from tests.cases.factories import CaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

CHECKOUT = {
    "mode": "ordered",
    "window_seconds": 86400,
    "steps": [
        {"event": "Product Added"},
        {"event": "Checkout Started"},
        {"event": "Order Completed"},
    ],
}


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """The analytics copy of this test alone."""
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def send(client, now):
    """Post Segment messages to /v1/batch with a source's write key, as a site does."""
    _, key = segment.source_create(name="shop", now=now)
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    def send(*messages):
        response = client.post(
            "/v1/batch",
            json.dumps({"batch": list(messages)}),
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
        )
        assert response.status_code == 200, response.content

    return send


def track(user, event, at, n, **properties):
    return {
        "type": "track",
        "event": event,
        "userId": user,
        "messageId": f"{user}-{n}",
        "timestamp": at.isoformat(),
        "properties": properties,
    }


@pytest.fixture
def shop(send, now):
    """Four shoppers: Alice buys; Bob stops at the checkout; Dave (two days ago) and Carol
    (an hour ago, her window still open) only added a product. Returns their customer ids."""
    day = timedelta(days=1)
    send(
        track("alice", "Product Added", now - 3 * day, 1, plan="pro"),
        track("alice", "Checkout Started", now - 3 * day + timedelta(minutes=10), 2),
        track("alice", "Order Completed", now - 3 * day + timedelta(minutes=30), 3),
        track("bob", "Product Added", now - 2 * day, 1, plan="basic"),
        track("bob", "Checkout Started", now - 2 * day + timedelta(minutes=20), 2),
        track("dave", "Product Added", now - 2 * day, 1, plan="basic"),
        track("carol", "Product Added", now - timedelta(hours=1), 1),
        track("carol", "Page Viewed Elsewhere", now - timedelta(minutes=30), 2),
    )
    analytics_copy(engine=analytics_engine(), now=now)
    ids = {}
    for customer_id, data in Interaction.objects.filter(channel="web").values_list(
        "customer_id", "data"
    ):
        ids[data["userId"]] = customer_id
    return ids


@pytest.fixture
def admin(client):
    user = agent_create(username="ada", password="pw", role=Role.ADMIN).user
    client.force_login(user)
    return user


@pytest.fixture
def funnel(now):
    return funnel_create(
        name="Checkout", definition=CHECKOUT, description="Web shop", actor=None, now=now
    )


def steps_data(response):
    html = response.content.decode()
    start = html.index('<script id="funnel-steps" type="application/json">') + len(
        '<script id="funnel-steps" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def csv_rows(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


# --- the funnel page -----------------------------------------------------------------------


def test_the_funnel_page_counts_each_step_with_its_conversions_and_times(
    client, admin, shop, funnel
):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]))

    assert response.status_code == 200
    assert steps_data(response) == {
        "labels": ["1. Product Added", "2. Checkout Started", "3. Order Completed"],
        "counts": [4, 2, 1],
        "from_first": [100.0, 50.0, 25.0],
        "from_previous": [100.0, 50.0, 50.0],
    }
    html = response.content.decode()
    # the table: Alice took 10 min and Bob 20 to check out (median 15), Alice 20 to pay
    assert "15 min" in html and "19 min" in html  # median and p90 of 10 and 20 minutes
    assert "20 min" in html
    assert 'id="funnel-chart"' in html and 'id="funnel-trend"' in html
    assert "crisis/chart.umd.min.js" in html and "funnels/funnels.js" in html


def test_the_page_says_how_fresh_the_analytics_copy_is(client, admin, shop, funnel):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]))

    html = response.content.decode()
    mark = max(Interaction.objects.values_list("pk", flat=True))
    assert f"events up to #{mark}" in html
    assert "The worker refreshes it" in html


def test_before_any_copy_the_page_says_nothing_is_counted_yet(client, admin, funnel):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]))

    assert response.status_code == 200
    assert "the analytics copy has not run" in response.content.decode()
    assert steps_data(response)["counts"] == [0, 0, 0]


def test_the_drop_offs_of_the_step_most_people_left_are_listed_by_default(
    client, admin, shop, funnel
):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]))

    html = response.content.decode()
    assert "Dropped off before step 2" in html
    carol, dave = shop["carol"], shop["dave"]
    assert f'id="dropoff-{carol}"' in html and f'id="dropoff-{dave}"' in html
    assert f'id="dropoff-{shop["bob"]}"' not in html
    # each links to the customer's console page, with their last event and window
    assert reverse("console:customer", args=[carol]) in html
    row = html[html.index(f'id="dropoff-{carol}"') :]
    row = row[: row.index("</tr>")]
    assert "Page Viewed Elsewhere" in row and "still open" in row
    row = html[html.index(f'id="dropoff-{dave}"') :]
    row = row[: row.index("</tr>")]
    assert "Product Added" in row and 'data-open="no"' in row


def test_another_steps_drop_offs_are_chosen_in_the_query(client, admin, shop, funnel):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]), {"step": "3"})

    html = response.content.decode()
    assert "Dropped off before step 3" in html
    assert f'id="dropoff-{shop["bob"]}"' in html
    assert f'id="dropoff-{shop["carol"]}"' not in html


def test_the_drop_off_list_is_paged_newest_first(client, admin, shop, funnel, monkeypatch):
    # given Carol (last event half an hour ago) came to the shop after Dave (two days ago)
    # and so has the larger id
    monkeypatch.setattr(views, "DROPOFF_PAGE", 1)
    url = reverse("funnels:detail", args=[funnel.pk])
    carol, dave = shop["carol"], shop["dave"]
    assert dave < carol

    # when the list is read a person a page, following the next page's link
    page1 = client.get(url, {"step": "2"}).content.decode()
    link = re.search(r'href="\?([^"]*)#dropoffs" rel="next"', page1)
    assert link is not None
    page2 = client.get(f"{url}?{unescape(link[1])}").content.decode()

    # then Carol, whose last event is the newest, comes first, then Dave
    assert f'id="dropoff-{carol}"' in page1 and f'id="dropoff-{dave}"' not in page1
    assert f'id="dropoff-{dave}"' in page2 and f'id="dropoff-{carol}"' not in page2
    assert 'rel="next"' not in page2 and 'rel="first"' in page2
    assert "Newest first, by their last event" in page1


def test_an_agent_sees_the_drop_offs_they_may_not_open_without_a_link(client, shop, funnel):
    # Given an agent of a team with no case of these shoppers
    user = agent_create(username="bea", password="pw", teams=[team_ensure(name="Sales")]).user
    client.force_login(user)

    response = client.get(reverse("funnels:detail", args=[funnel.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert f"Customer {shop['dave']}" in html
    assert reverse("console:customer", args=[shop["dave"]]) not in html


def test_a_breakdown_by_property_lists_each_group(client, admin, shop, funnel):
    response = client.get(
        reverse("funnels:detail", args=[funnel.pk]), {"breakdown": "property", "property": "plan"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Breakdown by plan" in html
    section = html[html.index('id="funnel-breakdown"') : html.index('id="funnel-trend-card"')]
    assert "basic" in section and "pro" in section and "(none)" in section


def test_a_breakdown_by_first_touch_channel_is_offered_and_lists_each_channel(
    client, admin, shop, funnel
):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]), {"breakdown": "channel"})

    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="channel" selected>First-touch channel</option>' in html
    section = html[html.index('id="funnel-breakdown"') : html.index('id="funnel-trend-card"')]
    assert "<td>web</td>" in section and "(none)" not in section


def test_a_breakdown_by_first_touch_team_is_offered_and_lists_each_team(
    client, admin, shop, funnel, now, team
):
    # given Front office opened a case for Bob before the copy ran
    bob = Customer.objects.get(pk=shop["bob"])
    CaseFactory(customer=bob, team=team, created_at=now, updated_at=now)
    analytics_copy(engine=analytics_engine(), now=now)

    # when the page and the steps' export are broken down by first-touch team
    url = reverse("funnels:detail", args=[funnel.pk])
    response = client.get(url, {"breakdown": "team"})
    exported = client.get(reverse("funnels:steps_csv", args=[funnel.pk]), {"breakdown": "team"})

    # then the choice is offered, and Bob is Front office's (by name), the others nobody's
    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="team" selected>First-touch team</option>' in html
    section = html[html.index('id="funnel-breakdown"') : html.index('id="funnel-trend-card"')]
    assert f"<td>{team.name}</td>" in section and "(none)" in section
    assert team.name != team.slug and f"<td>{team.slug}</td>" not in section
    # and the export keeps the slug, the key the API's breakdown says too
    rows = csv_rows(exported)
    assert [(r[0], r[1], r[3]) for r in rows[1:] if r[1] == "2"] == [
        ("", "2", "2"),
        ("(none)", "2", "1"),
        ("front", "2", "1"),
    ]


# --- validation -----------------------------------------------------------------------------


def test_a_range_ending_before_it_starts_is_shown_on_the_field(client, admin, funnel):
    response = client.get(
        reverse("funnels:detail", args=[funnel.pk]), {"start": "2026-11-20", "end": "2026-11-10"}
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert '<p class="field-error" id="id_end_error">The last day comes before the first.</p>' in (
        html
    )
    assert 'id="funnel-chart"' not in html


def test_a_property_breakdown_without_a_property_is_shown_on_the_field(client, admin, funnel):
    response = client.get(reverse("funnels:detail", args=[funnel.pk]), {"breakdown": "property"})

    assert response.status_code == 422
    assert 'id="id_property_error"' in response.content.decode()


def test_an_ad_hoc_funnel_of_one_step_is_refused_on_the_steps_field(client, admin):
    response = client.get(reverse("funnels:adhoc"), {"steps": "Product Added", "window_hours": 24})

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_steps_error"' in html and "2 to 30 steps" in html


# --- ad hoc, list, permissions ----------------------------------------------------------------


def test_an_ad_hoc_funnel_is_counted_from_its_steps_in_the_query(client, admin, shop):
    response = client.get(
        reverse("funnels:adhoc"),
        {"steps": "Product Added\nCheckout Started", "window_hours": "24", "mode": "strict"},
    )

    assert response.status_code == 200
    assert steps_data(response)["counts"] == [4, 2]


def test_the_ad_hoc_page_opens_empty_with_an_explanation(client, admin):
    response = client.get(reverse("funnels:adhoc"))

    assert response.status_code == 200
    assert 'id="funnel-adhoc-empty"' in response.content.decode()


def test_the_list_shows_each_funnels_entrants_and_conversion_over_30_days(
    client, admin, shop, funnel
):
    response = client.get(reverse("funnels:list"))

    html = response.content.decode()
    row = html[html.index(f'id="funnel-{funnel.pk}"') :]
    row = row[: row.index("</tr>")]
    assert ">Checkout</a>" in row
    assert '<td class="num">4</td>' in row and "25 %" in row


def test_without_funnels_the_list_explains_them_and_links_to_the_admin(client, admin):
    admin.is_staff = True
    admin.save()

    response = client.get(reverse("funnels:list"))

    html = response.content.decode()
    assert 'id="funnels-empty"' in html and "A funnel is the ordered steps" in html
    assert reverse("admin:funnels_funnel_add") in html


def test_the_pages_need_a_signed_in_agent(client, funnel):
    for url in (
        reverse("funnels:list"),
        reverse("funnels:detail", args=[funnel.pk]),
        reverse("funnels:steps_csv", args=[funnel.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_a_missing_funnel_is_a_404(client, admin):
    assert client.get(reverse("funnels:detail", args=[999999])).status_code == 404
    assert client.get(reverse("funnels:trend_csv", args=[999999])).status_code == 404


# --- exports --------------------------------------------------------------------------------


def test_the_steps_export_has_each_steps_numbers(client, admin, shop, funnel):
    response = client.get(reverse("funnels:steps_csv", args=[funnel.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0][:5] == ["breakdown", "step", "name", "count", "conversion_from_first"]
    assert [r[1:6] for r in rows[1:]] == [
        ["1", "Product Added", "4", "1.0", "1.0"],
        ["2", "Checkout Started", "2", "0.5", "0.5"],
        ["3", "Order Completed", "1", "0.25", "0.5"],
    ]
    assert rows[2][6] == "900.0"  # median seconds: 10 and 20 minutes


def test_the_trend_export_has_every_day_of_the_range(client, admin, shop, funnel, now):
    response = client.get(reverse("funnels:trend_csv", args=[funnel.pk]))

    rows = csv_rows(response)
    assert rows[0] == ["day_starting", "entered", "converted", "conversion"]
    assert len(rows) == 1 + 30
    by_day = {r[0]: r[1:] for r in rows[1:]}
    assert by_day[(now - timedelta(days=3)).date().isoformat()] == ["1", "1", "1.0"]
    assert by_day[(now - timedelta(days=2)).date().isoformat()] == ["2", "0", "0.0"]
    assert by_day[now.date().isoformat()] == ["1", "0", "0.0"]
    assert by_day[(now - timedelta(days=10)).date().isoformat()] == ["0", "0", ""]


def test_the_trend_by_week_starts_on_mondays(client, admin, shop, funnel, now):
    response = client.get(reverse("funnels:trend_csv", args=[funnel.pk]), {"interval": "week"})

    rows = csv_rows(response)
    assert rows[0][0] == "week_starting"
    # now is a Monday: this week holds Carol, the week before Alice, Bob and Dave
    assert rows[-1] == [now.date().isoformat(), "1", "0", "0.0"]
    assert rows[-2] == [(now - timedelta(days=7)).date().isoformat(), "3", "1", "0.333333"]


@pytest.mark.parametrize("step", [None, "", "1", "4", "x", "-2"])
def test_the_drop_offs_export_of_a_bad_or_missing_step_is_a_422_naming_it(
    client, admin, shop, funnel, step
):
    query = {} if step is None else {"step": step}

    response = client.get(reverse("funnels:dropoffs_csv", args=[funnel.pk]), query)

    assert response.status_code == 422
    assert not response.streaming
    assert "Step: 2 to 3 (the funnel&#x27;s steps)" in response.content.decode()


def test_the_drop_offs_export_streams_every_drop_off_of_the_step(
    client, admin, shop, funnel, monkeypatch
):
    monkeypatch.setattr(views, "EXPORT_PAGE", 1)  # one person per engine query

    response = client.get(reverse("funnels:dropoffs_csv", args=[funnel.pk]), {"step": "2"})

    assert response.streaming
    rows = csv_rows(response)
    assert rows[0] == [
        "dropped_at_step",
        "customer_id",
        "name",
        "last_event",
        "last_event_at",
        "window_open",
    ]
    # newest first, as on the page
    assert [(int(r[1]), r[0], r[3], r[5]) for r in rows[1:]] == [
        (shop["carol"], "2", "Page Viewed Elsewhere", "True"),
        (shop["dave"], "2", "Product Added", "False"),
    ]


def test_an_export_with_a_bad_range_answers_the_page_with_its_errors(client, admin, funnel):
    response = client.get(reverse("funnels:steps_csv", args=[funnel.pk]), {"start": "2026-13-01"})

    assert response.status_code == 422
    assert 'id="id_start_error"' in response.content.decode()


def test_an_ad_hoc_export_takes_the_steps_of_the_query(client, admin, shop):
    response = client.get(
        reverse("funnels:adhoc_steps_csv"),
        {"steps": "Product Added\npage: Cart", "window_hours": "24", "mode": "ordered"},
    )

    rows = csv_rows(response)
    assert [r[1:4] for r in rows[1:]] == [["1", "Product Added", "4"], ["2", "Cart", "0"]]


def test_an_ad_hoc_export_without_steps_says_so_on_the_field(client, admin):
    response = client.get(reverse("funnels:adhoc_trend_csv"))

    assert response.status_code == 422
    assert 'id="id_steps_error"' in response.content.decode()


def test_a_name_that_looks_like_a_formula_is_exported_as_text():
    from lastmile.funnels.csv import cell

    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell("-5") == "'-5"
    assert cell(-5) == -5
    assert cell("Ana") == "Ana"
    assert cell(None) == ""


def test_the_table_says_what_each_step_asks_besides_its_name(client, admin, shop, now):
    funnel = funnel_create(
        name="Pro checkout",
        definition={
            "window_seconds": 86400,
            "steps": [
                {
                    "event": "Product Added",
                    "where": [{"property": "plan", "op": "equals", "value": "pro"}],
                },
                {"page": "Cart", "optional": True},
                {"event": "Order Completed", "within_seconds": 3600},
            ],
            "exclusions": [{"event": "Cart Emptied", "from_step": 1, "to_step": 3}],
        },
        actor=None,
        now=now,
    )

    response = client.get(reverse("funnels:detail", args=[funnel.pk]))

    html = response.content.decode()
    assert '<div class="explain">plan is &quot;pro&quot;</div>' in html
    assert '<div class="explain">page · optional</div>' in html
    assert '<div class="explain">within 1 h</div>' in html
    assert "excluding Cart Emptied between steps 1 and 3" in html
    # Alice, the one pro, skipped the optional cart and paid within the hour
    assert steps_data(response)["counts"] == [1, 0, 1]


def test_the_lists_queries_do_not_grow_with_its_funnels(client, admin, shop, funnel, now):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(reverse("funnels:list"))
    for name in ("Second", "Third"):
        funnel_create(name=name, definition=CHECKOUT, actor=None, now=now)

    with CaptureQueriesContext(connection) as three:
        response = client.get(reverse("funnels:list"))

    assert response.content.decode().count('class="loop-title"') == 3
    assert len(three) == len(one)


def test_a_signed_in_user_who_is_not_an_agent_sees_no_saved_funnel(client, shop, funnel):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user(username="outsider", password="pw"))

    assert client.get(reverse("funnels:detail", args=[funnel.pk])).status_code == 404
    assert client.get(reverse("funnels:dropoffs_csv", args=[funnel.pk])).status_code == 404
    assert f'id="funnel-{funnel.pk}"' not in client.get(reverse("funnels:list")).content.decode()


def test_an_archived_funnel_still_opens_from_an_old_link_but_leaves_the_list(
    client, admin, shop, funnel, now
):
    from lastmile.funnels.funnel_services import funnel_archive

    funnel_archive(funnel=funnel, actor=None, now=now)

    response = client.get(reverse("funnels:detail", args=[funnel.pk]))
    assert response.status_code == 200 and "archived" in response.content.decode()
    assert f'id="funnel-{funnel.pk}"' not in client.get(reverse("funnels:list")).content.decode()


def test_archived_funnels_are_listed_apart_and_an_admin_brings_one_back(
    client, admin, shop, funnel, now
):
    from lastmile.funnels.funnel_services import funnel_archive

    # given the funnel archived
    funnel_archive(funnel=funnel, actor=None, now=now)
    live = client.get(reverse("funnels:list")).content.decode()

    # when the list's "Archived funnels" link is followed
    assert f'href="{reverse("funnels:list")}?archived=1">Archived funnels</a>' in live
    response = client.get(reverse("funnels:list"), {"archived": "1"})

    # then the archived funnel is there, with its button to bring it back
    html = response.content.decode()
    assert response.status_code == 200 and "<h1>Archived funnels</h1>" in html
    assert f'id="funnel-{funnel.pk}"' in html and f'id="funnel-restore-{funnel.pk}"' in html
    restored = client.post(reverse("funnels:archive", args=[funnel.pk]), {"archived": "0"})
    assert restored.status_code == 302
    assert f'id="funnel-{funnel.pk}"' in client.get(reverse("funnels:list")).content.decode()
    again = client.get(reverse("funnels:list"), {"archived": "1"}).content.decode()
    assert f'id="funnel-{funnel.pk}"' not in again and "No archived funnel" in again


def test_staff_find_the_admin_edit_link_on_a_funnel(client, admin, funnel):
    admin.is_staff = True
    admin.save()

    html = client.get(reverse("funnels:detail", args=[funnel.pk])).content.decode()

    assert reverse("admin:funnels_funnel_change", args=[funnel.pk]) in html


def test_the_list_and_a_funnel_link_to_the_funnels_close_rate(client, admin, funnel):
    listed = client.get(reverse("funnels:list")).content.decode()
    page = client.get(reverse("funnels:detail", args=[funnel.pk])).content.decode()

    assert f'href="{reverse("recovery:close_rate")}"' in listed
    assert f'href="{reverse("recovery:close_rate")}?funnel={funnel.pk}">Close rate</a>' in page
    assert client.get(f"{reverse('recovery:close_rate')}?funnel={funnel.pk}").status_code == 200


def test_an_ad_hoc_step_takes_property_filters_after_a_bar(client, admin, shop):
    response = client.get(
        reverse("funnels:adhoc"),
        {"steps": "Product Added | plan = basic\nCheckout Started", "window_hours": "24"},
    )

    assert response.status_code == 200
    assert steps_data(response)["counts"] == [2, 1]  # Bob and Dave; Bob checked out


def test_an_ad_hoc_filter_that_cannot_be_read_is_shown_on_the_steps_field(client, admin):
    response = client.get(
        reverse("funnels:adhoc"), {"steps": "Product Added | plan\nCheckout Started"}
    )

    assert response.status_code == 422
    assert "Step 1: cannot read the filter" in response.content.decode()


def test_a_definition_error_in_a_step_is_shown_on_the_steps_field_with_its_number(client, admin):
    response = client.get(
        reverse("funnels:adhoc"),
        {"steps": "Product Added\nCheckout Started | value > cheap", "window_hours": "24"},
    )

    assert response.status_code == 422
    html = response.content.decode()
    error = html[html.index('id="id_steps_error"') :]
    assert error[: error.index("</p>")].endswith("Step 2: value: gt needs a number")
