"""What the shared layer must know about each Django cache backend, chosen once per SharedCache.

Listing keys by pattern is not part of Django's cache API, so each backend gets its own way, and the
database backend gets a bounded lock wait. The Django privates this needs are read here and nowhere
else, written against Django==5.2.19 and django-redis==7.0.0 (requirements.txt pins both):
`DatabaseCache._table` (the table's name) and `LocMemCache._cache` (the process's dict of entries).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections, router
from django_redis.cache import RedisCache as DjangoRedisCache

from awsmcp.breaker import timed_out


class BackendAdapter:
    """A backend we cannot list: calls run as they are, and listing fails (the breaker counts it)."""

    def guarded(self, backend: Any) -> AbstractContextManager[None]:
        """The context each call on the backend runs in."""
        return nullcontext()

    def keys(self, backend: Any, pattern: str) -> list[str]:
        raise NotImplementedError(f"listing keys of {backend.__class__.__name__}")

    def footprint(self, backend: Any, pattern: str, limit: int) -> tuple[int, int, bool]:
        """(entries, bytes stored, capped) of the keys `keys` lists for the pattern, counted the same way but no
        further than `limit` entries: capped means there are more (the figures are then lower bounds)."""
        raise NotImplementedError(f"measuring {backend.__class__.__name__}")


SCAN_CHUNK = 1000  # keys a Redis SCAN step asks for, and STRLENs per pipeline: the count holds no more names


class RedisAdapter(BackendAdapter):
    def keys(self, backend: Any, pattern: str) -> list[str]:
        return [str(k) for k in backend.iter_keys(pattern)]

    def footprint(self, backend: Any, pattern: str, limit: int) -> tuple[int, int, bool]:
        # The SCAN iter_keys makes, then a pipelined STRLEN per key (the stored, pickled value's bytes), a chunk at a
        # time: a store of millions of keys is neither held in memory nor sent as one pipeline.
        client = backend.client.get_client(write=False)
        entries = size = 0
        chunk: list[Any] = []
        for name in client.scan_iter(match=backend.client.make_pattern(pattern), count=SCAN_CHUNK):
            if entries + len(chunk) >= limit:
                return entries + len(chunk), size + _strlen(client, chunk), True
            chunk.append(name)
            if len(chunk) == SCAN_CHUNK:
                entries, size, chunk = entries + len(chunk), size + _strlen(client, chunk), []
        return entries + len(chunk), size + _strlen(client, chunk), False


def _strlen(client: Any, names: list[Any]) -> int:
    if not names:
        return 0
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.strlen(name)
    return sum(pipe.execute())


class DatabaseAdapter(BackendAdapter):
    def guarded(self, backend: Any) -> AbstractContextManager[None]:
        return bounded_database(backend)

    def keys(self, backend: Any, pattern: str) -> list[str]:
        prefix = backend.make_key("")
        rows = self._query(backend, *self._select(backend, "cache_key", pattern))
        return [row[0][len(prefix) :] for row in rows]

    def footprint(self, backend: Any, pattern: str, limit: int) -> tuple[int, int, bool]:
        # Every matching row, expired ones too: they are what a purge (`keys`, then delete_many) removes. The value
        # column (text) holds the pickled value in base64: its size in bytes is what the row stores. At most
        # limit + 1 rows are read: the one past the limit only says that there are more.
        size = _BYTES.get(_connection(backend).vendor, "LENGTH(value)")
        matched, params = self._select(backend, f"{size} AS size", pattern, f" LIMIT {int(limit) + 1}")
        count, stored = self._query(backend, f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM ({matched}) m", params)[0]
        return min(int(count), limit), int(stored), int(count) > limit

    def _select(self, backend: Any, columns: str, pattern: str, tail: str = "") -> tuple[str, list[Any]]:
        """The query for rows of the cache table whose key matches the glob (`*` only), and its parameters."""
        like = backend.make_key(pattern).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = like.replace("*", "%")
        table = _connection(backend).ops.quote_name(backend._table)
        return f"SELECT {columns} FROM {table} WHERE cache_key LIKE %s ESCAPE '\\'{tail}", [like]

    @staticmethod
    def _query(backend: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with _connection(backend).cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())


# A text column's size in bytes: PostgreSQL's octet_length reads the stored size (no detoasting); SQLite's LENGTH
# of text counts characters, of a blob bytes.
_BYTES = {"postgresql": "octet_length(value)", "sqlite": "LENGTH(CAST(value AS BLOB))"}


def _connection(backend: Any) -> Any:
    return connections[router.db_for_read(backend.cache_model_class)]


class LocMemAdapter(BackendAdapter):
    def keys(self, backend: Any, pattern: str) -> list[str]:
        prefix = backend.make_key("")
        names = [k[len(prefix) :] for k in list(backend._cache.keys()) if k.startswith(prefix)]
        return [k for k in names if fnmatch.fnmatchcase(k, pattern)]

    def footprint(self, backend: Any, pattern: str, limit: int) -> tuple[int, int, bool]:
        prefix = backend.make_key("")
        names = self.keys(backend, pattern)
        sizes = [len(backend._cache.get(prefix + name, b"")) for name in names[:limit]]
        return len(sizes), sum(sizes), len(names) > limit


_adapters: dict[type[BaseCache], BackendAdapter] = {}


def adapter_for_class(kind: type[BaseCache]) -> BackendAdapter:
    """The adapter for a backend class (subclasses included), chosen once per class."""
    found = _adapters.get(kind)
    if found is None:
        if issubclass(kind, DjangoRedisCache):
            found = RedisAdapter()
        elif issubclass(kind, DatabaseCache):
            found = DatabaseAdapter()
        elif issubclass(kind, LocMemCache):
            found = LocMemAdapter()
        else:
            found = BackendAdapter()
        _adapters[kind] = found
    return found


def adapter_for(backend: BaseCache) -> BackendAdapter:
    """The adapter for a backend."""
    return adapter_for_class(type(backend))


@contextmanager
def bounded_database(backend: Any) -> Iterator[None]:
    """Database L2 calls: on SQLite, wait at most DOCS_CACHE_L2_TIMEOUT for a lock held elsewhere (the
    connection's own busy timeout is 20 s); and a lock timeout that DatabaseCache swallows (its add and
    set answer False on any database error) is raised again, so the breaker sees it."""
    connection = connections[router.db_for_write(backend.cache_model_class)]
    usual: int | None = None
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            usual = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA busy_timeout = {int(settings.DOCS_CACHE_L2_TIMEOUT * 1000)}")
    timeouts: list[Exception] = []

    def watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            if timed_out(exc):
                timeouts.append(exc)
            raise

    try:
        with connection.execute_wrapper(watch):
            yield
    finally:
        if usual is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {usual}")
    if timeouts:
        raise timeouts[0]
