"""Per-process background upkeep of the docs cache: publish stats, follow purges made elsewhere.

A purge anywhere (the management command, the admin, another process) bumps a generation counter
in L2; every process polls it every DOCS_PURGE_POLL seconds and empties its L1 when it moves, so a
purged page is fetched again by every process within about a second. The loop runs under
`awsmcp.background` as "docs-housekeeping" (registered in apps.py, started by the first read).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

from awsmcp.pools import run_in
from awsmcp.process import PROCESS_ID
from docs_proxy.cache.layers import l1_caches, l1_figures, shared
from docs_proxy.stats import combine, stats

log = logging.getLogger(__name__)
GENERATION_KEY = "purge-generation"
STATS_PREFIX = "stats:"
STATS_TTL = 60

_UNSEEN = object()
_generation: object = _UNSEEN


def publish_stats() -> None:
    shared().set_plain(STATS_PREFIX + PROCESS_ID, stats.snapshot(l1_figures()), STATS_TTL)


def follow_purges() -> None:
    """Empty L1 when the purge generation moved since we last looked."""
    global _generation
    current = shared().get_plain(GENERATION_KEY)
    if _generation is not _UNSEEN and current != _generation:
        cleared = sum(cache.clear() for cache in l1_caches())
        log.info("docs cache purged elsewhere: L1 emptied (%d entries)", cleared)
    _generation = current


def fleet_stats() -> dict[str, Any]:
    """Docs cache figures of every live process, added up (blocking)."""
    store = shared()
    snapshots = [store.get_plain(key) for key in store.keys(STATS_PREFIX + "*")]
    return combine([s for s in snapshots if isinstance(s, dict)])


async def run() -> None:
    """The upkeep loop. A failed round is logged and the next comes on time: a purge must reach L1 within
    about DOCS_PURGE_POLL seconds, not after the supervisor's growing pause."""
    last_flush = 0.0
    while True:
        try:
            await run_in("database", follow_purges)
            if time.monotonic() - last_flush >= settings.DOCS_STATS_FLUSH:
                last_flush = time.monotonic()
                await run_in("database", publish_stats)
        except Exception:
            log.exception("docs housekeeping round failed; the next one runs in %ss", settings.DOCS_PURGE_POLL)
        await asyncio.sleep(settings.DOCS_PURGE_POLL)
