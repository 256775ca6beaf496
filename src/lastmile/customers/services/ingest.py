"""The batch ingest of the HTTP API and the Segment-compatible API: many interactions,
resolved, written and reacted to in a handful of queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from lastmile.cases.selectors import cases_by_ref
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.customers.identities import IdentityKey
from lastmile.customers.services.customers import CustomerWanted, customer_ids_resolve
from lastmile.customers.services.lookups import customer_ids_live, interactions_stored
from lastmile.customers.services.timeline import (
    InteractionRow,
    interactions_write,
    sentiment_wanted,
)
from lastmile.people.viewers import Actor


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
    actor: Actor = None
    # False when the body is not the customer's own words (an event's generated summary):
    # then no sentiment is computed.
    customer_words: bool = True
    # A name for the customer, given to a new one or to one that has none yet.
    display_name: str = ""


@dataclass
class IngestBatch:
    """Items made ready for ``interactions_ingest`` before its transaction: whether each
    one wants a sentiment (the worker scores it), and its time and data in the database's form."""

    items: Sequence[InteractionIn]
    wants_sentiment: list[bool]
    occurred_at: list[Any]
    data: list[str | None]


def interactions_prepare(*, items: Sequence[InteractionIn]) -> IngestBatch:
    """The work of an ingest that needs no database, done before the write transaction.

    Encoding each item's data as JSON is the costly part. A caller that takes turns for the
    database's write lock prepares first, so no writer waits on the encoder. Sentiment is not
    scored here: the messages that want one are stored pending and the worker scores them
    (``services.sentiment``), as the model costs several times the rest of an ingest.
    """
    data = [_data_json(it, i) for i, it in enumerate(items)]  # refuses bad data first
    adapt = connection.ops.adapt_datetimefield_value
    return IngestBatch(
        items=items,
        wants_sentiment=[
            sentiment_wanted(direction=it.direction, body=it.body, customer_words=it.customer_words)
            for it in items
        ],
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
    resolved = customer_ids_resolve(
        wanted=[
            CustomerWanted(items[i].identities, display_name=items[i].display_name)
            for i in by_identity
        ],
        now=now,
        actor=None,
    )
    customer_of = dict(zip(by_identity, resolved.ids, strict=True))

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
                occurred_at_db=batch.occurred_at[i],
                body=it.body,
                data=it.data,
                data_json=batch.data[i],
                source_id=it.source_id or None,
                actor=it.actor,
                sentiment_pending=batch.wants_sentiment[i],
            )
        )
    # 6. One write; the loop engine reacts to the items on a case.
    for i, pk in zip(todo, interactions_write(rows=rows, now=now, stored=by_source), strict=True):
        result[i] = pk
    return result
