"""Search and recommendation answers, cached in both layers by their normalised arguments."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from hashlib import sha1
from typing import Any

from django.conf import settings

from awsmcp import background, otel
from awsmcp.pools import run_in
from docs_proxy import spans, upstream
from docs_proxy.cache.layers import answer_l1, shared
from docs_proxy.cache.single_flight import SingleFlight
from docs_proxy.fetch import FetchError, deadline_from_now, run_fetch
from docs_proxy.search_index import query as local_index
from docs_proxy.stats import stats
from mcp_gateway.catalogue import ToolError

_answers: SingleFlight[Any] = SingleFlight()


def answer_key(kind: str, arguments: dict[str, Any]) -> str:
    # surrogatepass: a phrase may hold a lone surrogate (valid JSON escapes, not UTF-8)
    digest = sha1(
        json.dumps(arguments, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ).hexdigest()
    return f"{kind}:{digest}"


async def cached_answer(
    kind: str,
    arguments: dict[str, Any],
    ttl: int,
    compute: Callable[[], Any],
    doing: str = "Fetching the answer",
    seconds: float | None = None,
) -> Any:
    """L1, then L2, then `compute` (blocking, on the fetch pool, within one fetch deadline, or `seconds`) once
    however many ask at once."""
    background.ensure("docs-housekeeping")
    key = answer_key(kind, arguments)
    with otel.span(spans.L1) as span:
        found = answer_l1().get(key)
        if span is not None:
            spans.looked_up(span, kind, found is not None)
    if found is not None:
        stats.count("answer_hits")
        return found
    return await _answers.run(key, lambda: _load(key, ttl, compute, doing, seconds))


async def _load(key: str, ttl: int, compute: Callable[[], Any], doing: str, seconds: float | None) -> Any:
    """L2, then `compute`; what comes back fills L1 (and L2 when computed)."""
    with otel.span(spans.L2) as span:
        stored = await run_in("database", shared().get, key)
        if span is not None:
            spans.looked_up(span, key.partition(":")[0], stored is not None)
    if stored is not None:
        stats.count("answer_hits")
        value = stored["value"]
    else:
        stats.count("answer_misses")
        deadline = time.monotonic() + seconds if seconds else deadline_from_now()
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


# After a timeout or a server error, the search API is not asked again in this process until this
# (time.monotonic()): every search would otherwise wait out the timeout, holding a fetch slot, during an outage.
_api_backoff: tuple[float, str, str] = (0.0, "", "")  # (until, why it failed, its error)
_OUTAGE = re.compile(r"HTTP 5\d\d|did not answer in time|took too long|Could not reach")  # not a refusal
_NO_FETCH_SLOT = "Too many pages are being fetched"


async def search(
    phrase: str, intent: str, limit: int, product_types: list[str] | None, guide_types: list[str] | None
) -> dict[str, Any]:
    words, purpose = _words(phrase), _words(intent)
    products, guides = _terms(product_types), _terms(guide_types)
    arguments = {"phrase": words, "intent": purpose, "products": products, "guides": guides}
    until, why, error = _api_backoff
    if time.monotonic() < until:  # the API failed just now: a cached answer, else the local index
        found = answer_l1().get(answer_key("search", arguments))
        if found is None:
            again = f"{why}; it is asked again within {settings.DOCS_SEARCH_API_BACKOFF:g} s of that failure"
            return await _fallback(phrase, limit, products, guides, (again, error))
        return {**found, "search_results": found["search_results"][:limit]}
    started, timeout = time.monotonic(), min(settings.DOCS_SEARCH_API_TIMEOUT, settings.DOCS_FETCH_DEADLINE)
    try:
        answer = await cached_answer(
            "search",
            arguments,
            settings.DOCS_SEARCH_TTL,
            lambda: upstream.search(words, purpose, upstream.MAX_SEARCH_RESULTS, products, guides),
            "Searching the AWS documentation",
            seconds=timeout,
        )
    except ToolError as exc:  # the search API failed or timed out: the pages this server has read answer instead
        why = _why_failed(str(exc), time.monotonic() - started >= timeout, timeout)
        return await _fallback(phrase, limit, products, guides, (why, str(exc)))
    return {**answer, "search_results": answer["search_results"][:limit]}


def _why_failed(error: str, timed_out: bool, timeout: float) -> str:
    """The failure in a few words; an outage (a timeout, no connection, a 5xx) also stops asking the API
    for DOCS_SEARCH_API_BACKOFF seconds."""
    global _api_backoff
    if _NO_FETCH_SLOT in error:
        return "no request to it could start: too many requests to the documentation site are under way"
    if timed_out:
        why = f"the AWS search API did not answer within {timeout:g} s"
    else:
        why = error.removeprefix("Searching the AWS documentation failed: ").rstrip(".")
    if (timed_out or _OUTAGE.search(error)) and settings.DOCS_SEARCH_API_BACKOFF > 0:
        _api_backoff = (time.monotonic() + settings.DOCS_SEARCH_API_BACKOFF, why, error)
    return why


async def _fallback(
    phrase: str, limit: int, products: list[str], guides: list[str], failure: tuple[str, str]
) -> dict[str, Any]:
    answer = await local_search(phrase, "aws", limit, products, guides, failure=failure)
    stats.count("search_fallbacks")  # counted when the local index answered
    return answer


# --- the local index: search for aws-cn, and aws's fallback -------------------------------------------
INDEX_HOSTS = {"aws": "docs.aws.amazon.com", "aws-cn": "docs.amazonaws.cn"}
MORE_PAGES = (
    "Pages join the index as they are read; an operator can add whole guides with "
    "`python manage.py index_docs --guide <guide URL>`."
)
SECTIONS_LISTED = 30


def local_note(partition: str, indexed: int, failure: str | None) -> str:
    """What the answer is: a search of the pages read so far, not of the whole site; and why, on aws."""
    pages = f"the {indexed} page{'s' if indexed != 1 else ''} of {INDEX_HOSTS.get(partition, partition)}"
    scope = f"this server's local index of {pages} read so far, not from a search of the whole site"
    if failure is not None:
        return f"The AWS search API failed ({failure}), so these results come from {scope}. {MORE_PAGES}"
    return (
        f"docs.amazonaws.cn has no search service: these results come from {scope}. {MORE_PAGES} "
        "If nothing fits, use get_available_services to find the service's documentation."
    )


def local_answer(results: local_index.LocalResults, partition: str, failure: str | None = None) -> dict[str, Any]:
    """The local index's hits in search_documentation's shape (SEARCH_OUTPUT), saying where they came from."""
    note = local_note(partition, results.indexed, failure)
    if results.no_guide:
        note += (
            " No guide among the pages indexed matches product_types/guide_types: search without them, "
            "or index the guide first."
        )
    found = [
        {
            "rank_order": rank,
            "url": hit.url,
            "title": hit.title,
            "context": hit.context or None,
            "recommended_sections": list(hit.recommended) or None,
            "sections": list(hit.headings[:SECTIONS_LISTED]) or None,
            "metadata": {"score": hit.score, "matched": "all words" if hit.every_word else "some words"},
        }
        for rank, hit in enumerate(results.hits, start=1)
    ]
    metadata: dict[str, Any] = {
        "source": "local_index",
        "partition": partition,
        "indexed_pages": results.indexed,
        "searched_words": list(results.words),
        "note": note,
    }
    if failure is not None:
        metadata["fallback_reason"] = failure
    query_id = "local-" + answer_key("local", {"p": partition, "w": list(results.words)}).split(":")[1][:16]
    return {"search_results": found, "facets": None, "query_id": query_id, "metadata": metadata}


async def local_search(
    phrase: str,
    partition: str,
    limit: int,
    product_types: list[str] | None,
    guide_types: list[str] | None,
    failure: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """search_documentation's answer from the local index (not cached: it grows as pages are read).

    `failure` is (why, the API's error) when aws's search API failed: with nothing indexed to answer from,
    the API's error stands."""
    terms = local_index.terms_of(phrase)
    if not terms.words:
        if failure is not None:  # nothing to search locally: the API's error stands
            raise ToolError(failure[1])
        if terms.sequence:
            raise ToolError(
                "search_phrase holds only words too common to search for (such as 'the', 'of', 'how'): "
                "add a word that names what you are looking for."
            )
        raise ToolError(
            "search_phrase has no words to search for: give words of letters or digits "
            "(punctuation and query operators are ignored)."
        )
    try:
        with otel.span(spans.INDEX_QUERY) as span:
            results = await run_in(
                "database",
                local_index.search,
                phrase,
                partition,
                limit,
                _terms(product_types) or None,
                _terms(guide_types),
            )
            if span is not None:
                span.set_attributes(
                    {spans.PARTITION: partition, spans.RESULTS: len(results.hits), spans.INDEXED: results.indexed}
                )
    except local_index.EngineUnavailable as exc:
        if failure is not None:
            raise ToolError(failure[1]) from None
        raise ToolError(f"Searching the local index is not available: {exc}") from None
    if failure is not None and not results.indexed:
        raise ToolError(f"{failure[1]} (The local index holds no pages yet to answer from instead.)")
    return local_answer(results, partition, failure[0] if failure else None)


async def recommendations(page_url: str) -> list[dict[str, Any]]:
    return await cached_answer(
        "recommend",
        {"url": page_url},
        settings.DOCS_RECOMMEND_TTL,
        lambda: upstream.recommendations(page_url),
        "Getting recommendations",
    )
