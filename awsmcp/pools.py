"""Thread pools of their own for each kind of blocking work, sized by settings.

`asyncio.to_thread` shares the loop's default executor (6 threads on 2 cores): six fetches waiting
on a silent origin would delay every database read and rules reload of the process. Each kind of
work here has its own pool, so a full one delays only its own kind.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.conf import settings

P = ParamSpec("P")
T = TypeVar("T")

# name -> the setting that sizes it, or its fixed size
POOL_SIZES: dict[str, str | int] = {
    "fetch": "DOCS_MAX_CONCURRENT_FETCHES",  # requests to the documentation origins and APIs
    "database": "MCP_DATABASE_THREADS",  # the database and the shared cache (L2, rules, the connections table)
    "cpu": "DOCS_CONVERT_WORKERS",  # in-process CPU work kept off the loop (table and section search)
    "index": 1,  # writes to the local search index, one at a time (their backlog waits in the index's queue)
}

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool(name: str) -> ThreadPoolExecutor:
    """The named pool, made on first use."""
    found = _pools.get(name)
    if found is None:
        with _lock:
            found = _pools.get(name)
            if found is None:
                sized_by = POOL_SIZES[name]
                size = max(1, sized_by if isinstance(sized_by, int) else int(getattr(settings, sized_by)))
                found = _pools[name] = ThreadPoolExecutor(size, thread_name_prefix=f"awsmcp-{name}")
    return found


async def run_in(name: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`asyncio.to_thread`, on the named pool (context variables travel along, as with to_thread)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await loop.run_in_executor(pool(name), call)
