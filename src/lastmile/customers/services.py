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
from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.core.events import event_emit_many
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import (
    Customer,
    CustomerMerge,
    Direction,
    Identity,
    Interaction,
    Sentiment,
)


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


def _live(customer: Customer) -> Customer:
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def customer_resolve(
    *, identities: Sequence[IdentityKey], now: datetime, display_name: str = "", actor: Any = None
) -> Resolved:
    """The customer these identities belong to: found, created, or merged
    (:func:`customers_resolve` for one)."""
    [done] = customers_resolve(
        wanted=[CustomerWanted(identities=identities, display_name=display_name)],
        now=now,
        actor=actor,
    )
    if done.created:
        customer = Customer(pk=done.customer_id, display_name=display_name[:200], created_at=now)
    else:
        customer = Customer.objects.get(pk=done.customer_id)
    return Resolved(customer=customer, created=done.created, merged_from=done.merged_from)


def customers_resolve(
    *, wanted: Sequence[CustomerWanted], now: datetime, actor: Any = None
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
    # The same identity twice is one identity.
    wanted = [
        CustomerWanted(list(dict.fromkeys(w.identities)), w.display_name, w.at) for w in wanted
    ]
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _resolve_many(wanted, now=now, actor=actor)
        except IntegrityError:
            # Another writer created one of these identities between our read and write.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _resolve_many(
    wanted: Sequence[CustomerWanted], *, now: datetime, actor: Any
) -> list[Resolution]:
    """:func:`customers_resolve` inside the caller's transaction. Customers are ids here; a
    customer this batch creates is a negative placeholder until it is inserted."""
    owner_of = identities_owners({k for w in wanted for k in w.identities})
    survivor: dict[int, int] = {}  # merged here -> merged into
    out: list[Resolution | None] = [None] * len(wanted)
    named: list[tuple[int, str]] = []  # (known customer, a name for it if it has none)
    pending: list[int] = []
    for i, w in enumerate(wanted):
        owners = {owner_of[k] for k in w.identities if k in owner_of}
        if len(owners) > 1 or (owners and any(k not in owner_of for k in w.identities)):
            # A merge, or new identities for a known customer.
            out[i] = _resolve_known(w, owners, owner_of, now=now, actor=actor)
            for pk in out[i].merged_from:  # type: ignore[union-attr]
                survivor[pk] = out[i].customer_id  # type: ignore[union-attr]
        elif owners:
            out[i] = Resolution(customer_id=next(iter(owners)))
            if w.display_name:
                named.append((out[i].customer_id, w.display_name))  # type: ignore[union-attr]
        else:
            pending.append(i)

    # New customers, one per distinct identity set not yet known (first wanted set wins).
    new: list[CustomerWanted] = []
    customer_of: dict[int, int] = {}
    creator: set[int] = set()
    extra: list[tuple[IdentityKey, int]] = []
    for i in pending:
        w = wanted[i]
        already = next((owner_of[k] for k in w.identities if k in owner_of), None)
        if already is not None:
            # A customer made for an earlier set of this batch (or resolved above): this
            # set's identities it does not have yet are added to it.
            for k in w.identities:
                if k not in owner_of:
                    owner_of[k] = already
                    if already > 0:
                        extra.append((k, already))
            customer_of[i] = already
            continue
        new.append(w)
        creator.add(i)
        for k in w.identities:
            owner_of[k] = -len(new)
        customer_of[i] = -len(new)
    placeholder: dict[int, int] = {}
    if new:
        pks = rows_insert(
            Customer,
            [{"display_name": w.display_name[:200], "created_at": w.at or now} for w in new],
            returning=True,
        )
        placeholder = {-(n + 1): pk for n, pk in enumerate(pks)}

    def live(cust: int) -> int:
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
    for i, cust in customer_of.items():
        out[i] = Resolution(customer_id=live(cust), created=i in creator)
    return [Resolution(live(r.customer_id), r.created, r.merged_from) for r in out if r is not None]


def _resolve_known(
    w: CustomerWanted,
    owners: set[int],
    owner_of: dict[IdentityKey, int],
    *,
    now: datetime,
    actor: Any,
) -> Resolution:
    """Identities of known customers: merge those into the oldest, attach the unknown ones
    to it (``owner_of`` learns them)."""
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
    Identity.objects.bulk_create(
        [
            Identity(
                customer=customer, kind=k.kind, network=k.network, value=k.value, created_at=now
            )
            for k in w.identities
            if k not in owner_of
        ]
    )
    for k in w.identities:
        owner_of[k] = customer.pk
    return Resolution(customer_id=customer.pk, merged_from=merged_from)


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
    """(label, score) per text, in one batch of the shipped model (loaded once per process):
    the sentiment of interactions, and of mentions (listening scores them with this too)."""
    if not texts:
        return []
    from lastmile.sentiment import predict

    return [
        (label, float(score)) for label, score in predict([t[:SENTIMENT_MAX_CHARS] for t in texts])
    ]


def _sentiment_checked(sentiment: tuple[str, float]) -> tuple[str, float]:
    label, score = sentiment
    if label not in Sentiment.values or not -1.0 <= float(score) <= 1.0:
        raise InvalidInput(
            f"not a sentiment: {sentiment!r}",
            [FieldError("sentiment", "a label of negative/neutral/positive, a score in [-1, 1]")],
        )
    return label, float(score)


@dataclass
class InteractionRow:
    """One interaction for :func:`interactions_write`, already decided: the customer is
    live, the sentiment scored (or None). ``pk`` is set once it is written; the loop engine
    reads these rows in the ``interaction.recorded`` event."""

    customer_id: int
    channel: str
    direction: str
    occurred_at: datetime
    case_id: int | None = None
    body: str = ""
    data: Any = None
    # ``data`` already encoded as JSON (``interactions_prepare`` encodes it before the
    # transaction); else it is encoded here.
    data_json: str | None = None
    source_id: str | None = None
    actor: Any = None
    sentiment: tuple[str, float] | None = None
    pk: int | None = None


def interactions_write(
    *,
    rows: Sequence[InteractionRow],
    now: datetime,
    stored: dict[tuple[str, str], int] | None = None,
) -> list[int]:
    """The one writer of the timeline: put ``rows`` on it; their ids, in order.

    1. Idempotent on (channel, source_id): a message stored before is not written again
       (its id is returned; ``stored`` is the caller's :func:`interactions_stored` lookup when
       it made one in this transaction), and one repeated in ``rows`` is written once.
    2. The new rows go in in one statement (SQLite: one per chunk of rows): in the
       database's form, without the ORM, as this is the ingest's hot path.
    3. ``interaction.recorded`` (internal) is told once, with the new rows in order: the
       loop engine reacts to those on a case (reply loops), in this transaction.
    Sentiments are checked (InvalidInput: nothing written). No savepoint of its own: all or
    nothing with the caller's transaction.
    """
    if not rows:
        return []
    if stored is None:
        stored = interactions_stored((r.channel, r.source_id) for r in rows if r.source_id)
    ids: list[int] = [0] * len(rows)
    first: dict[tuple[str, str], int] = {}
    repeats: list[tuple[int, int]] = []
    new: list[int] = []
    for i, r in enumerate(rows):
        if r.source_id:
            key = (r.channel, r.source_id)
            if key in stored:
                ids[i] = stored[key]
                continue
            if key in first:
                repeats.append((i, first[key]))
                continue
            first[key] = i
        new.append(i)
    adapt = connection.ops.adapt_datetimefield_value
    recorded_at = adapt(now)
    values = []
    for i in new:
        r = rows[i]
        sentiment = _sentiment_checked(r.sentiment) if r.sentiment is not None else None
        values.append(
            (
                r.customer_id,
                r.case_id,
                r.channel,
                r.direction,
                adapt(r.occurred_at),
                recorded_at,
                r.actor.pk if r.actor is not None else None,
                r.body,
                r.data_json
                if r.data_json is not None
                else (json.dumps(r.data) if r.data is not None else None),
                r.source_id or None,
                sentiment[0] if sentiment else None,
                sentiment[1] if sentiment else None,
            )
        )
    for i, pk in zip(new, _rows_insert(values), strict=True):
        ids[i] = rows[i].pk = pk
    for i, j in repeats:
        ids[i] = ids[j]
    event_emit_many(
        "interaction.recorded", [({"interaction": rows[i]}, now) for i in new], internal=True
    )
    return ids


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
    """Put one interaction on the timeline (:func:`interactions_write` for one); on a case,
    the loop engine reacts (reply loops).

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
        live = _live(customer)
        row = InteractionRow(
            customer_id=live.pk,
            case_id=case.pk if case is not None else None,
            channel=channel,
            direction=direction,
            occurred_at=occurred_at,
            body=body,
            data=data,
            source_id=source_id or None,
            actor=actor,
            sentiment=sentiment,
        )
        [pk] = interactions_write(rows=[row], now=now)
        if row.pk is None:  # stored before
            return Interaction.objects.get(pk=pk)
        return Interaction(
            pk=pk,
            customer=live,
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


def interactions_stored(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(channel, source_id) → id, for the messages among ``keys`` already on the timeline.

    Plain SQL: the ORM spends more time building an ``IN`` of a thousand ids than the
    database spends answering it, inside the write transaction.
    """
    keyed: dict[str, set[str]] = defaultdict(set)
    for channel, source_id in keys:
        keyed[channel].add(source_id)
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


def customer_ids_live(ids: Iterable[int]) -> dict[int, int]:
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


def identities_owners(keys: Iterable[IdentityKey]) -> dict[IdentityKey, int]:
    """The live customer id of each known identity among ``keys``, in one query per
    (kind, network) (plain SQL, for the reason given in ``interactions_stored``)."""
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
        live = customer_ids_live(merged)
        found = {k: live.get(c, c) for k, c in found.items()}
    return found


# The columns interactions_write writes, in the order of its row tuples.
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


def _rows_insert(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert timeline rows already in the database's form; their ids, in order.

    ``core.db.rows_insert`` converts every value of every row, which inside the write
    transaction was a third of an ingest's time there; ``interactions_prepare`` encodes
    the costly values (JSON) beforehand, and this only writes. SQLite: one multi-row
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
        return _rows_insert_pg(head, fields, rows)
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


def _rows_insert_pg(head: str, fields: Sequence[Any], rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """The rows as one array per column (``data`` already JSON text, cast to jsonb by the
    server); the ids come back in row order, as Django's own unnest inserts rely on."""
    import psycopg

    arrays = ", ".join(f"%b::{f.cast_db_type(connection)}[]" for f in fields)
    columns = [list(column) for column in zip(*rows, strict=True)]
    sql = f"{head}SELECT * FROM unnest({arrays}) RETURNING {connection.ops.quote_name('id')}"
    # Django's cursors bind client-side, quoting every array element as text; a
    # server-side-binding cursor sends the arrays in binary.
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
        cur.execute(sql, columns)
        ids = [r[0] for r in cur.fetchall()]
    if connection.queries_logged:  # counted where Django's cursors count theirs (tests)
        connection.queries_log.append({"sql": f"{sql} -- {len(rows)} rows", "time": "0.000"})
    return ids


# --- the batch ingest (HTTP API, Segment) ------------------------------------------------


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


@dataclass
class IngestBatch:
    """Items made ready for ``interactions_ingest`` before its transaction: each one's
    sentiment (None where none is wanted), and its data as JSON."""

    items: Sequence[InteractionIn]
    sentiments: list[tuple[str, float] | None]
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
    return IngestBatch(items=items, sentiments=sentiments, data=data)


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

    A handful of queries whatever the batch size: one lookup of known source ids, the
    batch's identity resolution (``customers_resolve``), one insert of the interactions
    (``interactions_write``). Items on a case are written with the rest; the loop engine
    reacts to them together (``interaction.recorded``).
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


def _ingest(batch: IngestBatch, *, now: datetime) -> list[int]:
    from lastmile.cases.selectors import cases_by_ref

    items = batch.items
    # 1. Messages already stored.
    by_source = interactions_stored((it.channel, it.source_id) for it in items if it.source_id)

    # 2. Cases named by reference.
    refs = {it.case_ref for it in items if it.case_ref}
    cases = cases_by_ref(refs) if refs else {}
    errors = [
        FieldError("case", f"no case {it.case_ref}", i)
        for i, it in enumerate(items)
        if it.case_ref and it.case_ref not in cases
    ]
    # 3. Customers by id; a merged customer's id stands for the one it was merged into.
    by_id = customer_ids_live({it.customer_id for it in items if it.customer_id is not None})
    errors += [
        FieldError("customer.id", f"no customer {it.customer_id}", i)
        for i, it in enumerate(items)
        if it.customer_id is not None and it.customer_id not in by_id
    ]
    if errors:
        raise InvalidInput(errors[0].reason, errors)

    # 4. Customers by identity, for the messages not stored yet, in bulk.
    result: list[int] = [0] * len(items)
    todo: list[int] = []
    for i, it in enumerate(items):
        if it.source_id and (it.channel, it.source_id) in by_source:
            result[i] = by_source[(it.channel, it.source_id)]
        else:
            todo.append(i)
    by_identity = [i for i in todo if items[i].customer_id is None]
    resolved = _resolve_many(
        [CustomerWanted(list(dict.fromkeys(items[i].identities))) for i in by_identity],
        now=now,
        actor=None,
    )
    customer_of = {i: r.customer_id for i, r in zip(by_identity, resolved, strict=True)}

    # 5. A case must be its customer's (as it is after this batch's merges).
    owner = customer_ids_live({c.customer_id for c in cases.values()}) if cases else {}
    rows: list[InteractionRow] = []
    for i in todo:
        it = items[i]
        customer_id = by_id[it.customer_id] if it.customer_id is not None else customer_of[i]
        case = cases.get(it.case_ref) if it.case_ref else None
        if case is not None and owner.get(case.customer_id) != customer_id:
            raise InvalidInput(
                f"case {it.case_ref} belongs to another customer",
                [FieldError("case", f"{it.case_ref} is not this customer's case", i)],
            )
        rows.append(
            InteractionRow(
                customer_id=customer_id,
                case_id=case.pk if case is not None else None,
                channel=it.channel,
                direction=it.direction,
                occurred_at=it.occurred_at,
                body=it.body,
                data=it.data,
                data_json=batch.data[i],
                source_id=it.source_id or None,
                actor=it.actor,
                sentiment=batch.sentiments[i],
            )
        )
    # 6. One write; the loop engine reacts to the items on a case.
    for i, pk in zip(todo, interactions_write(rows=rows, now=now, stored=by_source), strict=True):
        result[i] = pk
    return result


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
