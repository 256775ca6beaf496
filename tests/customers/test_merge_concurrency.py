"""Two merges at once: ``customer_merge`` locks both customers (in pk order) and reads them
again under the lock, so a merge that lost the race is refused cleanly instead of moving rows
off a customer that is no longer live."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from lastmile.core.errors import Conflict
from lastmile.customers.models import Customer, CustomerMerge, Identity
from lastmile.customers.services import customers as customer_services
from lastmile.customers.services.customers import customer_merge
from tests.customers.factories import CustomerFactory, IdentityFactory


@pytest.mark.django_db
def test_a_merge_from_a_stale_copy_of_an_already_merged_customer_is_refused(now):
    # Given a duplicate read before someone else merged it into Ana
    dup = CustomerFactory(display_name="Ana (dup)")
    keep = CustomerFactory(display_name="Ana Silva")
    third = CustomerFactory(display_name="Ana S.")
    IdentityFactory(customer=dup, value="ana@work.example")
    stale = Customer.objects.get(pk=dup.pk)
    customer_merge(survivor=keep, merged=dup, now=now)
    # When a second merge goes on with the copy read before
    with pytest.raises(Conflict) as refused:
        customer_merge(survivor=third, merged=stale, now=now)
    # Then it is refused as already merged, and nothing moved to the third customer
    assert refused.value.code == "already_merged"
    assert Identity.objects.get(value="ana@work.example").customer_id == keep.pk
    assert CustomerMerge.objects.count() == 1
    assert Customer.objects.get(pk=dup.pk).merged_into_id == keep.pk


@pytest.mark.django_db
def test_merging_into_a_customer_merged_meanwhile_is_refused(now):
    dup = CustomerFactory()
    keep = CustomerFactory()
    third = CustomerFactory()
    stale_keep = Customer.objects.get(pk=keep.pk)
    customer_merge(survivor=third, merged=keep, now=now)
    with pytest.raises(Conflict) as refused:
        customer_merge(survivor=stale_keep, merged=dup, now=now)
    assert refused.value.code == "already_merged"
    assert Customer.objects.get(pk=dup.pk).merged_into_id is None
    assert CustomerMerge.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("race", ["same duplicate, two survivors", "a pair, both directions"])
def test_two_merges_at_once_one_wins_and_the_other_is_refused(race, now, monkeypatch):
    # (SQLite's IMMEDIATE transactions run writers one after the other: there is no
    # interleaving to show there; the stale-copy tests above cover the re-read.)
    # Given two customers each read by two requests
    a = CustomerFactory(display_name="Ana (dup)")
    b = CustomerFactory(display_name="Ana Silva")
    c = CustomerFactory(display_name="Ana S.")
    IdentityFactory(customer=a, value="ana@work.example")
    IdentityFactory(customer=b, value="ana@home.example")
    pairs = [(b, a), (c, a)] if race == "same duplicate, two survivors" else [(b, a), (a, b)]
    # Each merge dawdles after its checks, before moving rows: without the row locks both
    # would pass the checks on what they read and both would move the rows.
    original = customer_services._customer_relations
    slowed = []

    def slow_relations():  # type: ignore[no-untyped-def]
        slowed.append(1)
        time.sleep(0.3)
        return original()

    monkeypatch.setattr(customer_services, "_customer_relations", slow_relations)
    start = threading.Barrier(2)
    done: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def merge(survivor_pk: int, merged_pk: int) -> None:
        survivor = Customer.objects.get(pk=survivor_pk)
        merged = Customer.objects.get(pk=merged_pk)
        try:
            start.wait()
            customer_merge(survivor=survivor, merged=merged, now=now)
            done.append(f"{merged_pk}->{survivor_pk}")
        except Conflict as exc:
            refused.append(exc.code)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # When both run at once
    threads = [threading.Thread(target=merge, args=(s.pk, m.pk)) for s, m in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then one merged, the other was refused as already merged (no deadlock, no error)
    assert errors == []
    assert len(done) == 1 and refused == ["already_merged"]
    assert CustomerMerge.objects.count() == 1
    merge = CustomerMerge.objects.get()
    assert Customer.objects.filter(merged_into__isnull=False).count() == 1
    # and the duplicate's identity is on the one it was merged into
    assert Identity.objects.get(value="ana@work.example").customer_id == merge.survivor_id


class _SlowApps:
    """``django.apps.apps`` as the customers services see it, pausing before each model is
    looked up (``customer_unmerge`` looks them up between its checks and its moves)."""

    def __init__(self, real, slowed):  # type: ignore[no-untyped-def]
        self.real, self.slowed = real, slowed

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)

    def get_model(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.slowed.append(1)
        # Longer than the merge's pause: without the locks the merge would move the rows
        # between this undo's checks and its moves.
        time.sleep(0.6)
        return self.real.get_model(*args, **kwargs)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_undo_and_a_merge_of_the_survivor_at_once_leave_every_row_where_it_belongs(
    now, monkeypatch
):
    # Given Li merged into Maya (her email moved to Maya)
    li = CustomerFactory(display_name="Li")
    maya = CustomerFactory(display_name="Maya")
    third = CustomerFactory(display_name="Maya F.")
    IdentityFactory(customer=li, value="li@example.com")
    IdentityFactory(customer=maya, value="maya@example.com")
    first = customer_merge(survivor=maya, merged=li, now=now)
    # and both writers dawdle between their checks and their moves
    original = customer_services._customer_relations
    slowed: list[int] = []

    def slow_relations():  # type: ignore[no-untyped-def]
        slowed.append(1)
        time.sleep(0.3)
        return original()

    monkeypatch.setattr(customer_services, "_customer_relations", slow_relations)
    monkeypatch.setattr(customer_services, "apps", _SlowApps(customer_services.apps, slowed))
    start = threading.Barrier(2)
    outcome: dict[str, str] = {}
    errors: list[BaseException] = []

    def run(name: str, work) -> None:  # type: ignore[no-untyped-def]
        try:
            start.wait()
            work()
            outcome[name] = "done"
        except Conflict as exc:
            outcome[name] = exc.code
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    undo = CustomerMerge.objects.get(pk=first.pk)
    keep, away = Customer.objects.get(pk=third.pk), Customer.objects.get(pk=maya.pk)
    threads = [
        threading.Thread(
            target=run,
            args=("undo", lambda: customer_services.customer_unmerge(merge=undo, now=now)),
        ),
        threading.Thread(
            target=run, args=("merge", lambda: customer_merge(survivor=keep, merged=away, now=now))
        ),
    ]
    # When Li's merge is undone while Maya is merged into a third customer
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then Maya's merge happened, and the undo either went first or was told to wait for it
    assert errors == [] and outcome["merge"] == "done"
    owner = dict(Identity.objects.values_list("value", "customer_id"))
    assert owner["maya@example.com"] == third.pk
    if outcome["undo"] == "done":
        assert owner["li@example.com"] == li.pk
        assert Customer.objects.get(pk=li.pk).merged_into_id is None
    else:
        assert outcome["undo"] == "merge_order"
        assert owner["li@example.com"] == third.pk
        assert CustomerMerge.objects.get(pk=first.pk).undone_at is None
