"""The batch lookups of the write paths, in plain SQL: stored messages, identities' owners,
live customers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import (
    Customer,
    Identity,
    Interaction,
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
