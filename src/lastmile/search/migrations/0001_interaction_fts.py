"""Full-text index of the timeline's message text, on the database's own engine.

SQLite: an external-content FTS5 table over ``customers_interaction.body`` (the text is not
stored twice: FTS5 reads it back from the table for snippets), rowid = the interaction's id,
kept current by triggers. Triggers, not a service: the timeline is written by
``interactions_write`` as raw multi-row INSERTs on the ingest's hot path, by the admin and by
merges; a trigger sees every one. The update trigger fires only when ``body`` changes (a
merge or a case move rewrites other columns of thousands of rows). Porter stemming and
folded diacritics, as the knowledge base's index: "refunds" finds "refund", "café" "cafe".

PostgreSQL: a GIN index over ``to_tsvector('english', body)``, an expression index: the
database keeps it current on every write, no trigger, no extra column on the customers
app's table. 'english' rather than 'simple' so that both databases stem alike (FTS5's
porter and the English snowball stemmer agree on the common endings) and a search for
"refunded" finds "refund" on either; the price is that English stop words ("the", "and")
are not indexed, and a query of nothing else finds nothing on PostgreSQL.

Both are built from the rows already there when the migration runs.
"""

from django.db import migrations

FTS = "search_interaction_fts"
TABLE = "customers_interaction"

SQLITE_FORWARD = [
    f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
        body, content = '{TABLE}', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    f"""CREATE TRIGGER search_interaction_fts_insert AFTER INSERT ON {TABLE} BEGIN
        INSERT INTO {FTS}(rowid, body) VALUES (new.id, new.body);
    END""",
    f"""CREATE TRIGGER search_interaction_fts_update AFTER UPDATE OF body ON {TABLE} BEGIN
        INSERT INTO {FTS}({FTS}, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO {FTS}(rowid, body) VALUES (new.id, new.body);
    END""",
    f"""CREATE TRIGGER search_interaction_fts_delete AFTER DELETE ON {TABLE} BEGIN
        INSERT INTO {FTS}({FTS}, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_interaction_fts_insert",
    "DROP TRIGGER IF EXISTS search_interaction_fts_update",
    "DROP TRIGGER IF EXISTS search_interaction_fts_delete",
    f"DROP TABLE IF EXISTS {FTS}",
]

# The expression must be written exactly as the search query writes it, for the planner to
# use the index: ``to_tsvector('english'::regconfig, body)``.
POSTGRES_FORWARD = [
    f"""CREATE INDEX search_interaction_body_fts ON {TABLE}
        USING GIN (to_tsvector('english'::regconfig, body))""",
    # Statistics of the indexed expression (how common each word is), so that from the
    # first search the planner walks the newest rows for a common word and the index for
    # a rare one; without them it may walk a million rows for a word in a hundred.
    f"ANALYZE {TABLE}",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_interaction_body_fts",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_interaction_case_partial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
