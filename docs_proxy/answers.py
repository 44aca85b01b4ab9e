"""Search and recommendation answers, cached in both layers by their normalised arguments."""

from __future__ import annotations

import json
from collections.abc import Callable
from hashlib import sha1
from typing import Any

from django.conf import settings

from awsmcp import background
from awsmcp.pools import run_in
from docs_proxy import upstream
from docs_proxy.cache.layers import answer_l1, shared
from docs_proxy.cache.single_flight import SingleFlight
from docs_proxy.fetch import FetchError, deadline_from_now, run_fetch
from docs_proxy.stats import stats
from mcp_gateway.catalogue import ToolError

_answers: SingleFlight[Any] = SingleFlight()


def answer_key(kind: str, arguments: dict[str, Any]) -> str:
    digest = sha1(json.dumps(arguments, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{kind}:{digest}"


async def cached_answer(
    kind: str, arguments: dict[str, Any], ttl: int, compute: Callable[[], Any], doing: str = "Fetching the answer"
) -> Any:
    """L1, then L2, then `compute` (blocking, on the fetch pool, within one fetch deadline) once however many
    ask at once."""
    background.ensure("docs-housekeeping")
    key = answer_key(kind, arguments)
    found = answer_l1().get(key)
    if found is not None:
        stats.count("answer_hits")
        return found
    return await _answers.run(key, lambda: _load(key, ttl, compute, doing))


async def _load(key: str, ttl: int, compute: Callable[[], Any], doing: str) -> Any:
    """L2, then `compute`; what comes back fills L1 (and L2 when computed)."""
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
    return value


def _words(text: str) -> str:
    return " ".join(text.split())


def _terms(values: list[str] | None) -> list[str]:
    return sorted({_words(v) for v in values or () if _words(v)})


async def search(
    phrase: str, intent: str, limit: int, product_types: list[str] | None, guide_types: list[str] | None
) -> dict[str, Any]:
    words, purpose = _words(phrase), _words(intent)
    products, guides = _terms(product_types), _terms(guide_types)
    arguments = {"phrase": words, "intent": purpose, "products": products, "guides": guides}
    answer = await cached_answer(
        "search",
        arguments,
        settings.DOCS_SEARCH_TTL,
        lambda: upstream.search(words, purpose, upstream.MAX_SEARCH_RESULTS, products, guides),
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
