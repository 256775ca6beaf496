"""The timeline: its one writer, ``interactions_write``, and recording one interaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from lastmile.cases.services import cases_touch
from lastmile.core.db import rows_insert
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.events import event_emit_many
from lastmile.customers.columns import INTERACTION_COLUMNS
from lastmile.customers.models import (
    Customer,
    Direction,
    Interaction,
    Sentiment,
    SentimentPending,
)
from lastmile.customers.services.customers import customer_live, row_as_saved
from lastmile.customers.services.lookups import interactions_stored
from lastmile.people.viewers import Actor
from lastmile.sentiment import predict

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
    return [
        (label, float(score)) for label, score in predict([t[:SENTIMENT_MAX_CHARS] for t in texts])
    ]


def _sentiment_drain_soon() -> None:
    from lastmile.customers.services.sentiment import sentiment_drain_soon

    sentiment_drain_soon()


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
    actor: Actor = None
    sentiment: tuple[str, float] | None = None
    # True: stored unscored, for the worker to score (``services.sentiment``; the batch ingest).
    sentiment_pending: bool = False
    # ``occurred_at`` in the database's form, when the caller converted it before its
    # transaction (``interactions_prepare``); else it is converted here.
    occurred_at_db: Any = None
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
       database's form, without the ORM, as this is the ingest's hot path. A new row with
       ``sentiment_pending`` is marked ``SentimentPending`` (one more insert) and, once the
       transaction commits, the worker is asked to score it (``services.sentiment``).
    3. The cases the new rows are on are touched (``cases_touch``: their ``updated_at``
       moves up to ``now``), in one UPDATE for the batch.
    4. ``interaction.recorded`` (internal) is told once, with the new rows in order: the
       loop engine reacts to those on a case (reply loops), in this transaction.
    Sentiments are checked (InvalidInput: nothing written). All or nothing: inside the
    caller's transaction when there is one (no savepoint of its own: a batch's query count
    stays flat), else in its own.
    """
    if not rows:
        return []
    with transaction.atomic(savepoint=False):
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
                    adapt(r.occurred_at) if r.occurred_at_db is None else r.occurred_at_db,
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
        pending = [{"interaction_id": rows[i].pk} for i in new if rows[i].sentiment_pending]
        if pending:
            rows_insert(SentimentPending, pending)
            transaction.on_commit(_sentiment_drain_soon)
        for i, j in repeats:
            ids[i] = ids[j]
        cases_touch(case_ids={rows[i].case_id for i in new}, at=now)
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
    actor: Actor = None,
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
        live = customer_live(customer)
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
        return row_as_saved(
            Interaction(
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
    fields = [by_attname[c] for c in INTERACTION_COLUMNS]
    columns = [f.column for f in fields if f.column is not None]
    head = "INSERT INTO {} ({}) ".format(
        qn(Interaction._meta.db_table), ", ".join(qn(c) for c in columns)
    )
    if connection.vendor == "postgresql":
        return _rows_insert_pg(head, fields, rows)
    one = "({})".format(", ".join(["%s"] * len(fields)))
    head += "VALUES "
    step = 32_000 // len(INTERACTION_COLUMNS)
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
