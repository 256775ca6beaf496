"""Saving, editing and archiving funnels from the console, through the test client: admins
only (as ``funnel_services`` enforces), POST forms with CSRF, errors on their fields."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lastmile.funnels.funnel_services import funnel_create
from lastmile.funnels.models import Funnel
from lastmile.people.models import Role
from lastmile.people.services import agent_create, team_ensure

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

CHECKOUT = {
    "mode": "ordered",
    "window_seconds": 86400,
    "steps": [{"event": "Product Added"}, {"event": "Checkout Started"}],
}
ADHOC = {
    "steps": "Product Added | plan = pro\npage: Checkout\nOrder Completed | value > 100",
    "window_hours": "2",
    "mode": "strict",
}


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """The analytics copy of this test alone (empty: these pages count nothing)."""
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(client):
    user = agent_create(username="ada", password="pw", role=Role.ADMIN).user
    client.force_login(user)
    return user


@pytest.fixture
def agent(client):
    """An agent of Sales: reads every funnel, may change none."""
    user = agent_create(username="bea", password="pw", teams=[team_ensure(name="Sales")]).user
    client.force_login(user)
    return user


@pytest.fixture
def funnel(now):
    return funnel_create(
        name="Checkout", definition=CHECKOUT, description="Web shop", actor=None, now=now
    )


def adhoc_url(**query: str) -> str:
    from urllib.parse import urlencode

    return f"{reverse('funnels:adhoc')}?{urlencode({**ADHOC, **query})}"


def stored(funnel: Funnel) -> tuple:
    funnel.refresh_from_db()
    return funnel.name, funnel.description, funnel.definition, funnel.team_id, funnel.archived


# --- saving an ad hoc funnel ---------------------------------------------------------------


def test_an_admin_saves_the_ad_hoc_steps_as_a_named_funnel(client, admin):
    sales = team_ensure(name="Sales")
    page = client.get(adhoc_url()).content.decode()
    assert 'id="funnel-save"' in page and "csrfmiddlewaretoken" in page

    response = client.post(
        adhoc_url(), {"name": " Big orders ", "description": "Pro plan", "team": sales.pk}
    )

    funnel = Funnel.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("funnels:detail", args=[funnel.pk])
    assert (funnel.name, funnel.description, funnel.team, funnel.created_by) == (
        "Big orders",
        "Pro plan",
        sales,
        admin,
    )
    assert funnel.definition == {
        "mode": "strict",
        "window_seconds": 7200,
        "steps": [
            {
                "event": "Product Added",
                "where": [{"property": "plan", "op": "equals", "value": "pro"}],
            },
            {"page": "Checkout"},
            {
                "event": "Order Completed",
                "where": [{"property": "value", "op": "gt", "value": 100}],
            },
        ],
        "exclusions": [],
    }
    assert "Saved the funnel Big orders." in client.get(response["Location"]).content.decode()


def test_a_name_another_funnel_has_is_an_error_on_the_name_field(client, admin, funnel):
    funnel_archive_url = reverse("funnels:archive", args=[funnel.pk])
    client.post(funnel_archive_url, {"archived": "1"})  # an archived funnel's name counts

    response = client.post(adhoc_url(), {"name": "Checkout"})

    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="id_name_error"' in html and "Another funnel has this name" in html
    assert 'id="funnel-chart"' in html  # the steps are still counted beside the error
    assert Funnel.objects.count() == 1


def test_a_funnel_without_a_name_is_not_saved(client, admin):
    response = client.post(adhoc_url(), {"name": "  ", "description": "x"})

    assert response.status_code == 422
    assert 'id="id_name_error"' in response.content.decode()
    assert not Funnel.objects.exists()


def test_steps_that_cannot_be_read_are_not_saved(client, admin):
    response = client.post(adhoc_url(steps="Only one step"), {"name": "One"})

    assert response.status_code == 422
    assert 'id="id_steps_error"' in response.content.decode()
    assert not Funnel.objects.exists()


def test_an_agent_sees_no_save_form_and_may_not_post_one(client, agent):
    assert 'id="funnel-save"' not in client.get(adhoc_url()).content.decode()

    response = client.post(adhoc_url(), {"name": "Mine"})

    assert response.status_code == 403
    assert not Funnel.objects.exists()


def test_a_save_without_the_csrf_token_is_refused(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)

    response = client.post(adhoc_url(), {"name": "Forged"})

    assert response.status_code == 403
    assert not Funnel.objects.exists()


# --- editing a saved funnel ----------------------------------------------------------------


def test_the_edit_form_holds_the_funnel_as_the_ad_hoc_page_writes_it(client, admin, funnel):
    response = client.get(reverse("funnels:edit", args=[funnel.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Product Added\nCheckout Started</textarea>" in html
    assert 'value="Checkout"' in html and 'value="24"' in html
    assert "csrfmiddlewaretoken" in html


def test_an_admin_changes_a_funnels_name_description_team_and_steps(client, admin, funnel):
    sales = team_ensure(name="Sales")

    response = client.post(
        reverse("funnels:edit", args=[funnel.pk]),
        {
            "name": "Checkout (web)",
            "description": "",
            "team": sales.pk,
            "steps": "Product Added\nCheckout Started\nOrder Completed | coupon is set",
            "window_hours": "48",
            "mode": "ordered",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("funnels:detail", args=[funnel.pk])
    name, description, definition, team_id, _ = stored(funnel)
    assert (name, description, team_id) == ("Checkout (web)", "", sales.pk)
    assert definition["window_seconds"] == 48 * 3600
    assert definition["steps"][2] == {
        "event": "Order Completed",
        "where": [{"property": "coupon", "op": "is_set"}],
    }


def test_an_edit_with_one_step_is_shown_on_the_steps_field_and_changes_nothing(
    client, admin, funnel
):
    before = stored(funnel)

    response = client.post(
        reverse("funnels:edit", args=[funnel.pk]),
        {"name": "Renamed", "steps": "Product Added", "window_hours": "24", "mode": "ordered"},
    )

    assert response.status_code == 422
    assert 'id="id_steps_error"' in response.content.decode()
    assert stored(funnel) == before


def test_renaming_a_funnel_to_another_ones_name_is_an_error_on_the_name_field(
    client, admin, funnel, now
):
    other = funnel_create(name="Quotes", definition=CHECKOUT, actor=None, now=now)
    before = stored(other)

    response = client.post(
        reverse("funnels:edit", args=[other.pk]),
        {
            "name": "Checkout",
            "steps": "Product Added\nCheckout Started",
            "window_hours": "24",
            "mode": "ordered",
        },
    )

    assert response.status_code == 409
    assert 'id="id_name_error"' in response.content.decode()
    assert stored(other) == before


def test_a_definition_the_form_cannot_show_is_kept_as_it_is(client, admin, now):
    definition = {
        **CHECKOUT,
        "steps": [*CHECKOUT["steps"], {"event": "Order Completed", "within_seconds": 600}],
        "exclusions": [{"event": "Cart Emptied"}],
    }
    funnel = funnel_create(name="Tight", definition=definition, actor=None, now=now)
    before = stored(funnel)[2]
    page = client.get(reverse("funnels:edit", args=[funnel.pk])).content.decode()
    assert 'id="funnel-definition-kept"' in page and 'name="steps"' not in page

    response = client.post(
        reverse("funnels:edit", args=[funnel.pk]),
        {"name": "Tight", "description": "Ten minutes to pay", "steps": "A\nB"},
    )

    assert response.status_code == 302
    _, description, definition_after, _, _ = stored(funnel)
    assert description == "Ten minutes to pay" and definition_after == before


# --- archiving -----------------------------------------------------------------------------


def test_an_admin_archives_a_funnel_and_brings_it_back(client, admin, funnel):
    url = reverse("funnels:archive", args=[funnel.pk])
    page = client.get(reverse("funnels:detail", args=[funnel.pk])).content.decode()
    assert 'id="funnel-edit"' in page and ">Archive</button>" in page

    response = client.post(url, {"archived": "1"})

    assert response.status_code == 302 and stored(funnel)[4] is True
    page = client.get(response["Location"]).content.decode()
    assert "Archived the funnel Checkout." in page and ">Bring back</button>" in page
    client.post(url, {"archived": "0"})
    assert stored(funnel)[4] is False


# --- agents --------------------------------------------------------------------------------


def test_an_agent_sees_no_edit_or_archive_button(client, agent, funnel):
    page = client.get(reverse("funnels:detail", args=[funnel.pk])).content.decode()

    assert 'id="funnel-edit"' not in page and 'id="funnel-archive"' not in page


def test_an_agent_sees_the_archived_funnels_with_no_button_to_bring_one_back(
    client, agent, funnel, now
):
    from lastmile.funnels.funnel_services import funnel_archive

    funnel_archive(funnel=funnel, actor=None, now=now)

    page = client.get(reverse("funnels:list"), {"archived": "1"}).content.decode()

    assert f'id="funnel-{funnel.pk}"' in page and "funnel-restore-" not in page


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_agent_may_not_open_or_post_the_edit_form(client, agent, funnel, method):
    before = stored(funnel)
    data = {"name": "Mine", "steps": "A\nB", "window_hours": "1", "mode": "ordered"}

    response = getattr(client, method)(reverse("funnels:edit", args=[funnel.pk]), data)

    assert response.status_code == 403
    assert stored(funnel) == before


def test_an_agent_may_not_archive_a_funnel(client, agent, funnel):
    response = client.post(reverse("funnels:archive", args=[funnel.pk]), {"archived": "1"})

    assert response.status_code == 403
    assert stored(funnel)[4] is False


def test_a_funnel_not_there_is_a_404_for_an_admin_too(client, admin):
    assert client.post(reverse("funnels:archive", args=[999]), {"archived": "1"}).status_code == 404
    assert client.get(reverse("funnels:edit", args=[999])).status_code == 404
