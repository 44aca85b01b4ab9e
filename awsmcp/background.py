"""One supervisor for the process's background loops (listeners, flushers, sweeps, upkeep).

A loop is registered once by name with the coroutine function that runs it, and started with
`ensure(name)` from whatever first needs it (the first session, the first cached page): at most one
task per name and event loop. A loop that raises, or returns, is logged and started again after a
pause that grows to a minute; `stop()` cancels them all when the server shuts down. Loops therefore
hold no start/restart logic of their own and never swallow an error silently.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 60.0
# A run that lasted this long counts as healthy: the next failure pauses FIRST_PAUSE again.
HEALTHY_RUN = 60.0


@dataclass(frozen=True, slots=True)
class Loop:
    name: str
    run: Callable[[], Awaitable[None]]


_loops: dict[str, Loop] = {}
_tasks: dict[str, asyncio.Task[None]] = {}


def register(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Name a background loop (idempotent: registering the same name again replaces its function)."""
    _loops[name] = Loop(name, run)


def ensure(name: str) -> None:
    """Start the named loop on the running event loop unless it already runs there."""
    loop = asyncio.get_running_loop()
    task = _tasks.get(name)
    if task is not None and not task.done() and task.get_loop() is loop:
        return
    # A fresh context, not a copy of the caller's: a loop started by a request would otherwise run for ever inside
    # that request's span and trace context (and whatever else it set), and log under the client's trace id.
    _tasks[name] = loop.create_task(_supervise(_loops[name]), name=f"background:{name}", context=contextvars.Context())


def running() -> list[str]:
    """The names of the loops running now (for health pages and tests)."""
    return sorted(name for name, task in _tasks.items() if not task.done())


async def stop() -> None:
    """Cancel every loop started on this event loop and wait for them to end."""
    loop = asyncio.get_running_loop()
    mine = [task for task in _tasks.values() if task.get_loop() is loop and not task.done()]
    for task in mine:
        task.cancel()
    await asyncio.gather(*mine, return_exceptions=True)
    for name in [name for name, task in _tasks.items() if task in mine]:
        del _tasks[name]


async def _supervise(job: Loop) -> None:
    pause = FIRST_PAUSE
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        try:
            await job.run()
            log.warning("background loop %s returned; starting it again in %.0fs", job.name, pause)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop %s failed; starting it again in %.0fs", job.name, pause)
        if loop.time() - began >= HEALTHY_RUN:
            pause = FIRST_PAUSE
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
