"""Saved funnels' services: each definition checked and stored without its range, the
admins-only rule, archiving, and the audit of each change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.core.errors import Conflict, InvalidInput, PermissionDenied
from lastmile.core.models import AuditEntry
from lastmile.funnels import funnel_services
from lastmile.funnels.funnel_selectors import funnel_definition, funnel_get, funnel_list
from lastmile.funnels.funnel_services import definition_build, definition_check
from lastmile.funnels.models import Funnel
from lastmile.people.viewers import SYSTEM
from tests.funnels.strategies import funnels

CART = {
    "window_seconds": 3600,
    "steps": [
        {"event": "Product Added", "where": [], "optional": False},
        {"event": "Order Completed", "where": [{"property": "value", "op": "gt", "value": 0}]},
    ],
}


@pytest.fixture
def cart(db, now):
    return funnel_services.funnel_create(name="Cart", definition=CART, actor=None, now=now)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["ordered", "strict", "unordered"]).flatmap(lambda m: funnels(m, True)))
def test_a_stored_definition_asks_the_same_funnel_over_any_range(d):
    # given any valid funnel, stored without its range and breakdown
    saved = d.model_dump(mode="json", by_alias=True, exclude={"from_", "to", "breakdown"})
    stored = definition_check(definition=saved)

    # when it is asked again over the same range
    again = definition_build(definition=stored, from_=d.from_, to=d.to)

    # then it is the same funnel
    assert again == d.model_copy(update={"breakdown": None})
    assert "from" not in stored and "breakdown" not in stored


def test_a_definition_is_stored_without_its_defaults(cart):
    assert cart.definition == {
        "mode": "ordered",
        "window_seconds": 3600,
        "steps": [
            {"event": "Product Added"},
            {"event": "Order Completed", "where": [{"property": "value", "op": "gt", "value": 0}]},
        ],
        "exclusions": [],
    }


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({**CART, "steps": []}, "steps"),
        ({**CART, "mode": "sideways"}, "mode"),
        ({**CART, "window_seconds": 0}, "window_seconds"),
        ({**CART, "window_seconds": 365 * 24 * 3600 + 1}, "window_seconds"),
        ({**CART, "to": "2026-11-01T00:00:00Z"}, "to"),
        ({**CART, "steps": [{"event": "A"}, {"screen": "B", "page": "C"}]}, "steps[1].event"),
        ([], "definition"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(db, now, definition, field):
    with pytest.raises(InvalidInput) as refused:
        funnel_services.funnel_create(name="Bad", definition=definition, actor=None, now=now)

    assert field in [e.field for e in refused.value.errors]
    assert not Funnel.objects.exists()


def test_only_admins_and_the_system_write_funnels(cart, alice, admin_user, now):
    # an agent is refused, and nothing changes
    with pytest.raises(PermissionDenied):
        funnel_services.funnel_create(name="Mine", definition=CART, actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        funnel_services.funnel_archive(funnel=cart, actor=alice, now=now)
    cart.refresh_from_db()
    assert (Funnel.objects.count(), cart.archived) == (1, False)

    # an admin may
    mine = funnel_services.funnel_create(name="Admin's", definition=CART, actor=admin_user, now=now)
    assert mine.created_by == admin_user


def test_every_agent_reads_funnels_but_archived_ones_leave_the_list(cart, alice, charlie, now):
    assert list(funnel_list(viewer=alice)) == [cart]
    assert list(funnel_list(viewer=charlie)) == [cart]

    funnel_services.funnel_archive(funnel=cart, actor=None, now=now)

    assert list(funnel_list(viewer=alice)) == []
    assert list(funnel_list(viewer=alice, archived=True)) == [cart]
    assert funnel_get(funnel_id=cart.pk, viewer=alice).archived


def test_a_name_is_taken_once_even_by_an_archived_funnel(cart, now):
    funnel_services.funnel_archive(funnel=cart, actor=None, now=now)

    with pytest.raises(Conflict) as clash:
        funnel_services.funnel_create(name=" Cart ", definition=CART, actor=None, now=now)

    assert "archived" in clash.value.detail


def test_an_update_that_changes_nothing_writes_nothing(cart, now):
    audits = AuditEntry.objects.count()
    later = now + timedelta(hours=1)

    funnel_services.funnel_update(
        funnel=cart, name="Cart", definition=CART, description="", team=None, actor=None, now=later
    )

    cart.refresh_from_db()
    assert cart.updated_at == now and AuditEntry.objects.count() == audits


def test_an_update_is_audited_with_what_changed(cart, team, now):
    later = now + timedelta(hours=1)

    funnel_services.funnel_update(
        funnel=cart,
        name="Basket",
        definition={**CART, "mode": "strict"},
        description="",
        team=team,
        actor=None,
        now=later,
    )

    entry = AuditEntry.objects.filter(object_type="funnels.funnel", action="changed").get()
    assert entry.before["name"] == "Cart" and entry.after["name"] == "Basket"
    assert entry.after["team"] == team.pk
    cart.refresh_from_db()
    assert cart.updated_at == later


def test_archiving_twice_writes_one_change(cart, now):
    funnel_services.funnel_archive(funnel=cart, actor=None, now=now)
    funnel_services.funnel_archive(funnel=cart, actor=None, now=now)

    assert AuditEntry.objects.filter(object_type="funnels.funnel", action="changed").count() == 1


def test_a_saved_funnel_is_asked_over_the_last_30_days_by_default(cart, now):
    d = funnel_definition(funnel=cart, from_=None, to=None, now=now)

    assert (d.from_, d.to) == (now - timedelta(days=30), now)


def test_a_range_that_ends_before_it_starts_is_refused_naming_from(cart, now):
    with pytest.raises(InvalidInput) as refused:
        funnel_definition(funnel=cart, from_=now, to=now - timedelta(seconds=1), now=now)

    assert [e.field for e in refused.value.errors] == ["from"]


def test_the_system_reads_every_funnel(cart):
    assert funnel_get(funnel_id=cart.pk, viewer=SYSTEM) == cart


def test_a_name_taken_between_the_check_and_the_write_is_a_409_not_a_500(cart, now):
    # given a second funnel whose name was free when it was checked, then taken
    late = Funnel(
        name="Cart", definition=cart.definition, created_at=now, updated_at=now, archived=False
    )

    with pytest.raises(Conflict) as clash:
        funnel_services._save(late, actor=None, now=now)

    assert [e.field for e in clash.value.errors] == ["name"]
    assert Funnel.objects.count() == 1
