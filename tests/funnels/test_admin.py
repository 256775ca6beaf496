"""Saved funnels in the Django admin: the definition as JSON, checked as the API checks it."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission

from lastmile.core.models import AuditEntry
from lastmile.funnels import funnel_services
from lastmile.funnels.models import Funnel
from tests.people.factories import AgentFactory

pytestmark = pytest.mark.django_db

DEFINITION = {
    "mode": "ordered",
    "window_seconds": 3600,
    "steps": [{"event": "Product Added"}, {"event": "Order Completed"}],
}


@pytest.fixture
def cart(now):
    return funnel_services.funnel_create(
        name="Cart", description="Shop", definition=DEFINITION, actor=None, now=now
    )


def form(name="Cart", definition=DEFINITION, team=""):
    return {
        "name": name,
        "description": "",
        "team": team,
        "definition": definition if isinstance(definition, str) else json.dumps(definition),
    }


def test_the_list_shows_and_searches_saved_funnels(staff, cart, now):
    funnel_services.funnel_create(name="Mortgage", definition=DEFINITION, actor=None, now=now)

    page = staff.get("/admin/funnels/funnel/", {"q": "cart"})

    assert page.status_code == 200
    assert b"Product Added \xe2\x86\x92 Order Completed" in page.content
    assert b"Mortgage" not in page.content


def test_the_add_page_offers_an_example_and_explains_the_definition(staff):
    page = staff.get("/admin/funnels/funnel/add/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "window_seconds" in text and "Checkout Started" in text
    assert "chosen each time the funnel is asked" in text


def test_an_admin_adds_a_funnel_checked_and_audited(staff, admin_user, team):
    r = staff.post("/admin/funnels/funnel/add/", form(team=team.pk))

    assert r.status_code == 302, r.content.decode()[:2000]
    funnel = Funnel.objects.get()
    assert (funnel.name, funnel.team, funnel.created_by) == ("Cart", team, admin_user)
    assert funnel.definition == {**DEFINITION, "exclusions": []}
    assert AuditEntry.objects.filter(object_type="funnels.funnel", action="created").count() == 1


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({**DEFINITION, "steps": []}, "steps: List should have at least 2 items"),
        ({**DEFINITION, "window_seconds": 0}, "window_seconds: Input should be greater than 0"),
        (
            {
                **DEFINITION,
                "steps": [
                    {"event": "A"},
                    {"event": "B", "where": [{"property": "v", "op": "gt", "value": "x"}]},
                ],
            },
            "steps[1].where[0].value: gt needs a number",
        ),
        ({**DEFINITION, "from": "2026-11-01T00:00:00Z"}, "from: chosen each time"),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_a_bad_definition_is_shown_with_its_field_and_nothing_is_saved(staff, definition, message):
    r = staff.post("/admin/funnels/funnel/add/", form(definition=definition))

    assert r.status_code == 200
    assert message in r.content.decode()
    assert not Funnel.objects.exists()


def test_an_admin_changes_a_funnel(staff, cart):
    changed = {**DEFINITION, "mode": "strict"}

    r = staff.post(
        f"/admin/funnels/funnel/{cart.pk}/change/", form(name="Basket", definition=changed)
    )

    assert r.status_code == 302
    cart.refresh_from_db()
    assert (cart.name, cart.definition["mode"]) == ("Basket", "strict")


def test_funnels_are_archived_and_brought_back_not_deleted(staff, cart):
    archived = staff.post(
        "/admin/funnels/funnel/", {"action": "archive", "_selected_action": [cart.pk]}
    )
    cart.refresh_from_db()
    assert archived.status_code == 302 and cart.archived

    staff.post("/admin/funnels/funnel/", {"action": "bring_back", "_selected_action": [cart.pk]})
    cart.refresh_from_db()
    assert not cart.archived
    assert staff.get(f"/admin/funnels/funnel/{cart.pk}/delete/").status_code == 403


def test_staff_who_are_not_admins_may_only_read(client, cart):
    user = AgentFactory(user__username="dora", role="agent").user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="funnels"))
    client.force_login(user)

    assert client.get("/admin/funnels/funnel/add/").status_code == 403
    r = client.post(f"/admin/funnels/funnel/{cart.pk}/change/", form(name="Mine"))
    assert r.status_code == 403
    cart.refresh_from_db()
    assert cart.name == "Cart"
