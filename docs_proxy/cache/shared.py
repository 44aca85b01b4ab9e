"""L2: the shared Django cache `docs`, compressed JSON values, pattern listing, and a circuit breaker.

L2 is Redis (django-redis) when `REDIS_URL` is set and otherwise a table in the SQLite file, so a
management command reaches the same entries as the server. Values are JSON compressed with zlib.
Every call is synchronous (run it in the "database" pool) and never raises: a failing L2 is skipped
for a few seconds (the store's circuit breaker, `awsmcp.breaker`) and the caller carries on with L1
and the origin. Only idempotent operations are retried once (a lock `add` or a counter `incr` that
reached the server before the error must not run twice).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from awsmcp.breaker import IDEMPOTENT, Breaker, breaker, store_of
from docs_proxy.cache.backends import BackendAdapter, adapter_for_class
from docs_proxy.stats import stats

_FAILED: Any = object()


class SharedCache:
    """L2: the Django cache `docs`, compressed JSON values, pattern listing, and a circuit breaker."""

    def __init__(self, alias: str = "docs") -> None:
        self.alias = alias

    @property
    def adapter(self) -> BackendAdapter:
        """How to guard and list this backend, chosen once per backend class (settings fix the class; a test
        that swaps CACHES gets the adapter of the class it swapped in)."""
        return adapter_for_class(type(self.backend))

    @property
    def backend(self) -> Any:
        return caches[self.alias]  # Django's handles are per thread: look it up in the calling thread

    @property
    def breaker(self) -> Breaker:
        return breaker(store_of(self.alias))

    def available(self) -> bool:
        return self.breaker.available()

    def _call(
        self, operation: str, fn: Callable[[], Any], default: Any, one_trip: bool = True, patient: bool = False
    ) -> Any:
        if not self.breaker.available(mind_slow=not patient):
            return default

        def guarded() -> Any:
            with self.adapter.guarded(self.backend):
                return fn()

        result = self.breaker.call(
            f"docs cache L2 {operation}", guarded, _FAILED, one_trip, patient, retry=operation in IDEMPOTENT
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
            return int(backend.incr(key))

        return self._call("incr", incr, None)

    # --- listing -----------------------------------------------------------------------------------
    def keys(self, pattern: str) -> list[str]:
        """Our keys matching a glob (`*` only), whatever the backend."""
        found: list[str] = self._call("keys", lambda: self.adapter.keys(self.backend, pattern), [], one_trip=False)
        return found

    def footprint(self, pattern: str, limit: int) -> tuple[int, int, bool]:
        """(entries, bytes stored, capped) of our keys matching a glob: what `keys` lists, measured in the store,
        counted no further than `limit` entries (capped: there are more)."""
        found: tuple[int, int, bool] = self._call(
            "keys", lambda: self.adapter.footprint(self.backend, pattern, limit), (0, 0, False), one_trip=False
        )
        return found

    def delete_matching(self, pattern: str) -> int:
        keys = self.keys(pattern)
        if keys:
            self._call("delete", lambda: self.backend.delete_many(keys), None)
        return len(keys)
