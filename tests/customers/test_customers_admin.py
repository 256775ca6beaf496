"""The customer merges' admin: an operator undoes a wrong merge through customer_unmerge."""

from __future__ import annotations

import pytest

from lastmile.customers.models import Customer, CustomerMerge, Identity
from lastmile.customers.services.customers import customer_merge
from tests.customers.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db

URL = "/admin/customers/customermerge/"


def _merge(survivor, merged, now):
    IdentityFactory(customer=merged)
    return customer_merge(survivor=survivor, merged=merged, now=now)


def test_the_undo_action_moves_a_merge_back_and_says_so(staff, now):
    # Given Ann merged into Bob by mistake
    ann, bob = CustomerFactory(), CustomerFactory()
    merge = _merge(bob, ann, now)

    # When the admin undoes it from the merges' list
    r = staff.post(URL, {"action": "undo", "_selected_action": [merge.pk]}, follow=True)

    # Then Ann stands alone again with her identity, and the merge says when it was undone
    assert "1 merge(s) undone." in r.content.decode()
    ann.refresh_from_db()
    merge.refresh_from_db()
    assert ann.merged_into_id is None and merge.undone_at is not None
    assert Identity.objects.get().customer_id == ann.pk


def test_undoing_merges_in_one_action_undoes_the_later_first(staff, now):
    # Given Cal merged into Ann, then Ann into Bob
    ann, bob, cal = CustomerFactory(), CustomerFactory(), CustomerFactory()
    first = _merge(ann, cal, now)
    second = _merge(bob, ann, now)

    # When the admin undoes both at once
    r = staff.post(URL, {"action": "undo", "_selected_action": [first.pk, second.pk]}, follow=True)

    # Then both are undone: the later first, as customer_unmerge requires
    assert "2 merge(s) undone." in r.content.decode()
    assert not Customer.objects.filter(merged_into__isnull=False).exists()


def test_undoing_a_merge_twice_is_refused_with_the_services_reason(staff, now):
    ann, bob = CustomerFactory(), CustomerFactory()
    merge = _merge(bob, ann, now)
    staff.post(URL, {"action": "undo", "_selected_action": [merge.pk]})
    undone_at = CustomerMerge.objects.get().undone_at

    r = staff.post(URL, {"action": "undo", "_selected_action": [merge.pk]}, follow=True)

    assert "this merge was already undone" in r.content.decode()
    assert CustomerMerge.objects.get().undone_at == undone_at
