"""Every write to customers, identities and the timeline."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import IntegrityError, connection, transaction

from lastmile.core.db import rows_insert
from lastmile.core.errors import Conflict, DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import (
    Customer,
    CustomerMerge,
    Direction,
    Identity,
    IdentityKind,
    Interaction,
    Sentiment,
)


@dataclass
class Resolved:
    customer: Customer
    created: bool = False
    merged_from: list[int] = field(default_factory=list)


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


def _resolve(
    identities: Sequence[IdentityKey], *, now: datetime, display_name: str, actor: Any
) -> Resolved:
    found = _owners(identities)
    owners = list(Customer.objects.filter(pk__in=set(found.values())).order_by("pk"))
    created = False
    merged_from: list[int] = []
    if not owners:
        customer = Customer.objects.create(display_name=display_name, created_at=now)
        created = True
    else:
        customer = owners[0]
        for other in owners[1:]:
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
    Identity.objects.bulk_create(
        [
            Identity(
                customer=customer, kind=k.kind, network=k.network, value=k.value, created_at=now
            )
            for k in identities
            if k not in found
        ]
    )
    return Resolved(customer=customer, created=created, merged_from=merged_from)


def customers_create_social(
    *, wanted: Sequence[tuple[str, str, str, datetime]]
) -> dict[tuple[str, str], Customer]:
    """New customers with one social identity each, as ``customer_resolve`` creates them
    for an unknown handle: ``(network, handle, display name, at)`` -> the Customer (with
    its pk), in two multi-row INSERTs.

    For bulk importers (listening's mention import), which looked the handles up first. A
    handle taken meanwhile by a concurrent import fails the INSERT (the identity is
    unique); the caller's retry then finds it. No savepoint of its own: the caller's
    transaction (if any) holds both INSERTs.
    """
    if not wanted:
        return {}
    with transaction.atomic(savepoint=False):
        pks = rows_insert(
            Customer,
            [{"display_name": name[:200], "created_at": at} for _, _, name, at in wanted],
            returning=True,
        )
        rows_insert(
            Identity,
            [
                {
                    "customer_id": pk,
                    "kind": IdentityKind.SOCIAL,
                    "network": network,
                    "value": handle,
                    "created_at": at,
                }
                for (network, handle, _, at), pk in zip(wanted, pks, strict=True)
            ],
        )
    return {
        (network, handle): Customer(pk=pk, display_name=name[:200], created_at=at)
        for (network, handle, name, at), pk in zip(wanted, pks, strict=True)
    }


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
        raise Conflict("a customer cannot be merged into itself", code=ErrorCode.MERGE_SELF)
    if merged.merged_into_id is not None:
        raise Conflict(
            f"customer {merged.pk} is already merged into {merged.merged_into_id}",
            code=ErrorCode.ALREADY_MERGED,
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


# --- the timeline -------------------------------------------------------------------------

# The model was trained on tweets. Past the opening of a long email its cost keeps growing
# with the length while quoted history dilutes the customer's own words.
SENTIMENT_MAX_CHARS = 2_000


def sentiment_wanted(*, direction: str, body: str, customer_words: bool = True) -> bool:
    """An inbound interaction whose body is the customer's own words gets a sentiment;
    replies, notes and events (a generated summary such as "Order Completed") do not."""
    return customer_words and direction == Direction.INBOUND and bool(body and not body.isspace())


def sentiments_score(texts: Sequence[str]) -> list[tuple[str, float]]:
    """(label, score) per text, in one batch of the shipped model (loaded once per process)."""
    if not texts:
        return []
    from lastmile.sentiment import predict

    return predict([t[:SENTIMENT_MAX_CHARS] for t in texts])


def _sentiment_checked(sentiment: tuple[str, float]) -> tuple[str, float]:
    label, score = sentiment
    if label not in Sentiment.values or not -1.0 <= float(score) <= 1.0:
        raise InvalidInput(
            f"not a sentiment: {sentiment!r}",
            [FieldError("sentiment", "a label of negative/neutral/positive, a score in [-1, 1]")],
        )
    return label, float(score)


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
    # ``data`` already encoded as JSON, when the caller had to encode it anyway (the Segment
    # parser measures each message so); else ``interactions_prepare`` encodes it.
    data_json: str | None = None
    actor: Any = None
    # False when the body is not the customer's own words (an event's generated summary):
    # then no sentiment is computed.
    customer_words: bool = True


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
    customer_words: bool = True,
    sentiment: tuple[str, float] | None = None,
) -> Interaction:
    """Put one interaction on the timeline and let the loop engine react (reply loops).

    Idempotent on (channel, source_id): the same message twice returns the first row.
    An inbound message in the customer's words is stored with its sentiment: ``sentiment``
    (label, score) when the caller has scored it already (a mention), else scored here,
    before the transaction opens.
    """
    if sentiment is not None:
        sentiment = _sentiment_checked(sentiment)
    elif sentiment_wanted(direction=direction, body=body, customer_words=customer_words):
        sentiment = sentiments_score([body])[0]
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
            sentiment_label=sentiment[0] if sentiment else None,
            sentiment_score=sentiment[1] if sentiment else None,
        )
        if case is not None:
            from lastmile.loops.services import loops_react_to_interaction

            loops_react_to_interaction(interaction=interaction, now=now)
        return interaction


@dataclass
class InteractionRow:
    """One interaction for :func:`interactions_insert`: what ``interaction_record`` takes,
    already decided (the customer is live, the sentiment scored or None)."""

    customer_id: int
    case_id: int | None
    channel: str
    direction: str
    occurred_at: datetime
    body: str = ""
    data: Any = None
    source_id: str | None = None
    sentiment: tuple[str, float] | None = None


def interactions_insert(*, rows: Sequence[InteractionRow], now: datetime) -> list[int]:
    """Put many interactions on the timeline in one multi-row INSERT, as
    ``interaction_record`` stores each; their ids, in order.

    For bulk importers (listening's mention import) that checked (channel, source_id)
    against the stored interactions themselves and replay the loop engine's reaction
    (``loops.services.loops_insert``): nothing reacts here. A sentiment is checked as
    ``interaction_record`` checks it (InvalidInput: nothing written).
    """
    if not rows:
        return []
    sentiments = [_sentiment_checked(r.sentiment) if r.sentiment else None for r in rows]
    return rows_insert(
        Interaction,
        [
            {
                "customer_id": r.customer_id,
                "case_id": r.case_id,
                "channel": r.channel,
                "direction": r.direction,
                "occurred_at": r.occurred_at,
                "recorded_at": now,
                "body": r.body,
                "data": r.data,
                "source_id": r.source_id or None,
                "sentiment_label": sentiment[0] if sentiment else None,
                "sentiment_score": sentiment[1] if sentiment else None,
            }
            for r, sentiment in zip(rows, sentiments, strict=True)
        ],
        returning=True,
    )


@dataclass
class IngestBatch:
    """Items made ready for ``interactions_ingest`` before its transaction: each one's
    sentiment (None where none is wanted), and its time and data in the database's form."""

    items: Sequence[InteractionIn]
    sentiments: list[tuple[str, float] | None]
    occurred_at: list[Any]
    data: list[str | None]


def interactions_prepare(*, items: Sequence[InteractionIn]) -> IngestBatch:
    """The work of an ingest that needs no database, done before the write transaction.

    Scoring sentiment is the costly part (the model reads each text), then encoding each
    item's data as JSON. A caller that takes turns for the database's write lock prepares
    first, so no writer waits on the model or the encoder.
    """
    data = [_data_json(it, i) for i, it in enumerate(items)]  # refuses bad data first
    wanted = [
        i
        for i, it in enumerate(items)
        if sentiment_wanted(direction=it.direction, body=it.body, customer_words=it.customer_words)
    ]
    sentiments: list[tuple[str, float] | None] = [None] * len(items)
    for i, scored in zip(wanted, sentiments_score([items[i].body for i in wanted]), strict=True):
        sentiments[i] = scored
    adapt = connection.ops.adapt_datetimefield_value
    return IngestBatch(
        items=items,
        sentiments=sentiments,
        occurred_at=[adapt(it.occurred_at) for it in items],
        data=data,
    )


def _data_json(it: InteractionIn, index: int) -> str | None:
    """What JSONField stores (json.dumps, no encoder); None is SQL NULL, as there."""
    if it.data_json is not None or it.data is None:
        return it.data_json
    try:
        return json.dumps(it.data, allow_nan=False)
    except ValueError:  # NaN or Infinity (``1e400`` reads as one): PostgreSQL refuses them
        raise InvalidInput(
            "data holds a number out of range (NaN or Infinity)",
            [FieldError("data", "a number out of range (NaN or Infinity)", index)],
        ) from None


def interactions_ingest(
    *, items: Sequence[InteractionIn] | IngestBatch, now: datetime
) -> list[int]:
    """Record a batch atomically; return the ids in order (the first id for a repeated message).

    The fast path does its work in a handful of queries whatever the batch size: one lookup
    of known source ids, one of identities, bulk inserts of new customers, identities and
    interactions. Items on a case go through ``interaction_record`` so reply loops follow.
    Any invalid item rejects the whole batch (nothing written). ``items`` may come from
    ``interactions_prepare``; a plain list is prepared here, before the transaction.
    """
    batch = items if isinstance(items, IngestBatch) else interactions_prepare(items=items)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _ingest(batch, now=now)
        except IntegrityError:
            # A concurrent batch inserted the same message or identity first; the retry
            # finds it and returns its id.
            if attempt:
                raise
    raise AssertionError("unreachable")


# Values per ``IN (...)`` list: far below SQLite's 32,766 bound variables per statement.
# Public so that a test can make it small and see lookups split over several lists.
IN_CHUNK = 5_000


def _lookup(
    *, select: str, tables: str, where: str, params: list[Any], key: str, values: Sequence[str]
) -> tuple[str, list[Any]]:
    """SQL and parameters for the rows matching ``where`` whose ``key`` is one of
    ``values``, at most one row each (a unique index covers ``where``'s columns and ``key``).

    SQLite: ``key IN (%s, …)``. PostgreSQL: one index probe per value (``unnest`` joined
    ``LATERAL`` to a ``LIMIT 1`` lookup), with the values as one array, so the query text
    stays short and psycopg parses it once. ``key = ANY(…)`` was planned from the table's
    statistics: on a table not analysed yet (a new installation, or one that just grew
    fast) it read every row of the channel on every request, slower as the table grew.
    """
    if connection.vendor == "postgresql":
        return (
            f"SELECT r.* FROM unnest(%s::text[]) AS k(v) CROSS JOIN LATERAL "
            f"(SELECT {select} FROM {tables} WHERE {where} AND {key} = k.v LIMIT 1) r",
            [list(values), *params],
        )
    return (
        f"SELECT {select} FROM {tables} WHERE {where} "
        f"AND {key} IN ({', '.join(['%s'] * len(values))})",
        [*params, *values],
    )


def _stored_sources(items: Sequence[InteractionIn]) -> dict[tuple[str, str], int]:
    """(channel, source_id) → id, for the items' messages already on the timeline.

    Plain SQL: the ORM spends more time building an ``IN`` of a thousand ids than the
    database spends answering it, inside the write transaction.
    """
    keyed: dict[str, set[str]] = defaultdict(set)
    for it in items:
        if it.source_id:
            keyed[it.channel].add(it.source_id)
    found: dict[tuple[str, str], int] = {}
    if not keyed:
        return found
    qn = connection.ops.quote_name
    table = qn(Interaction._meta.db_table)
    with connection.cursor() as cur:
        for channel, sids in keyed.items():
            ordered = sorted(sids)
            for n in range(0, len(ordered), IN_CHUNK):
                cur.execute(
                    *_lookup(
                        select="source_id, id",
                        tables=table,
                        where="channel = %s",
                        params=[channel],
                        key="source_id",
                        values=ordered[n : n + IN_CHUNK],
                    )
                )
                found.update(((channel, sid), pk) for sid, pk in cur.fetchall())
    return found


def _live_ids(ids: Iterable[int]) -> dict[int, int]:
    """id → the id of the live customer it is (itself, or the end of its merge chain);
    unknown ids are left out."""
    live: dict[int, int] = {}
    todo = set(ids)
    # Follow merges hop by hop (chains are short); ``origin`` remembers where each started.
    origin: dict[int, set[int]] = {i: {i} for i in todo}
    seen: set[int] = set()
    while todo:
        seen |= todo
        rows = Customer.objects.filter(pk__in=todo).values_list("pk", "merged_into_id")
        todo = set()
        nxt: dict[int, set[int]] = defaultdict(set)
        for pk, into in rows:
            if into is None or into in seen:  # live, or a cycle (stop at the last hop)
                for start in origin[pk]:
                    live[start] = pk
            else:
                nxt[into] |= origin[pk]
                todo.add(into)
        origin = nxt
    return live


def _owners(keys: Iterable[IdentityKey]) -> dict[IdentityKey, int]:
    """The live customer id of each known identity among ``keys``, in one query per
    (kind, network) (plain SQL, for the reason given in ``_stored_sources``)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in keys:
        groups[(key.kind, key.network)].append(key.value)
    qn = connection.ops.quote_name
    ident, cust = qn(Identity._meta.db_table), qn(Customer._meta.db_table)
    found: dict[IdentityKey, int] = {}
    merged: set[int] = set()
    with connection.cursor() as cur:
        for (kind, network), values in groups.items():
            for n in range(0, len(values), IN_CHUNK):
                cur.execute(
                    *_lookup(
                        select="i.value, i.customer_id, c.merged_into_id",
                        tables=f"{ident} i JOIN {cust} c ON c.id = i.customer_id",
                        where="i.kind = %s AND i.network = %s",
                        params=[kind, network],
                        key="i.value",
                        values=values[n : n + IN_CHUNK],
                    )
                )
                for value, customer_id, merged_into in cur.fetchall():
                    found[IdentityKey(kind, network, value)] = customer_id
                    if merged_into is not None:
                        merged.add(customer_id)
    if merged:
        live = _live_ids(merged)
        found = {k: live.get(c, c) for k, c in found.items()}
    return found


# The columns the ingest fast path writes, in the order of its row tuples.
_INTERACTION_COLUMNS = (
    "customer_id",
    "case_id",
    "channel",
    "direction",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "body",
    "data",
    "source_id",
    "sentiment_label",
    "sentiment_score",
)


def _interactions_insert(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert timeline rows already in the database's form; their ids, in order.

    ``core.db.rows_insert`` converts every value of every row, which inside the write
    transaction was a third of an ingest's time there; ``interactions_prepare`` converts
    the costly values (time, JSON) beforehand, and this only writes. SQLite: one multi-row
    INSERT per chunk (within its 32,766 variables per statement) returning the ids.
    PostgreSQL: one INSERT over ``unnest`` of one array per column, sent in binary.
    """
    if not rows:
        return []
    qn = connection.ops.quote_name
    by_attname = {f.attname: f for f in Interaction._meta.concrete_fields}
    fields = [by_attname[c] for c in _INTERACTION_COLUMNS]
    columns = [f.column for f in fields if f.column is not None]
    head = "INSERT INTO {} ({}) ".format(
        qn(Interaction._meta.db_table), ", ".join(qn(c) for c in columns)
    )
    if connection.vendor == "postgresql":
        return _interactions_insert_pg(head, fields, rows)
    one = "({})".format(", ".join(["%s"] * len(fields)))
    head += "VALUES "
    step = 32_000 // len(_INTERACTION_COLUMNS)
    ids: list[int] = []
    with connection.cursor() as cur:
        for n in range(0, len(rows), step):
            chunk = rows[n : n + step]
            cur.execute(
                f"{head}{', '.join([one] * len(chunk))} RETURNING {qn('id')}",
                [v for row in chunk for v in row],
            )
            ids.extend(r[0] for r in cur.fetchall())
    return ids


def _interactions_insert_pg(
    head: str, fields: Sequence[Any], rows: Sequence[tuple[Any, ...]]
) -> list[int]:
    """The rows as one array per column (``data`` already JSON text, cast to jsonb by the
    server); the ids come back in row order, as Django's own unnest inserts rely on."""
    import psycopg

    arrays = ", ".join(f"%b::{f.cast_db_type(connection)}[]" for f in fields)
    columns = [list(column) for column in zip(*rows, strict=True)]
    sql = f"{head}SELECT * FROM unnest({arrays}) RETURNING {connection.ops.quote_name('id')}"
    # Django's cursors bind client-side, quoting every array element as text; a
    # server-side-binding cursor sends the arrays in binary.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
        cur.execute(sql, columns)
        return [r[0] for r in cur.fetchall()]


def _ingest(batch: IngestBatch, *, now: datetime) -> list[int]:
    from lastmile.cases.selectors import cases_by_ref

    items = batch.items
    # 1. Messages already stored.
    by_source = _stored_sources(items)

    # 2. Cases named by reference.
    refs = {it.case_ref for it in items if it.case_ref}
    cases = cases_by_ref(refs) if refs else {}
    errors = [
        FieldError("case", f"no case {it.case_ref}", i)
        for i, it in enumerate(items)
        if it.case_ref and it.case_ref not in cases
    ]
    # 3. Customers by id; a merged customer's id stands for the one it was merged into.
    by_id = _live_ids({it.customer_id for it in items if it.customer_id is not None})
    errors += [
        FieldError("customer.id", f"no customer {it.customer_id}", i)
        for i, it in enumerate(items)
        if it.customer_id is not None and it.customer_id not in by_id
    ]
    if errors:
        raise InvalidInput(errors[0].reason, errors)

    # 4. Customers by identity, in bulk. Customers are ids here; a customer this batch
    # creates is a negative placeholder until it is inserted.
    owner_of = _owners({k for it in items if it.customer_id is None for k in it.identities})
    survivor: dict[int, int] = {}  # merged on the slow path → merged into

    result: list[int | None] = [None] * len(items)
    pending: list[tuple[int, int | None]] = []  # (item, customer; None: a new one)
    for i, it in enumerate(items):
        if it.source_id and (it.channel, it.source_id) in by_source:
            result[i] = by_source[(it.channel, it.source_id)]
            continue
        if it.customer_id is not None:
            pending.append((i, by_id[it.customer_id]))
            continue
        owners = {owner_of[k] for k in it.identities if k in owner_of}
        if len(owners) > 1 or (owners and any(k not in owner_of for k in it.identities)):
            # Slow path: a merge or new identities for a known customer.
            resolved = customer_resolve(identities=it.identities, now=now)
            for k in it.identities:
                owner_of[k] = resolved.customer.pk
            for pk in resolved.merged_from:
                survivor[pk] = resolved.customer.pk
            pending.append((i, resolved.customer.pk))
        elif owners:
            pending.append((i, next(iter(owners))))
        else:
            pending.append((i, None))

    # New customers, one per distinct identity set not yet known (first item wins).
    created = 0
    customer_of: dict[int, int] = {}
    extra: list[tuple[IdentityKey, int]] = []
    for i, cust in pending:
        if cust is not None:
            customer_of[i] = cust
            continue
        it = items[i]
        already = next((owner_of[k] for k in it.identities if k in owner_of), None)
        if already is not None:
            # A customer made by an earlier item of this batch (or resolved on the slow
            # path): this item's identities it does not have yet are added to it.
            for k in it.identities:
                if k not in owner_of:
                    owner_of[k] = already
                    if already > 0:
                        extra.append((k, already))
            customer_of[i] = already
            continue
        created += 1
        for k in it.identities:
            owner_of[k] = -created
        customer_of[i] = -created
    placeholder: dict[int, int] = {}
    if created:
        pks = rows_insert(Customer, [{"created_at": now}] * created, returning=True)
        placeholder = {-(n + 1): pk for n, pk in enumerate(pks)}

    def live(cust: int) -> int:
        if cust < 0:
            return placeholder[cust]
        seen = set()
        while cust in survivor and cust not in seen:  # merged after an earlier item chose it
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
                "created_at": now,
            }
            for k, c in [*((k, c) for k, c in owner_of.items() if c < 0), *extra]
        ],
    )

    fast: list[int] = []
    rows: list[tuple[Any, ...]] = []
    recorded_at = connection.ops.adapt_datetimefield_value(now)
    seen_in_batch: dict[tuple[str, str], int] = {}
    repeats: list[tuple[int, tuple[str, str]]] = []
    for i, _ in pending:
        it = items[i]
        customer_id = live(customer_of[i])
        key = (it.channel, it.source_id) if it.source_id else None
        if key is not None and key in seen_in_batch:
            repeats.append((i, key))
            continue
        if key is not None:
            seen_in_batch[key] = i
        sentiment = batch.sentiments[i]
        case = cases.get(it.case_ref) if it.case_ref else None
        if case is not None:
            if live(_live_ids([case.customer_id])[case.customer_id]) != customer_id:
                raise InvalidInput(
                    f"case {it.case_ref} belongs to another customer",
                    [FieldError("case", f"{it.case_ref} is not this customer's case", i)],
                )
            interaction = interaction_record(
                customer=Customer.objects.get(pk=customer_id),
                channel=it.channel,
                direction=it.direction,
                occurred_at=it.occurred_at,
                now=now,
                body=it.body,
                case=case,
                actor=it.actor,
                data=it.data,
                source_id=it.source_id,
                customer_words=it.customer_words,
                sentiment=sentiment,
            )
            result[i] = interaction.pk
            continue
        fast.append(i)
        rows.append(
            (
                customer_id,
                None,
                it.channel,
                it.direction,
                batch.occurred_at[i],
                recorded_at,
                it.actor.pk if it.actor is not None else None,
                it.body,
                batch.data[i],
                it.source_id or None,
                sentiment[0] if sentiment else None,
                sentiment[1] if sentiment else None,
            )
        )
    for i, pk in zip(fast, _interactions_insert(rows), strict=True):
        result[i] = pk
    for i, key in repeats:
        result[i] = result[seen_in_batch[key]]
    if any(r is None for r in result):  # pragma: no cover - every branch above assigns
        raise DomainError("ingest lost an item", code=ErrorCode.INTERNAL, status=500)
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
