"""Schema operations that keep big tables writable while a migration runs.

``AddIndexOnline`` is ``AddIndex`` that, on PostgreSQL, builds the index with
``CREATE INDEX CONCURRENTLY``: no lock that stops writes, at the price of two passes over
the table. PostgreSQL refuses that inside a transaction, so the migration that uses it
says ``atomic = False``. On SQLite (one writer at a time anyway) it is a plain ``AddIndex``.
``drop_field_indexes`` drops foreign keys' own indexes the same way (``DROP INDEX
CONCURRENTLY``).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


class AddIndexOnline(migrations.AddIndex):
    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
        return None

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)
        return None


class RemoveIndexOnline(migrations.RemoveIndex):
    """``RemoveIndex`` as ``DROP INDEX CONCURRENTLY`` on PostgreSQL (reads and writes go on;
    the migration must not be atomic), a plain ``DROP INDEX`` elsewhere."""

    def _online(self, app_label: str, schema_editor: Any, state: Any, *, add: bool) -> None:
        model = state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            change = schema_editor.add_index if add else schema_editor.remove_index
            change(model, index, concurrently=True)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self._online(app_label, schema_editor, from_state, add=False)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self._online(app_label, schema_editor, to_state, add=True)


def _single_column_indexes(schema_editor: Any, table: str, column: str) -> list[str]:
    """The plain (not unique, not primary key) indexes on ``column`` alone, whatever their
    names: a foreign key's own index, as Django made it."""
    conn = schema_editor.connection
    with conn.cursor() as cursor:
        found = conn.introspection.get_constraints(cursor, table)
    return [
        name
        for name, c in found.items()
        if c["index"]
        and not c["unique"]
        and not c["primary_key"]
        and c["columns"] == [column]
        and not c.get("foreign_key")
    ]


def drop_field_indexes(app_label: str, model_name: str, fields: tuple[str, ...]) -> Any:
    """A ``RunPython`` that drops the single-column indexes of ``fields`` (foreign keys whose
    lookups a composite index already serves) for a ``SeparateDatabaseAndState`` whose state
    side says ``db_index=False``: ``DROP INDEX CONCURRENTLY`` on PostgreSQL, so reads and
    writes go on (the migration is not atomic for that), a plain ``DROP INDEX`` on SQLite,
    where an ``AlterField`` would copy the table once per field. Reversed, it makes them
    again."""

    def drop(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        table = model._meta.db_table
        postgresql = schema_editor.connection.vendor == "postgresql"
        concurrently = " CONCURRENTLY" if postgresql else ""
        for name in fields:
            column = model._meta.get_field(name).column
            for index in _single_column_indexes(schema_editor, table, column):
                schema_editor.execute(
                    f"DROP INDEX{concurrently} IF EXISTS {schema_editor.quote_name(index)}"
                )

    def create(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        for name in fields:
            field = model._meta.get_field(name)
            if not _single_column_indexes(schema_editor, model._meta.db_table, field.column):
                schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))

    return migrations.RunPython(drop, create)
