"""Circuit breakers for the shared stores (Redis, the database), one per store and shared by the process.

Every user of Redis (the docs cache, the session directory, rate-limit counters) trips and honours the
same breaker, so a Redis that stalls (SIGSTOP, a full network buffer) costs one slow call per
BREAKER_SECONDS, not one per request. A timeout opens it as well as an error, and so does a call still
running after SLOW_CALL seconds: the calls that come meanwhile do not queue behind it. A quick failure
(connection refused) opens it for QUICK_FAILURE_SECONDS only, so a restarted Redis is used again within
a second. Every call here is blocking: run it in the "database" pool.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import OperationalError
from django_redis.cache import RedisCache as DjangoRedisCache

log = logging.getLogger(__name__)
T = TypeVar("T")
BREAKER_SECONDS = 5.0
SLOW_CALL = 0.25  # a store call running longer than this makes the others skip the store until it ends
QUICK_FAILURE_SECONDS = 1.0  # the store is skipped this long after a failure that cost no wait
# Django cache operations that can be repeated without changing the outcome: only these are retried once
# on a stale pooled connection (an `add` or `incr` that reached the server before the error must not run twice).
IDEMPOTENT = frozenset({"get", "get_many", "has_key", "keys", "set", "set_many", "delete", "delete_many", "touch"})


def timed_out(exc: BaseException) -> bool:
    """A store that did not answer in time (stalled Redis, locked SQLite): trying again at once would wait again."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError) or seen.__class__.__name__ == "TimeoutError":
            return True  # socket.timeout, redis.exceptions.TimeoutError
        if isinstance(seen, (OperationalError, sqlite3.OperationalError)) and "locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Breaker:
    """A circuit breaker for one store (Redis, the database), shared by every caller in the process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down_until = 0.0
        self.running: dict[int, float] = {}  # call -> when it began
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def available(self, mind_slow: bool = True) -> bool:
        """False while tripped; with `mind_slow`, also while another call has run past SLOW_CALL."""
        now = time.monotonic()
        if now < self.down_until:
            return False
        if not mind_slow:
            return True
        with self._lock:
            oldest = min(self.running.values(), default=now)
        return now - oldest < SLOW_CALL

    def trip(self, operation: str, exc: BaseException, slow: bool) -> None:
        """Skip the store for a while: long after a slow failure (each try costs a timeout), briefly after
        a quick one (a refused connection costs nothing, and the store may be back in a moment)."""
        period = BREAKER_SECONDS if slow else QUICK_FAILURE_SECONDS
        with self._lock:
            first = time.monotonic() >= self.down_until
            self.down_until = max(self.down_until, time.monotonic() + period)
        if first:
            log.warning(
                "%s %s failed (%s: %s); skipping it for %ss",
                self.name,
                operation,
                exc.__class__.__name__,
                str(exc)[:200],
                period,
            )

    def call(
        self,
        operation: str,
        fn: Callable[[], T],
        default: T,
        one_trip: bool = True,
        patient: bool = False,
        retry: bool = False,
    ) -> T:
        """`fn()`, or `default` when the store is down or fails (never raises).

        `one_trip`: fn is one round trip, so its running long means the store stalls (a listing that
        makes many is not watched that way). `patient`: the caller cannot do without the answer (a
        session's record: skipping it would tell a live session's client it is gone), so it is skipped
        only once the breaker has tripped, not merely because another call is slow. `retry`: fn is
        idempotent, so a quick failure (a pooled connection from before a restart) is tried once more."""
        if not self.available(mind_slow=not patient):
            return default
        started = time.monotonic()
        with self._lock:
            ticket = next(self._ids)
            if one_trip:
                self.running[ticket] = started
        try:
            try:
                return fn()
            except Exception as exc:
                if not retry or timed_out(exc):
                    raise
                return fn()  # a pooled connection from before a restart: once more, fresh
        except Exception as exc:  # a store failure must never fail the caller
            self.trip(operation, exc, timed_out(exc) or time.monotonic() - started > SLOW_CALL)
            return default
        finally:
            with self._lock:
                self.running.pop(ticket, None)


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker(name: str) -> Breaker:
    """The process's breaker for a store: "redis" (every Redis user) or "database"."""
    with _breakers_lock:
        found = _breakers.get(name)
        if found is None:
            found = _breakers[name] = Breaker(name)
        return found


def store_of(alias: str) -> str:
    """Which store a Django cache alias lives in (its breaker's name)."""
    backend = caches[alias]
    if isinstance(backend, DatabaseCache):
        return "database"
    if _is_redis(backend):
        return "redis"
    return f"cache:{alias}"  # in process memory: its own breaker, which never trips in practice


def _is_redis(backend: object) -> bool:
    return isinstance(backend, (RedisCache, DjangoRedisCache))


def cache_call(alias: str, operation: str, *args: Any, patient: bool = False) -> Any:
    """One call on a Django cache, through its store's breaker: None when the store is down (blocking)."""
    return breaker(store_of(alias)).call(
        f"cache {operation}",
        lambda: getattr(caches[alias], operation)(*args),
        None,
        patient=patient,
        retry=operation in IDEMPOTENT,
    )


def redis_call(operation: str, fn: Callable[..., T], *args: Any, retry: bool = False) -> T | None:
    """`fn(*args)` (which talks to Redis) through the Redis breaker: None when Redis is down (blocking).
    `retry` only when fn is idempotent (a read)."""
    return breaker("redis").call(operation, lambda: fn(*args), None, retry=retry)
