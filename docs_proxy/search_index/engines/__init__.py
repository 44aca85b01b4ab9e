"""The full-text engines behind the local index (SQLite FTS5, PostgreSQL full-text search), and which one
this database has: the index lives in the `default` database, so its vendor decides."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from docs_proxy.search_index.engines.base import Engine, EngineUnavailable

ENGINES = ("sqlite", "postgresql")


def engine_name() -> str:
    """The `default` database's engine; DOCS_INDEX_ENGINE may name it, but cannot name another."""
    vendor = connection.vendor
    wanted = (settings.DOCS_INDEX_ENGINE or "auto").strip().lower()
    if vendor not in ENGINES:
        raise EngineUnavailable(f"The local search index needs SQLite or PostgreSQL; this database is {vendor}.")
    if wanted not in ("auto", vendor):
        raise EngineUnavailable(
            f"DOCS_INDEX_ENGINE is {wanted!r} but the database is {vendor}: the index lives in the database "
            "the server uses, so set it to 'auto' or to that database's engine."
        )
    return vendor


def engine() -> Engine:
    if engine_name() == "postgresql":
        from docs_proxy.search_index.engines.postgres import PostgresEngine

        return PostgresEngine()
    from docs_proxy.search_index.engines.sqlite import SqliteEngine

    return SqliteEngine()
