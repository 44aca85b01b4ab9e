"""Search and recommendation answers, cached in both layers by their normalised arguments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import cache
from hashlib import sha1
from typing import Any

from django.conf import settings

from awsmcp.pools import run_in
from docs_proxy import upstream
from docs_proxy.cache import MemoryCache
from docs_proxy.fetch import FetchError, deadline_from_now, run_fetch
from docs_proxy.housekeeping import ensure_housekeeping
from docs_proxy.stats import stats
from mcp_gateway.catalogue import ToolError

ANSWER_L1_BYTES = 16 * 1024 * 1024
_inflight: dict[str, asyncio.Future[Any]] = {}


@cache
def answer_l1() -> MemoryCache[Any]:
    return MemoryCache(ANSWER_L1_BYTES, settings.DOCS_CACHE_L1_TTL)


def answer_key(kind: str, arguments: dict[str, Any]) -> str:
    digest = sha1(json.dumps(arguments, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{kind}:{digest}"


async def cached_answer(
    kind: str, arguments: dict[str, Any], ttl: int, compute: Callable[[], Any], doing: str = "Fetching the answer"
) -> Any:
    """L1, then L2, then `compute` (blocking, on the fetch pool, within one fetch deadline) once however many
    ask at once."""
    from docs_proxy.pages import shared

    ensure_housekeeping()
    key = answer_key(kind, arguments)
    found = answer_l1().get(key)
    if found is not None:
        stats.count("answer_hits")
        return found
    waiting = _inflight.get(key)
    if waiting is not None:
        return await asyncio.shield(waiting)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _inflight[key] = future
    try:
        stored = await run_in("database", shared().get, key)
        if stored is not None:
            stats.count("answer_hits")
            value = stored["value"]
        else:
            stats.count("answer_misses")
            deadline = deadline_from_now()
            try:
                value = await run_fetch(compute, deadline=deadline)
            except FetchError as exc:  # no slot in time, or the call outlived its deadline
                raise ToolError(f"{doing} failed: {exc.message}") from None
            await run_in("database", shared().set, key, {"value": value}, ttl)
        answer_l1().put(key, value, len(json.dumps(value)) * 2, ttl)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()
        raise
    finally:
        _inflight.pop(key, None)
    future.set_result(value)
    return value


def _words(text: str) -> str:
    return " ".join(text.split())


def _terms(values: list[str] | None) -> list[str]:
    return sorted({_words(v) for v in values or () if _words(v)})


async def search(
    phrase: str, intent: str, limit: int, product_types: list[str] | None, guide_types: list[str] | None
) -> dict[str, Any]:
    arguments = {
        "phrase": _words(phrase),
        "intent": _words(intent),
        "products": _terms(product_types),
        "guides": _terms(guide_types),
    }
    answer = await cached_answer(
        "search",
        arguments,
        settings.DOCS_SEARCH_TTL,
        lambda: upstream.search(
            arguments["phrase"],
            arguments["intent"],
            upstream.MAX_SEARCH_RESULTS,
            arguments["products"],
            arguments["guides"],
        ),
        "Searching the AWS documentation",
    )
    return {**answer, "search_results": answer["search_results"][:limit]}


async def recommendations(page_url: str) -> list[dict[str, Any]]:
    return await cached_answer(
        "recommend",
        {"url": page_url},
        settings.DOCS_RECOMMEND_TTL,
        lambda: upstream.recommendations(page_url),
        "Getting recommendations",
    )
