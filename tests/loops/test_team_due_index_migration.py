"""loops.0009 swaps ``loop_team_due`` for ``loop_team_due_id`` (``id`` last, for a team's
inbox ordered by deadline then id), building and dropping online on PostgreSQL; both ways."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("loops", "0008_loop_open_due_breached")
AFTER = ("loops", "0009_loop_team_due_id")


def loop_indexes() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "loops_loop")
    return {name: c["columns"] for name, c in found.items() if c["index"]}


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.mark.django_db(transaction=True)
def test_the_team_inbox_index_gains_the_id_and_goes_back() -> None:
    assert loop_indexes()["loop_team_due_id"] == ["team_id", "state", "due_at", "id"]
    assert "loop_team_due" not in loop_indexes()
    try:
        migrate(BEFORE)

        assert loop_indexes()["loop_team_due"] == ["team_id", "state", "due_at"]
        assert "loop_team_due_id" not in loop_indexes()
    finally:
        migrate(AFTER)

    assert loop_indexes()["loop_team_due_id"] == ["team_id", "state", "due_at", "id"]
    assert "loop_team_due" not in loop_indexes()
