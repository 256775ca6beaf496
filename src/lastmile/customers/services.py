"""Every write to customers, identities and the timeline."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import Q

from lastmile.core.db import rows_insert
from lastmile.core.errors import Conflict, DomainError, FieldError, InvalidInput
from lastmile.customers.identities import IdentityError, IdentityKey, identity_normalize
from lastmile.customers.models import Customer, CustomerMerge, Identity, Interaction


@dataclass
class Resolved:
    customer: Customer
    created: bool = False
    merged_from: list[int] = field(default_factory=list)


def identities_normalize(
    raw: Iterable[dict[str, Any]], *, index: int | None = None, prefix: str = "identities"
) -> list[IdentityKey]:
    """Normalise a list of ``{"kind", "value", "network"?}``; InvalidInput names the bad one."""
    keys: list[IdentityKey] = []
    errors: list[FieldError] = []
    for i, item in enumerate(raw):
        try:
            key = identity_normalize(
                item.get("kind", ""), item.get("value", ""), item.get("network") or ""
            )
        except IdentityError as exc:
            errors.append(FieldError(f"{prefix}[{i}].{exc.field}", exc.reason, index))
            continue
        if key not in keys:
            keys.append(key)
    if errors:
        raise InvalidInput(errors[0].reason, errors)
    if not keys:
        raise InvalidInput(
            "at least one identity is needed", [FieldError(prefix, "must not be empty", index)]
        )
    return keys


def _live(customer: Customer) -> Customer:
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def customer_resolve(
    *, identities: Sequence[IdentityKey], now: datetime, display_name: str = "", actor: Any = None
) -> Resolved:
    """The customer these identities belong to: found, created, or merged.

    1. Look the identities up. None known: create a customer with all of them.
    2. All on one customer: attach the unknown ones to it.
    3. Spread over several customers: merge them into the oldest (a merge record each),
       then attach the unknown ones.
    """
    if not identities:
        raise InvalidInput(
            "at least one identity is needed", [FieldError("identities", "must not be empty")]
        )
    identities = list(dict.fromkeys(identities))  # the same identity twice is one identity
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _resolve(identities, now=now, display_name=display_name, actor=actor)
        except IntegrityError:
            # Another writer created one of these identities between our read and write.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _lookup(identities: Sequence[IdentityKey]) -> list[Identity]:
    # One IN list per (kind, network): a flat OR of thousands of terms overflows SQLite's
    # expression depth limit.
    values: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in identities:
        values[(key.kind, key.network)].append(key.value)
    q = Q()
    for (kind, network), vals in values.items():
        q |= Q(kind=kind, network=network, value__in=vals)
    return list(Identity.objects.filter(q).select_related("customer"))


def _resolve(
    identities: Sequence[IdentityKey], *, now: datetime, display_name: str, actor: Any
) -> Resolved:
    found = _lookup(identities)
    owners: dict[int, Customer] = {}
    for ident in found:
        owner = _live(ident.customer)
        owners[owner.pk] = owner
    created = False
    merged_from: list[int] = []
    if not owners:
        customer = Customer.objects.create(display_name=display_name, created_at=now)
        created = True
    else:
        ordered = sorted(owners.values(), key=lambda c: c.pk)
        customer = ordered[0]
        for other in ordered[1:]:
            customer_merge(
                survivor=customer,
                merged=other,
                actor=actor,
                now=now,
                reason="identities given together",
            )
            merged_from.append(other.pk)
        if display_name and not customer.display_name:
            customer.display_name = display_name
            customer.save(update_fields=["display_name"])
    known = {(i.kind, i.network, i.value) for i in found}
    Identity.objects.bulk_create(
        [
            Identity(
                customer=customer, kind=k.kind, network=k.network, value=k.value, created_at=now
            )
            for k in identities
            if (k.kind, k.network, k.value) not in known
        ]
    )
    return Resolved(customer=customer, created=created, merged_from=merged_from)


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


@transaction.atomic
def customer_merge(
    *, survivor: Customer, merged: Customer, actor: Any = None, now: datetime, reason: str = ""
) -> CustomerMerge:
    """Move everything of ``merged`` to ``survivor``; record what moved so it can be undone."""
    if survivor.pk == merged.pk:
        raise Conflict("a customer cannot be merged into itself", code="merge_self")
    if merged.merged_into_id is not None:
        raise Conflict(
            f"customer {merged.pk} is already merged into {merged.merged_into_id}",
            code="already_merged",
        )
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
def customer_unmerge(*, merge: CustomerMerge, actor: Any = None, now: datetime) -> Customer:
    """Undo a merge: the rows it moved go back (those still on the survivor)."""
    merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise Conflict("this merge was already undone", code="already_undone")
    later = CustomerMerge.objects.filter(merged=merge.survivor, undone_at__isnull=True).exists()
    if later:
        raise Conflict(
            "the survivor was itself merged later; undo that merge first", code="merge_order"
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


# --- the timeline -------------------------------------------------------------------------


@dataclass
class InteractionIn:
    """One interaction to record, already validated at the edge."""

    channel: str
    direction: str
    occurred_at: datetime
    body: str = ""
    source_id: str | None = None
    customer_id: int | None = None
    identities: list[IdentityKey] = field(default_factory=list)
    case_ref: str | None = None
    data: Any = None
    actor: Any = None


def interaction_record(
    *,
    customer: Customer,
    channel: str,
    direction: str,
    occurred_at: datetime,
    now: datetime,
    body: str = "",
    case: Any = None,
    actor: Any = None,
    data: Any = None,
    source_id: str | None = None,
) -> Interaction:
    """Put one interaction on the timeline and let the loop engine react (reply loops).

    Idempotent on (channel, source_id): the same message twice returns the first row.
    """
    with transaction.atomic():
        if source_id:
            existing = Interaction.objects.filter(channel=channel, source_id=source_id).first()
            if existing is not None:
                return existing
        interaction = Interaction.objects.create(
            customer=_live(customer),
            case=case,
            channel=channel,
            direction=direction,
            occurred_at=occurred_at,
            recorded_at=now,
            actor=actor,
            body=body,
            data=data,
            source_id=source_id or None,
        )
        if case is not None:
            from lastmile.loops.services import loops_react_to_interaction

            loops_react_to_interaction(interaction=interaction, now=now)
        return interaction


def interactions_ingest(*, items: Sequence[InteractionIn], now: datetime) -> list[int]:
    """Record a batch atomically; return the ids in order (the first id for a repeated message).

    The fast path does its work in a handful of queries whatever the batch size: one lookup
    of known source ids, one of identities, bulk inserts of new customers, identities and
    interactions. Items on a case go through ``interaction_record`` so reply loops follow.
    Any invalid item rejects the whole batch (nothing written).
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _ingest(items, now=now)
        except IntegrityError:
            # A concurrent batch inserted the same message or identity first; the retry
            # finds it and returns its id.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _ingest(items: Sequence[InteractionIn], *, now: datetime) -> list[int]:
    from lastmile.cases.selectors import cases_by_ref

    # 1. Messages already stored (and repeats inside this batch).
    by_source: dict[tuple[str, str], int] = {}
    keyed: dict[str, set[str]] = defaultdict(set)
    for it in items:
        if it.source_id:
            keyed[it.channel].add(it.source_id)
    if keyed:
        q = Q()
        for channel, sids in keyed.items():
            q |= Q(channel=channel, source_id__in=sids)
        for pk, channel, sid in Interaction.objects.filter(q).values_list(
            "pk", "channel", "source_id"
        ):
            by_source[(channel, sid or "")] = pk

    # 2. Cases named by reference.
    refs = {it.case_ref for it in items if it.case_ref}
    cases = cases_by_ref(refs) if refs else {}
    errors = [
        FieldError("case", f"no case {it.case_ref}", i)
        for i, it in enumerate(items)
        if it.case_ref and it.case_ref not in cases
    ]
    # 3. Customers by id.
    ids = {it.customer_id for it in items if it.customer_id is not None}
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=ids)} if ids else {}
    errors += [
        FieldError("customer.id", f"no customer {it.customer_id}", i)
        for i, it in enumerate(items)
        if it.customer_id is not None and it.customer_id not in customers
    ]
    if errors:
        raise InvalidInput(errors[0].reason, errors)

    # 4. Customers by identity, in bulk; new identities on new customers.
    keys = {k for it in items if it.customer_id is None for k in it.identities}
    owner_of: dict[IdentityKey, Customer] = {}
    if keys:
        for ident in _lookup(list(keys)):
            owner_of[IdentityKey(ident.kind, ident.network, ident.value)] = _live(ident.customer)

    result: list[int | None] = [None] * len(items)
    pending: list[tuple[int, InteractionIn, Customer | None]] = []
    for i, it in enumerate(items):
        if it.source_id and (it.channel, it.source_id) in by_source:
            result[i] = by_source[(it.channel, it.source_id)]
            continue
        if it.customer_id is not None:
            pending.append((i, it, customers[it.customer_id]))
            continue
        owners = {owner_of[k].pk: owner_of[k] for k in it.identities if k in owner_of}
        if len(owners) > 1 or (owners and any(k not in owner_of for k in it.identities)):
            # Slow path: a merge or new identities for a known customer.
            resolved = customer_resolve(identities=it.identities, now=now).customer
            for k in it.identities:
                owner_of[k] = resolved
            pending.append((i, it, resolved))
        elif owners:
            pending.append((i, it, next(iter(owners.values()))))
        else:
            pending.append((i, it, None))

    # New customers, one per distinct identity set not yet known (first item wins).
    new_customers: list[Customer] = []
    new_for: dict[int, Customer] = {}
    extra: list[tuple[IdentityKey, Customer]] = []
    for i, it, cust in pending:
        if cust is not None:
            continue
        already = next((owner_of[k] for k in it.identities if k in owner_of), None)
        if already is not None:
            # A customer made by an earlier item of this batch (or resolved on the slow
            # path): this item's identities it does not have yet are added to it.
            for k in it.identities:
                if k not in owner_of:
                    owner_of[k] = already
                    extra.append((k, already))
            new_for[i] = already
            continue
        c = Customer(created_at=now)
        new_customers.append(c)
        for k in it.identities:
            owner_of[k] = c
        new_for[i] = c
    if new_customers:
        customer_ids = rows_insert(
            Customer, [{"created_at": now} for _ in new_customers], returning=True
        )
        for c, pk in zip(new_customers, customer_ids, strict=True):
            c.pk = pk
    fresh = {id(c) for c in new_customers}
    to_add = [(k, c) for k, c in owner_of.items() if id(c) in fresh]
    to_add += [(k, c) for k, c in extra if id(c) not in fresh]
    rows_insert(
        Identity,
        [
            {
                "customer_id": c.pk,
                "kind": k.kind,
                "network": k.network,
                "value": k.value,
                "created_at": now,
            }
            for k, c in to_add
        ],
    )

    fast: list[tuple[int, dict[str, Any]]] = []
    seen_in_batch: dict[tuple[str, str], int] = {}
    repeats: list[tuple[int, tuple[str, str]]] = []
    for i, it, cust in pending:
        customer = cust if cust is not None else new_for[i]
        key = (it.channel, it.source_id) if it.source_id else None
        if key is not None and key in seen_in_batch:
            repeats.append((i, key))
            continue
        if key is not None:
            seen_in_batch[key] = i
        case = cases.get(it.case_ref) if it.case_ref else None
        if case is not None:
            if _live(case.customer).pk != customer.pk:
                raise InvalidInput(
                    f"case {it.case_ref} belongs to another customer",
                    [FieldError("case", f"{it.case_ref} is not this customer's case", i)],
                )
            interaction = interaction_record(
                customer=customer,
                channel=it.channel,
                direction=it.direction,
                occurred_at=it.occurred_at,
                now=now,
                body=it.body,
                case=case,
                actor=it.actor,
                data=it.data,
                source_id=it.source_id,
            )
            result[i] = interaction.pk
            continue
        fast.append(
            (
                i,
                {
                    "customer_id": customer.pk,
                    "case_id": None,
                    "channel": it.channel,
                    "direction": it.direction,
                    "occurred_at": it.occurred_at,
                    "recorded_at": now,
                    "actor_id": it.actor.pk if it.actor is not None else None,
                    "body": it.body,
                    "data": it.data,
                    "source_id": it.source_id or None,
                },
            )
        )
    if fast:
        interaction_ids = rows_insert(Interaction, [row for _, row in fast], returning=True)
        for (i, _), pk in zip(fast, interaction_ids, strict=True):
            result[i] = pk
    for i, key in repeats:
        result[i] = result[seen_in_batch[key]]
    if any(r is None for r in result):  # pragma: no cover - every branch above assigns
        raise DomainError("ingest lost an item", code="internal", status=500)
    return [r for r in result if r is not None]


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
