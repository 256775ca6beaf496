"""Substring indexes for the search box's case subjects and customer names.

Both are found by "contains the query" (``LM`` finds nothing by word, "kett" finds "kettle",
"Customer 42" finds "Customer 4242"). Without an index that is a scan of every case and
every customer on each search (100 ms over 100,000 cases), whatever the viewer may open.

SQLite: external-content FTS5 tables with the ``trigram`` tokenizer (SQLite 3.34+), rowid =
the case's / the customer's id, kept current by triggers as migration 0001 keeps the
messages' index (the cases and customers apps write these tables in bulk too). A quoted
query of three characters or more is a substring match, case-insensitive, answered from
the index and walked newest first (rowid order); shorter queries scan as before.

PostgreSQL: ``pg_trgm`` GIN indexes over ``UPPER(column::text)``: the expression Django
writes for ``icontains``, so the queries stay ORM lookups. ``pg_trgm`` is a trusted
extension (PostgreSQL 13+): the database's owner may create it, no superuser needed.
"""

from django.db import migrations

CASES = "cases_case"
CUSTOMERS = "customers_customer"
# (index table, content table, column)
INDEXES = [
    ("search_case_fts", CASES, "subject"),
    ("search_customer_fts", CUSTOMERS, "display_name"),
]


def _sqlite_forward() -> list[str]:
    out = []
    for fts, table, column in INDEXES:
        out += [
            f"""CREATE VIRTUAL TABLE {fts} USING fts5(
                {column}, content = '{table}', content_rowid = 'id', tokenize = 'trigram'
            )""",
            f"""CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN
                INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});
            END""",
            f"""CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} BEGIN
                INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});
                INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});
            END""",
            f"""CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN
                INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});
            END""",
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        ]
    return out


def _sqlite_backward() -> list[str]:
    out = []
    for fts, _, _ in INDEXES:
        out += [f"DROP TRIGGER IF EXISTS {fts}_{op}" for op in ("insert", "update", "delete")]
        out.append(f"DROP TABLE IF EXISTS {fts}")
    return out


POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"""CREATE INDEX search_case_subject_trgm ON {CASES}
        USING GIN ((UPPER(subject::text)) gin_trgm_ops)""",
    f"""CREATE INDEX search_customer_name_trgm ON {CUSTOMERS}
        USING GIN ((UPPER(display_name::text)) gin_trgm_ops)""",
    f"ANALYZE {CASES}",
    f"ANALYZE {CUSTOMERS}",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_case_subject_trgm",
    "DROP INDEX IF EXISTS search_customer_name_trgm",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_interaction_fts"),
        ("cases", "0005_unsolved_list_indexes"),
        ("customers", "0003_interaction_case_partial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": _sqlite_forward(), "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": _sqlite_backward(), "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
