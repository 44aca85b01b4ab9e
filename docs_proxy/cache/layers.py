"""The process's handles on the docs cache: the L1s (pages, answers) and the L2 they sit on.

Built on first use from settings and kept for the life of the process; every module that reads,
fills, purges or reports on the cache takes its handles from here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings

from docs_proxy.cache.memory import MemoryCache
from docs_proxy.cache.shared import SharedCache
from docs_proxy.page import Page

ANSWER_L1_BYTES = 16 * 1024 * 1024


@cache
def page_l1() -> MemoryCache[Page]:
    return MemoryCache(settings.DOCS_CACHE_L1_BYTES, settings.DOCS_CACHE_L1_TTL)


@cache
def answer_l1() -> MemoryCache[Any]:
    return MemoryCache(ANSWER_L1_BYTES, settings.DOCS_CACHE_L1_TTL)


@cache
def shared() -> SharedCache:
    return SharedCache("docs")


def l1_caches() -> list[MemoryCache[Any]]:
    """Both L1s, for purges and figures that cover every kind of entry."""
    return [page_l1(), answer_l1()]


def l1_figures() -> dict[str, int]:
    caches = l1_caches()
    return {"entries": sum(len(c.entries) for c in caches), "bytes": sum(c.bytes for c in caches)}
