"""One run of a piece of work per key in this process, however many callers ask for it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Concurrent callers for one key share the first caller's run: its result or its exception.

    Across processes the L2 lock does the same job; this one costs no L2 round trip and also holds
    when L2 is down."""

    def __init__(self, on_wait: Callable[[], None] | None = None) -> None:
        self._running: dict[str, asyncio.Future[T]] = {}
        self._on_wait = on_wait

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """`await work()` unless a run for `key` is under way, then that run's outcome."""
        waiting = self._running.get(key)
        if waiting is not None:
            if self._on_wait is not None:
                self._on_wait()
            return await asyncio.shield(waiting)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await work()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: there may be no waiters
            raise
        finally:
            self._running.pop(key, None)
        future.set_result(value)
        return value
