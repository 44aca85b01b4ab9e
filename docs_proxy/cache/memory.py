"""L1: the in-process LRU of the docs cache, bounded by bytes and time."""

from __future__ import annotations

import fnmatch
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


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
