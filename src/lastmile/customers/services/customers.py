"""Customers: identity resolution (one batch form), merges and their undoing, updates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, IntegrityError, models, transaction

from lastmile.core.db import rows_insert
from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.core.events import event_emit
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import (
    Customer,
    CustomerMerge,
    Identity,
)
from lastmile.customers.services.lookups import identities_owners
from lastmile.people.viewers import Actor

M = TypeVar("M", bound=models.Model)


@dataclass
class Resolved:
    customer: Customer
    created: bool = False
    merged_from: list[int] = field(default_factory=list)


@dataclass
class CustomerWanted:
    """One customer to resolve in :func:`customers_resolve`: its identities, the name to
    give it if it is new or has none, and when it is created if new (else the batch's
    ``now``)."""

    identities: Sequence[IdentityKey]
    display_name: str = ""
    at: datetime | None = None


@dataclass
class Resolution:
    """What :func:`customers_resolve` did for one ``CustomerWanted``: the live customer's id,
    whether it was created, and the customers merged into it."""

    customer_id: int
    created: bool = False
    merged_from: list[int] = field(default_factory=list)


def row_as_saved(obj: M) -> M:
    """``obj``, built in memory for a row just inserted without the ORM, in the state Django
    gives a row it saved: ``save()`` updates it and ``validate_unique()`` does not find it
    clashing with itself. (The batch writers insert on the default database.)"""
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    return obj


def customer_live(customer: Customer) -> Customer:
    """``customer`` or, if it was merged, the live customer it was merged into."""
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def customer_resolve(
    *, identities: Sequence[IdentityKey], now: datetime, display_name: str = "", actor: Actor = None
) -> Resolved:
    """The customer these identities belong to: found, created, or merged
    (:func:`customers_resolve` for one)."""
    [done] = customers_resolve(
        wanted=[CustomerWanted(identities=identities, display_name=display_name)],
        now=now,
        actor=actor,
    )
    if done.created:
        customer = row_as_saved(
            Customer(pk=done.customer_id, display_name=display_name[:200], created_at=now)
        )
    else:
        customer = Customer.objects.get(pk=done.customer_id)
    return Resolved(customer=customer, created=done.created, merged_from=done.merged_from)


def customers_resolve(
    *, wanted: Sequence[CustomerWanted], now: datetime, actor: Actor = None
) -> list[Resolution]:
    """The customer each identity set belongs to, found, created or merged, in order.

    1. Look every identity up, in one query per (kind, network).
    2. None known: create a customer with all of them. The first of several wanted sets
       sharing an identity creates it; the later ones are that customer (their other
       identities added to it).
    3. All on one customer: attach the unknown ones to it.
    4. Spread over several customers: merge them into the oldest (a merge record each),
       then attach the unknown ones.
    New customers and identities are written in one INSERT each, whatever the batch size.
    """
    for w in wanted:
        if not w.identities:
            raise InvalidInput(
                "at least one identity is needed",
                [FieldError("identities", "must not be empty")],
            )
    for attempt in range(2):
        try:
            with transaction.atomic():
                done = customer_ids_resolve(wanted=wanted, now=now, actor=actor)
            return [
                Resolution(pk, i in done.created, done.merged_from.get(i, []))
                for i, pk in enumerate(done.ids)
            ]
        except IntegrityError:
            # Another writer created one of these identities between our read and write.
            if attempt:
                raise
    raise AssertionError("unreachable")


@dataclass
class ResolvedIds:
    """:func:`customer_ids_resolve`'s answer: the live customer of each wanted set, in
    order; which sets created theirs; the customers merged for a set."""

    ids: list[int]
    created: set[int]
    merged_from: dict[int, list[int]]


def customer_ids_resolve(
    *, wanted: Sequence[CustomerWanted], now: datetime, actor: Actor
) -> ResolvedIds:
    """:func:`customers_resolve` inside the caller's transaction (the ingest's, which retries
    the whole batch). Customers are ids here; a customer this batch creates is a negative
    placeholder until it is inserted. Plain lists and sets: an ingest resolves a thousand
    sets inside its write transaction."""
    owner_of = identities_owners({k for w in wanted for k in w.identities})
    survivor: dict[int, int] = {}  # merged here -> merged into
    chosen: list[int] = [0] * len(wanted)  # 0: to be created below
    merged_from: dict[int, list[int]] = {}
    named: list[tuple[int, str]] = []  # (known customer, a name for it if it has none)
    pending: list[int] = []
    for i, w in enumerate(wanted):
        if len(w.identities) == 1:  # the usual case: one identity, known or not
            owner = owner_of.get(w.identities[0])
            if owner is None:
                pending.append(i)
                continue
            chosen[i] = owner
            if w.display_name:
                named.append((owner, w.display_name))
            continue
        owners = {owner_of[k] for k in w.identities if k in owner_of}
        if len(owners) > 1 or (owners and any(k not in owner_of for k in w.identities)):
            # A merge, or new identities for a known customer.
            chosen[i], merged_from[i] = _resolve_known(w, owners, owner_of, now=now, actor=actor)
            for pk in merged_from[i]:
                survivor[pk] = chosen[i]
        elif owners:
            chosen[i] = next(iter(owners))
            if w.display_name:
                named.append((chosen[i], w.display_name))
        else:
            pending.append(i)

    # New customers, one per distinct identity set not yet known (first wanted set wins).
    # A later set may join customers an earlier set of this batch made or reached (an
    # anonymous visitor's events, then the identify that names them): they become one, the
    # existing customer when there is one, else the first made.
    new: list[CustomerWanted] = []
    creator: dict[int, int] = {}  # placeholder -> the wanted set that made it
    joined: dict[int, int] = {}  # placeholder -> the customer it became part of
    created: set[int] = set()
    extra: list[tuple[IdentityKey, int]] = []

    def root(cust: int) -> int:
        while cust in joined:
            cust = joined[cust]
        return survivor.get(cust, cust) if cust > 0 else cust

    for i in pending:
        w = wanted[i]
        owners = {root(owner_of[k]) for k in w.identities if k in owner_of}
        if not owners:
            new.append(w)
            created.add(i)
            creator[-len(new)] = i
            for k in w.identities:
                owner_of[k] = -len(new)
            chosen[i] = -len(new)
            continue
        known = sorted(o for o in owners if o > 0)
        target = known[0] if known else max(owners)  # the oldest customer, or the first made
        if len(known) > 1:
            target, merged_from[i] = _resolve_known(
                CustomerWanted(identities=[], display_name=w.display_name, at=w.at),
                set(known),
                owner_of,
                now=now,
                actor=actor,
            )
            for pk in merged_from[i]:
                survivor[pk] = target
        for other in owners - {target} - set(known):
            joined[other] = target
            created.discard(creator[other])
        for k in w.identities:
            if k not in owner_of:
                owner_of[k] = target
                if target > 0:
                    extra.append((k, target))
        chosen[i] = target
    placeholder: dict[int, int] = {}
    if new:
        made = [-(n + 1) for n in range(len(new)) if -(n + 1) not in joined]
        pks = rows_insert(
            Customer,
            [
                {
                    "display_name": new[-c - 1].display_name[:200],
                    "created_at": new[-c - 1].at or now,
                }
                for c in made
            ],
            returning=True,
        )
        placeholder = dict(zip(made, pks, strict=True))

    def live(cust: int) -> int:
        cust = root(cust)
        if cust < 0:
            return placeholder[cust]
        seen = set()
        while cust in survivor and cust not in seen:  # merged after an earlier set chose it
            seen.add(cust)
            cust = survivor[cust]
        return cust

    rows_insert(
        Identity,
        [
            {
                "customer_id": live(c),
                "kind": k.kind,
                "network": k.network,
                "value": k.value,
                "created_at": (new[-c - 1].at or now) if c < 0 else now,
            }
            for k, c in [*((k, c) for k, c in owner_of.items() if c < 0), *extra]
        ],
    )
    for pk, name in named:
        Customer.objects.filter(pk=pk, display_name="").update(display_name=name[:200])
    if new or survivor:
        chosen = [live(c) for c in chosen]
    return ResolvedIds(ids=chosen, created=created, merged_from=merged_from)


def _resolve_known(
    w: CustomerWanted,
    owners: set[int],
    owner_of: dict[IdentityKey, int],
    *,
    now: datetime,
    actor: Actor,
) -> tuple[int, list[int]]:
    """Identities of known customers: merge those into the oldest, attach the unknown ones
    to it (``owner_of`` learns them); the customer's id and those merged into it."""
    found = list(Customer.objects.filter(pk__in=owners).order_by("pk"))
    customer = found[0]
    merged_from: list[int] = []
    for other in found[1:]:
        customer_merge(
            survivor=customer,
            merged=other,
            actor=actor,
            now=now,
            reason="identities given together",
        )
        merged_from.append(other.pk)
    if w.display_name and not customer.display_name:
        customer.display_name = w.display_name[:200]
        customer.save(update_fields=["display_name"])
    unknown = [k for k in dict.fromkeys(w.identities) if k not in owner_of]
    Identity.objects.bulk_create(
        [
            Identity(
                customer=customer, kind=k.kind, network=k.network, value=k.value, created_at=now
            )
            for k in unknown
        ]
    )
    for k in w.identities:
        owner_of[k] = customer.pk
    return customer.pk, merged_from


def _customer_relations() -> list[tuple[Any, str]]:
    """Every (model, field name) holding a foreign key to Customer, in any app.

    Merges move these generically, so an app that adds a customer reference is followed
    without this module knowing it.
    """
    out = []
    for model in apps.get_models():
        for f in model._meta.get_fields():
            if (
                getattr(f, "many_to_one", False)
                and getattr(f, "concrete", False)
                and f.related_model is Customer
                and model is not Customer
                and model is not CustomerMerge
            ):
                out.append((model, f.name))
    return out


def _customers_lock(*customers: Customer) -> None:
    """Row-lock ``customers`` in pk order, to the end of the caller's transaction, and read
    them again under the lock, in place (the caller's instances are what it goes on with).
    SQLite's IMMEDIATE transaction already serialises writers; the read still matters there."""
    locked = Customer.objects.select_for_update().filter(pk__in=[c.pk for c in customers])
    fresh = {row.pk: row for row in locked.order_by("pk")}
    for customer in customers:
        for f in Customer._meta.concrete_fields:
            setattr(customer, f.attname, getattr(fresh[customer.pk], f.attname))


@transaction.atomic
def customer_merge(
    *, survivor: Customer, merged: Customer, actor: Actor = None, now: datetime, reason: str = ""
) -> CustomerMerge:
    """Move everything of ``merged`` to ``survivor``; record what moved so it can be undone.

    1. Lock both customer rows, in pk order (two merges of the same pair in opposite
       directions then queue instead of deadlocking), and read them again under the lock.
    2. Refuse if either was merged meanwhile: the caller's instances may be older than a
       concurrent merge that just committed, and moving rows off a customer that is no longer
       live would split its history with no record to undo it.
    3. Move the rows, record the merge.
    """
    if survivor.pk == merged.pk:
        raise Conflict("a customer cannot be merged into itself", code=ErrorCode.MERGE_SELF)
    _customers_lock(survivor, merged)
    for customer in (merged, survivor):
        if customer.merged_into_id is not None:
            raise Conflict(
                f"customer {customer.pk} is already merged into {customer.merged_into_id}",
                code=ErrorCode.ALREADY_MERGED,
            )
    # Before the rows move: an app whose rows allow one of a kind per customer (an open
    # recovery per rule) settles the pair first.
    event_emit("customer.merging", {"survivor": survivor, "merged": merged}, at=now, internal=True)
    moved: dict[str, list[int]] = {}
    for model, fname in _customer_relations():
        qs = model._default_manager.filter(**{fname: merged})
        pks = list(qs.values_list("pk", flat=True))
        if pks:
            model._default_manager.filter(pk__in=pks).update(**{fname: survivor})
            moved[f"{model._meta.label}.{fname}"] = pks
    merged.merged_into = survivor
    merged.save(update_fields=["merged_into"])
    for k, v in (merged.attributes or {}).items():
        survivor.attributes.setdefault(k, v)
    if not survivor.display_name and merged.display_name:
        survivor.display_name = merged.display_name
    survivor.save(update_fields=["attributes", "display_name"])
    return CustomerMerge.objects.create(
        survivor=survivor, merged=merged, moved=moved, actor=actor, merged_at=now, reason=reason
    )


@transaction.atomic
def customer_unmerge(*, merge: CustomerMerge, actor: Actor = None, now: datetime) -> Customer:
    """Undo a merge: the rows it moved go back (those still on the survivor).

    The merge row is locked, then both customers (pk order, as ``customer_merge``), before the
    checks: a merge of the survivor into a third customer, running at the same time, either
    commits first (and this undo is refused, ``merge_order``) or waits for it.
    """
    merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
    pks = sorted({merge.survivor_id, merge.merged_id})
    list(Customer.objects.select_for_update().filter(pk__in=pks).order_by("pk").values("pk"))
    if merge.undone_at is not None:
        raise Conflict("this merge was already undone", code=ErrorCode.ALREADY_UNDONE)
    later = CustomerMerge.objects.filter(merged=merge.survivor, undone_at__isnull=True).exists()
    if later:
        raise Conflict(
            "the survivor was itself merged later; undo that merge first",
            code=ErrorCode.MERGE_ORDER,
        )
    for label, pks in merge.moved.items():
        model_label, fname = label.rsplit(".", 1)
        model = apps.get_model(model_label)
        model._default_manager.filter(pk__in=pks, **{fname: merge.survivor_id}).update(
            **{fname: merge.merged_id}
        )
    merged = Customer.objects.get(pk=merge.merged_id)
    merged.merged_into = None
    merged.save(update_fields=["merged_into"])
    merge.undone_at = now
    merge.save(update_fields=["undone_at"])
    return merged


def customer_update(
    *,
    customer: Customer,
    display_name: str | None = None,
    timezone: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Customer:
    if display_name is not None:
        customer.display_name = display_name
    if timezone is not None:
        customer.timezone = timezone
    if attributes:
        customer.attributes = {**customer.attributes, **attributes}
    customer.save()
    return customer
