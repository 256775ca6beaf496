"""Foreign keys whose single-column index was dropped (loops.0007, customers.0004,
channels.0007, live.0002) are still led by a composite index, and every other foreign key of
the project keeps an index that leads with its column: a delete of the row it points at, and
each lookup by it, stays an index scan."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models

pytestmark = pytest.mark.django_db

DROPPED = [
    ("customers_interaction", "customer_id", "interaction_timeline"),
    ("channels_outboxmessage", "customer_id", "outbox_customer"),
    ("live_notification", "recipient_id", "notification_list"),
    ("loops_loop", "customer_id", "loop_customer_state"),
]


def indexes(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    # A primary key is an index too (SQLite's introspection reports it as neither).
    return {
        name: c["columns"]
        for name, c in found.items()
        if c["index"] or c["unique"] or c["primary_key"]
    }


@pytest.mark.parametrize(("table", "column", "composite"), DROPPED)
def test_a_dropped_index_leaves_the_composite_that_leads_with_its_column(
    table: str, column: str, composite: str
) -> None:
    found = indexes(table)

    assert [name for name, cols in found.items() if cols == [column]] == []
    assert found[composite][0] == column


def test_every_foreign_key_leads_some_index() -> None:
    missing = []
    for model in apps.get_models():
        if not model.__module__.startswith("lastmile.") or not model._meta.managed:
            continue
        table = model._meta.db_table
        leading = {cols[0] for cols in indexes(table).values() if cols}
        for field in model._meta.local_fields:
            if isinstance(field, models.ForeignKey) and field.column not in leading:
                missing.append(f"{table}.{field.column}")

    assert missing == []
