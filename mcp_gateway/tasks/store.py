"""Where task records live: a small key-value interface, in process memory or on a shared cache.

The task manager keeps its records, the per-owner index and the inboxes other processes write
(input responses, cancel requests) behind this interface, so the same code serves one process
(`MemoryStore`) and a fleet (`CacheStore` over Django's default cache, Redis there).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from mcp_gateway.jsonrpc import dumps_bytes


class TaskStore(Protocol):
    """Values are JSON-like; `ttl` is in seconds. A store that is down answers None / {} / False."""

    # True when other processes read and write the same records (the running task then watches its inbox).
    shared: bool

    async def get(self, key: str) -> Any | None: ...

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...

    async def set(self, key: str, value: Any, ttl: float, confirm: bool = False) -> bool:
        """Write; with `confirm`, True only once a read would find the value (else: True unless known lost)."""
        ...

    async def delete(self, key: str) -> None: ...


class MemoryStore:
    """Records of one process (no Redis), expired lazily on read and swept as the table grows.

    Bounded exactly by `max_bytes` (their JSON size): a write that would take the table past it is refused
    (answers False), whatever it writes. A confirmed write (a new task) must also leave `reserve` bytes free
    (default a sixteenth), kept for the tasks already made: their questions, and their failure when a result
    does not fit (the manager then keeps the task as failed, saying so)."""

    shared = False
    SWEEP_EVERY = 1024  # writes between sweeps of expired entries

    def __init__(
        self,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        reserve: int | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.reserve = max_bytes // 16 if reserve is None else reserve
        self._clock = clock
        self._items: dict[str, tuple[float, Any, int]] = {}
        self._writes = 0
        self.bytes = 0

    def _live(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            self._drop(key)
            return None
        return item[1]

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= item[2]

    async def get(self, key: str) -> Any | None:
        return self._live(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found = {key: self._live(key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    async def set(self, key: str, value: Any, ttl: float, confirm: bool = False) -> bool:
        self._writes += 1
        size = len(dumps_bytes(value))
        limit = self.max_bytes - self.reserve if confirm else self.max_bytes
        if self._writes % self.SWEEP_EVERY == 0 or self._after(key, size) > limit:
            now = self._clock()
            for stale in [k for k, (expires, _, _) in self._items.items() if expires <= now]:
                self._drop(stale)
        if self._after(key, size) > limit:
            return False
        self._drop(key)
        self._items[key] = (self._clock() + ttl, value, size)
        self.bytes += size
        return True

    async def delete(self, key: str) -> None:
        self._drop(key)

    def _after(self, key: str, size: int) -> int:
        """The table's bytes once `key` holds a value of `size` bytes (its old value replaced)."""
        old = self._items.get(key)
        return self.bytes - (old[2] if old is not None else 0) + size

    def __len__(self) -> int:
        return len(self._items)


CacheCall = Callable[..., Awaitable[Any]]


class CacheStore:
    """Records on a Django-style cache, reached through `call(operation, *args)`.

    `call` runs the cache operation off the event loop (and through the store's breaker) and answers
    None when the store is down; a confirmed write is read back, so that a task is never announced before
    another process could find it."""

    shared = True

    def __init__(self, call: CacheCall) -> None:
        self._call = call

    async def get(self, key: str) -> Any | None:
        return await self._call("get", key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found = await self._call("get_many", list(keys))
        return found if isinstance(found, dict) else {}

    async def set(self, key: str, value: Any, ttl: float, confirm: bool = False) -> bool:
        # Whole seconds, rounded up: a record must never expire before the TTL the client was told.
        await self._call("set", key, value, math.ceil(ttl))
        return not confirm or await self._call("get", key) is not None

    async def delete(self, key: str) -> None:
        await self._call("delete", key)
