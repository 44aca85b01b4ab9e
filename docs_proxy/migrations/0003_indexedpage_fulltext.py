"""The full-text side of the search index, in the engine of the database at hand.

SQLite: an FTS5 table over docs_proxy_indexedpage's title, headings, body and URL (external content: the
text is stored once, in the table), with the Porter stemmer, kept in step by triggers so every ORM write
is indexed. PostgreSQL: a generated tsvector column (title A, headings B, body C, URL words D) and a GIN
index on it, and small generated vectors of the title and the section titles for the ranking signals. Other databases get no full-text side (the local search says so).

A later migration that alters docs_proxy_indexedpage on SQLite must recreate the triggers: Django rebuilds
a SQLite table to alter it, and triggers go with the old table.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE docs_proxy_indexedpage_fts USING fts5(
        title, headings, body, url,
        content='docs_proxy_indexedpage', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER docs_proxy_indexedpage_fts_insert AFTER INSERT ON docs_proxy_indexedpage BEGIN
        INSERT INTO docs_proxy_indexedpage_fts(rowid, title, headings, body, url)
        VALUES (new.id, new.title, new.headings, new.body, new.url);
    END""",
    """CREATE TRIGGER docs_proxy_indexedpage_fts_delete AFTER DELETE ON docs_proxy_indexedpage BEGIN
        INSERT INTO docs_proxy_indexedpage_fts(docs_proxy_indexedpage_fts, rowid, title, headings, body, url)
        VALUES ('delete', old.id, old.title, old.headings, old.body, old.url);
    END""",
    """CREATE TRIGGER docs_proxy_indexedpage_fts_update AFTER UPDATE OF title, headings, body, url
        ON docs_proxy_indexedpage BEGIN
        INSERT INTO docs_proxy_indexedpage_fts(docs_proxy_indexedpage_fts, rowid, title, headings, body, url)
        VALUES ('delete', old.id, old.title, old.headings, old.body, old.url);
        INSERT INTO docs_proxy_indexedpage_fts(rowid, title, headings, body, url)
        VALUES (new.id, new.title, new.headings, new.body, new.url);
    END""",
    "INSERT INTO docs_proxy_indexedpage_fts(docs_proxy_indexedpage_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS docs_proxy_indexedpage_fts_update",
    "DROP TRIGGER IF EXISTS docs_proxy_indexedpage_fts_delete",
    "DROP TRIGGER IF EXISTS docs_proxy_indexedpage_fts_insert",
    "DROP TABLE IF EXISTS docs_proxy_indexedpage_fts",
]
POSTGRES_FORWARD = [
    """ALTER TABLE docs_proxy_indexedpage ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(headings, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'C')
        || setweight(to_tsvector('english'::regconfig, regexp_replace(url, '[^[:alnum:]]+', ' ', 'g')), 'D')
    ) STORED""",
    "CREATE INDEX docs_proxy_indexedpage_search ON docs_proxy_indexedpage USING GIN (search_vector)",
    # The title's and the section titles' own vectors, small: the ranking signals read them, not the page's.
    """ALTER TABLE docs_proxy_indexedpage
        ADD COLUMN title_vector tsvector
            GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(title, ''))) STORED,
        ADD COLUMN headings_vector tsvector
            GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(headings, ''))) STORED""",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS docs_proxy_indexedpage_search",
    "ALTER TABLE docs_proxy_indexedpage DROP COLUMN IF EXISTS headings_vector",
    "ALTER TABLE docs_proxy_indexedpage DROP COLUMN IF EXISTS title_vector",
    "ALTER TABLE docs_proxy_indexedpage DROP COLUMN IF EXISTS search_vector",
]


def _fts5_missing(schema_editor) -> bool:  # type: ignore[no-untyped-def]
    """A SQLite built without FTS5 gets no full-text side (the local search says so) rather than no server."""
    if schema_editor.connection.vendor != "sqlite":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
        return not cursor.fetchone()[0]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if _fts5_missing(schema_editor):
            return
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("docs_proxy", "0002_indexedpage")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
