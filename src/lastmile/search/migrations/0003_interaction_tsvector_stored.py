"""PostgreSQL: the messages' ``tsvector`` stored in a generated column, indexed by GIN.

Migration 0001 indexed the expression ``to_tsvector('english', body)``. The index finds a
rare word's rows, but a common word is answered by walking the newest messages and testing
each one, and every test computed ``to_tsvector`` of the body again (about 100 µs for a
message of a few lines): 70 ms to walk 500 messages. A column ``GENERATED ALWAYS AS ...
STORED`` is computed once, when the row is written (as the expression index already did),
and the walk only compares it. The expression index goes: the column's index replaces it,
so a write still computes the vector once.

The column is the database's, not the customers app's model: Django never reads or
writes it (every insert names its columns), and a generated column cannot be written.
Adding it rewrites the table once (a fresh database has none of it to rewrite).

SQLite's FTS5 index (0001) stores its own postings; nothing changes there.
"""

from django.db import migrations

TABLE = "customers_interaction"
COLUMN = "search_body"

POSTGRES_FORWARD = [
    f"""ALTER TABLE {TABLE} ADD COLUMN {COLUMN} tsvector
        GENERATED ALWAYS AS (to_tsvector('english'::regconfig, body)) STORED""",
    f"CREATE INDEX search_interaction_body_tsv ON {TABLE} USING GIN ({COLUMN})",
    "DROP INDEX IF EXISTS search_interaction_body_fts",
    f"ANALYZE {TABLE}",
]
POSTGRES_BACKWARD = [
    f"""CREATE INDEX IF NOT EXISTS search_interaction_body_fts ON {TABLE}
        USING GIN (to_tsvector('english'::regconfig, body))""",
    "DROP INDEX IF EXISTS search_interaction_body_tsv",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {COLUMN}",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0002_case_customer_substring"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD}),
        ),
    ]
