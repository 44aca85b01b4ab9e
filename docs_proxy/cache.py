"""The in-process layer of the docs cache: LRU, bounded by bytes and time, with single flight.

Concurrent misses for one key share one computation (one origin fetch, one conversion).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Entry(Generic[T]):
    value: T
    size: int
    expires: float


class MemoryCache(Generic[T]):
    def __init__(self, max_bytes: int, ttl: float) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.entries: OrderedDict[str, Entry[T]] = OrderedDict()
        self.bytes = 0
        self.inflight: dict[str, asyncio.Future[T]] = {}
        self.hits = 0
        self.misses = 0

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
        if size > self.max_bytes:
            return
        self._drop(key)
        self.entries[key] = Entry(value, size, time.monotonic() + (self.ttl if ttl is None else ttl))
        self.bytes += size
        while self.bytes > self.max_bytes and self.entries:
            oldest = next(iter(self.entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def delete(self, key: str) -> bool:
        present = key in self.entries
        self._drop(key)
        return present

    def delete_prefix(self, prefix: str) -> int:
        keys = [key for key in self.entries if key.startswith(prefix)]
        for key in keys:
            self._drop(key)
        return len(keys)

    def clear(self) -> int:
        count = len(self.entries)
        self.entries.clear()
        self.bytes = 0
        return count

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[tuple[T, int]]]) -> T:
        """The cached value, or compute it once however many callers miss at the same time."""
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        waiting = self.inflight.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        try:
            value, size = await compute()
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters may be none
            raise
        finally:
            self.inflight.pop(key, None)
        self.put(key, value, size)
        future.set_result(value)
        return value

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self.entries), "bytes": self.bytes, "hits": self.hits, "misses": self.misses}
