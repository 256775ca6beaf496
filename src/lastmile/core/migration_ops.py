"""Schema operations that keep big tables readable and writable while a migration runs.

The rule for a migration on a big table (``loops_loop``, ``customers_interaction``,
``cases_case``, ``customers_customer``: anything an installation may hold millions of rows
in), measured on PostgreSQL with 1,000,000 loops and 10,000,000 interactions in
bench/SCALE.md:

- **Indexes** only through ``AddIndexOnline`` / ``RemoveIndexOnline`` (or
  ``drop_field_indexes``), in a migration that says ``atomic = False``: ``CREATE INDEX
  CONCURRENTLY`` takes ``SHARE UPDATE EXCLUSIVE``, so reads and writes go on; a plain
  ``AddIndex`` stops writes for the whole build, and inside a transaction that also altered
  the table, reads too.
- **Constraints** (``CHECK``) through ``AddConstraintNotValid``, in a migration that says
  ``atomic = False``: added ``NOT VALID`` (a moment's ``ACCESS EXCLUSIVE``, no row read; rows
  written from then on are checked), then ``VALIDATE CONSTRAINT`` checks the rows already
  there under ``SHARE UPDATE EXCLUSIVE``. A plain ``AddConstraint`` reads every row with the
  table closed (1.3 s at 1,000,000 loops for ``loops.0006``).
- **Data fills** of a new column in batches (10,000 rows each in its own transaction, by
  ascending primary key), in a migration that says ``atomic = False``, and never in the
  transaction that added the column: the ``ADD COLUMN``'s ``ACCESS EXCLUSIVE`` lasts until
  that transaction commits (80.5 s with ``loops_loop`` unreadable for ``loops.0005`` filled in
  one transaction). The column is added nullable and without a default computed per row, so
  adding it rewrites nothing.
- Never a column whose values PostgreSQL computes for every row at once (``GENERATED ...
  STORED``, a volatile default, a type change): it rewrites the whole table under ``ACCESS
  EXCLUSIVE`` (``search.0003``: 138.5 s over 10,000,000 interactions).

A non-atomic migration that fails half way stays half applied (Django records it only once
it finished): what it did must be undone by hand, or the migration written so that running
it again finishes the job. On SQLite (one writer at a time, a few thousand rows at most)
every operation here is Django's plain one.

``AddIndexOnline`` is ``AddIndex`` that, on PostgreSQL, builds the index with
``CREATE INDEX CONCURRENTLY``: no lock that stops writes, at the price of two passes over
the table. PostgreSQL refuses that inside a transaction, so the migration that uses it
says ``atomic = False``. On SQLite (one writer at a time anyway) it is a plain ``AddIndex``.
``drop_field_indexes`` drops foreign keys' own indexes the same way (``DROP INDEX
CONCURRENTLY``).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


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


class AddConstraintNotValid(migrations.AddConstraint):
    """``AddConstraint`` of a ``CheckConstraint`` that keeps the table open on PostgreSQL.

    Two statements, each its own transaction (the migration says ``atomic = False``):
    ``ALTER TABLE ... ADD CONSTRAINT ... NOT VALID``, which holds ``ACCESS EXCLUSIVE`` only
    for a moment (no row is read; rows inserted or updated from then on are checked), then
    ``ALTER TABLE ... VALIDATE CONSTRAINT``, which checks the rows already there under
    ``SHARE UPDATE EXCLUSIVE``: reads and writes go on. The end state is the constraint a
    plain ``AddConstraint`` makes, validated (``pg_constraint.convalidated``); a row that
    breaks it makes the validation fail, and the migration with it.

    Inside a transaction the first statement's lock would last through the validation, no
    better than ``AddConstraint``: refused. Elsewhere (SQLite, which has no ``NOT VALID``)
    it is Django's plain ``AddConstraint``; backwards, Django's ``DROP CONSTRAINT`` on both.
    """

    def __init__(self, model_name: str, constraint: Any) -> None:
        if not isinstance(constraint, models.CheckConstraint):
            raise TypeError(
                f"AddConstraintNotValid takes a CheckConstraint (PostgreSQL has NOT VALID only "
                f"for CHECK and foreign keys), not {type(constraint).__name__}"
            )
        super().__init__(model_name, constraint)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        conn = schema_editor.connection
        if conn.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(conn.alias, model):
            return None
        if conn.in_atomic_block and not schema_editor.collect_sql:
            raise RuntimeError(
                f"AddConstraintNotValid({self.constraint.name!r}) needs a migration with "
                "atomic = False: in a transaction the table stays locked through the validation"
            )
        table = schema_editor.quote_name(model._meta.db_table)
        name = schema_editor.quote_name(self.constraint.name)
        schema_editor.execute(f"{self.constraint.create_sql(model, schema_editor)} NOT VALID")
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
        return None

    def describe(self) -> str:
        return f"{super().describe()} (NOT VALID, then validated)"


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
