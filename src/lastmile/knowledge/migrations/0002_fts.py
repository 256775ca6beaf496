"""Full-text search on the database's own engine, one branch per vendor.

SQLite: an FTS5 table (porter stemming, diacritics folded) with the article's id as rowid,
kept in step by triggers, so every write path (services, admin, raw SQL) is indexed. Tags
are indexed as words (``json_each``), not as JSON text.

PostgreSQL: a stored generated ``tsvector`` column (title weight A, tags B, body C, English
stemming) and a GIN index; the database recomputes it on every write.

Other databases get no index; ``articles_search`` refuses to run there.
"""

from django.db import migrations

FTS = "knowledge_article_fts"
TAGS_NEW = "(SELECT coalesce(group_concat(value, ' '), '') FROM json_each(new.tags))"

SQLITE_FORWARD = [
    f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
        title, body, tags, tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    f"""CREATE TRIGGER knowledge_article_fts_insert AFTER INSERT ON knowledge_article BEGIN
        INSERT INTO {FTS}(rowid, title, body, tags) VALUES (new.id, new.title, new.body_md, {TAGS_NEW});
    END""",
    f"""CREATE TRIGGER knowledge_article_fts_update AFTER UPDATE ON knowledge_article BEGIN
        DELETE FROM {FTS} WHERE rowid = old.id;
        INSERT INTO {FTS}(rowid, title, body, tags) VALUES (new.id, new.title, new.body_md, {TAGS_NEW});
    END""",
    f"""CREATE TRIGGER knowledge_article_fts_delete AFTER DELETE ON knowledge_article BEGIN
        DELETE FROM {FTS} WHERE rowid = old.id;
    END""",
    f"""INSERT INTO {FTS}(rowid, title, body, tags)
        SELECT a.id, a.title, a.body_md,
               (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(a.tags))
        FROM knowledge_article a""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_article_fts_insert",
    "DROP TRIGGER IF EXISTS knowledge_article_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_article_fts_delete",
    f"DROP TABLE IF EXISTS {FTS}",
]

POSTGRES_FORWARD = [
    """ALTER TABLE knowledge_article ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(jsonb_to_tsvector('english'::regconfig, tags, '["string"]'), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(body_md, '')), 'C')
    ) STORED""",
    "CREATE INDEX knowledge_article_search ON knowledge_article USING GIN (search)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS knowledge_article_search",
    "ALTER TABLE knowledge_article DROP COLUMN IF EXISTS search",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
