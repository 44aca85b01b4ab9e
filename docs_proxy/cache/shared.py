"""The docs cache's two layers: an in-process LRU (L1) and the shared Django cache `docs` (L2).

L1 is bounded by bytes and time. L2 is Redis (django-redis) when `REDIS_URL` is set and otherwise a
table in the SQLite file, so a management command reaches the same entries as the server. L2
values are JSON compressed with zlib. Every L2 call is synchronous (run it in the "database" pool)
and never raises: a failing L2 is skipped for a few seconds (the store's circuit breaker,
`awsmcp.breaker`) and the caller carries on with L1 and the origin. On SQLite, L2 calls wait
DOCS_CACHE_L2_TIMEOUT at most for a database locked by someone else, not the connection's long busy
timeout.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.db import connections, router

from awsmcp.breaker import IDEMPOTENT, Breaker, breaker, store_of, timed_out
from docs_proxy.stats import stats

log = logging.getLogger(__name__)
T = TypeVar("T")
_FAILED: Any = object()


@dataclass(slots=True)
class Entry(Generic[T]):
    value: T
    size: int
    expires: float


class MemoryCache(Generic[T]):
    """L1: an LRU bounded by bytes, each entry with its own expiry (monotonic seconds)."""

    def __init__(self, max_bytes: int, ttl: float) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.entries: OrderedDict[str, Entry[T]] = OrderedDict()
        self.bytes = 0

    def get(self, key: str) -> T | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            self._drop(key)
            return None
        self.entries.move_to_end(key)
        return entry.value

    def put(self, key: str, value: T, size: int, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        if size > self.max_bytes or ttl <= 0:
            return
        self._drop(key)
        self.entries[key] = Entry(value, size, time.monotonic() + ttl)
        self.bytes += size
        while self.bytes > self.max_bytes and self.entries:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def matching(self, pattern: str) -> list[str]:
        return [key for key in self.entries if fnmatch.fnmatchcase(key, pattern)]

    def delete_matching(self, pattern: str) -> int:
        keys = self.matching(pattern)
        for key in keys:
            self._drop(key)
        return len(keys)

    def clear(self) -> int:
        count = len(self.entries)
        self.entries.clear()
        self.bytes = 0
        return count


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


class SharedCache:
    """L2: the Django cache `docs`, compressed JSON values, pattern listing, and a circuit breaker."""

    def __init__(self, alias: str = "docs") -> None:
        self.alias = alias

    @property
    def backend(self) -> Any:
        return caches[self.alias]

    @property
    def breaker(self) -> Breaker:
        return breaker(store_of(self.alias))

    def available(self) -> bool:
        return self.breaker.available()

    def _call(self, operation: str, fn: Any, default: Any, one_trip: bool = True, patient: bool = False) -> Any:
        if not self.breaker.available(mind_slow=not patient):
            return default
        if self.backend.__class__.__name__ == "DatabaseCache":
            inner = fn

            def fn() -> Any:
                with bounded_database(self.backend):
                    return inner()

        result = self.breaker.call(
            f"docs cache L2 {operation}", fn, _FAILED, one_trip, patient, retry=operation in IDEMPOTENT
        )
        if result is _FAILED:
            stats.count("l2_errors")
            return default
        return result

    # --- values ----------------------------------------------------------------------------------
    def get(self, key: str, patient: bool = False) -> Any | None:
        raw = self._call("get", lambda: self.backend.get(key), None, patient=patient)
        if raw is None:
            return None
        try:
            return json.loads(zlib.decompress(raw))
        except (zlib.error, ValueError, TypeError):
            return None

    def set(self, key: str, value: Any, ttl: float) -> bool:
        raw = zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 3)
        return bool(self._call("set", lambda: self.backend.set(key, raw, max(1, int(ttl))) or True, False))

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", lambda: self.backend.delete(key), False))

    # --- coordination ------------------------------------------------------------------------------
    # Patient: a lock skipped because another call is slow would read as free (or as taken), and every
    # process would fetch the same page; these calls give up only once the breaker has tripped.
    def add(self, key: str, value: Any, ttl: float) -> bool | None:
        """Set only if absent (a short lock): True when set, False when taken, None when L2 is down."""
        added = self._call("add", lambda: self.backend.add(key, value, max(1, int(ttl))), None, patient=True)
        return None if added is None else bool(added)

    def get_plain(self, key: str, patient: bool = False) -> Any | None:
        return self._call("get", lambda: self.backend.get(key), None, patient=patient)

    def set_plain(self, key: str, value: Any, ttl: float | None) -> None:
        self._call("set", lambda: self.backend.set(key, value, None if ttl is None else max(1, int(ttl))), None)

    def bump(self, key: str) -> int | None:
        """Increment a counter, creating it; atomic on Redis."""

        def incr() -> int:
            backend = self.backend
            backend.add(key, 0, None)
            return backend.incr(key)

        return self._call("incr", incr, None)

    # --- listing -----------------------------------------------------------------------------------
    def keys(self, pattern: str) -> list[str]:
        """Our keys matching a glob (`*` only), whatever the backend."""
        return self._call("keys", lambda: self._keys(pattern), [], one_trip=False)

    def _keys(self, pattern: str) -> list[str]:
        backend = self.backend
        kind = backend.__class__.__name__
        if kind == "RedisCache":
            return [str(k) for k in backend.iter_keys(pattern)]
        prefix = backend.make_key("")
        if kind == "DatabaseCache":
            like = backend.make_key(pattern).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = like.replace("*", "%")
            connection = connections[router.db_for_read(backend.cache_model_class)]
            table = connection.ops.quote_name(backend._table)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT cache_key FROM {table} WHERE cache_key LIKE %s ESCAPE '\\'", [like])
                return [row[0][len(prefix) :] for row in cursor.fetchall()]
        if kind == "LocMemCache":
            names = [k[len(prefix) :] for k in list(backend._cache.keys()) if k.startswith(prefix)]
            return [k for k in names if fnmatch.fnmatchcase(k, pattern)]
        raise NotImplementedError(f"listing keys of {kind}")

    def delete_matching(self, pattern: str) -> int:
        keys = self.keys(pattern)
        if keys:
            self._call("delete", lambda: self.backend.delete_many(keys), None)
        return len(keys)
