"""Per-process background upkeep of the docs cache: publish stats, follow purges made elsewhere.

A purge anywhere (the management command, the admin, another process) bumps a generation counter
in L2; every process polls it every DOCS_PURGE_POLL seconds and empties its L1 when it moves, so a
purged page is fetched again by every process within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from django.conf import settings

from awsmcp.pools import run_in
from awsmcp.process import PROCESS_ID
from docs_proxy.stats import stats

log = logging.getLogger(__name__)
GENERATION_KEY = "purge-generation"
STATS_PREFIX = "stats:"
STATS_TTL = 60

_task: asyncio.Task[None] | None = None
_UNSEEN = object()
_generation: object = _UNSEEN


def ensure_housekeeping() -> None:
    """Start the upkeep loop in this process's event loop, once."""
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_loop())


def l1_caches() -> list:  # type: ignore[type-arg]
    from docs_proxy.answers import answer_l1
    from docs_proxy.pages import page_l1

    return [page_l1(), answer_l1()]


def l1_figures() -> dict[str, int]:
    caches = l1_caches()
    return {"entries": sum(len(c.entries) for c in caches), "bytes": sum(c.bytes for c in caches)}


def publish_stats() -> None:
    from docs_proxy.pages import shared

    shared().set_plain(STATS_PREFIX + PROCESS_ID, stats.snapshot(l1_figures()), STATS_TTL)


def follow_purges() -> None:
    """Empty L1 when the purge generation moved since we last looked."""
    global _generation
    from docs_proxy.pages import shared

    current = shared().get_plain(GENERATION_KEY)
    if _generation is not _UNSEEN and current != _generation:
        cleared = sum(cache.clear() for cache in l1_caches())
        log.info("docs cache purged elsewhere: L1 emptied (%d entries)", cleared)
    _generation = current


def fleet_stats() -> dict:  # type: ignore[type-arg]
    """Docs cache figures of every live process, added up (blocking)."""
    from docs_proxy.pages import shared
    from docs_proxy.stats import combine

    store = shared()
    snapshots = [store.get_plain(key) for key in store.keys(STATS_PREFIX + "*")]
    return combine([s for s in snapshots if isinstance(s, dict)])


async def _loop() -> None:
    last_flush = 0.0
    while True:
        with contextlib.suppress(Exception):
            await run_in("database", follow_purges)
            if time.monotonic() - last_flush >= settings.DOCS_STATS_FLUSH:
                last_flush = time.monotonic()
                await run_in("database", publish_stats)
        await asyncio.sleep(settings.DOCS_PURGE_POLL)
