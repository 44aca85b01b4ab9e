"""`read_documentation_batch`: up to DOCS_BATCH_MAX_PAGES pages in one call, each read as read_documentation would.

Each request has read_documentation's parameters and answer: one content block per request, in request order,
each exactly the text a single read gives (or the error it would raise). Pages are fetched concurrently through the
same cache, fetch pool and deadlines as single reads, each distinct page once however often it is asked for; one
failing page does not fail the others.

The answer as a whole is bounded too: its pages share DOCS_BATCH_MAX_CHARS characters (and, for requests with
max_tokens, DOCS_BATCH_MAX_TOKENS tokens), spent in request order; a request is clipped to what is left, its block
says so and ends, as any chunk does, with the start_index to go on from.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from awsmcp.pools import run_in
from docs_proxy import tokens
from docs_proxy.addresses import DocAddress
from docs_proxy.page import Page, cache_key
from docs_proxy.pages import get_page
from docs_proxy.tools import (
    READ_MAX_LENGTH,
    READ_ONLY,
    READ_SCOPES,
    address_for,
    limits,
    paging_properties,
    read_text,
    url_param,
)
from mcp_gateway import tasks
from mcp_gateway.catalogue import Catalogue, Tool, ToolError
from mcp_gateway.context import RequestContext

log = logging.getLogger(__name__)

NAME = "read_documentation_batch"
UNEXPECTED = "an unexpected error on this server while reading it"
PAGES_BOUND = 50  # DOCS_BATCH_MAX_PAGES is taken within 1 to this
TRUNCATED = "\n\n<e>Content truncated. "  # how a chunk with more to come ends (paging.truncation_hint)


def max_pages() -> int:
    """DOCS_BATCH_MAX_PAGES within 1 to PAGES_BOUND: a mistyped setting cannot offer a batch of a thousand pages."""
    return min(PAGES_BOUND, max(1, settings.DOCS_BATCH_MAX_PAGES))


BATCH_DESCRIPTION = """\
Read several AWS documentation pages in one call: 1 to {most} requests, each with its own `url`, `max_length`, \
`start_index` and `max_tokens`, meaning exactly what they mean for {read} (default max_length 5000 characters). \
The pages of one call share {chars:,} characters of text (and {tokens:,} tokens for requests with max_tokens), \
spent in request order: a request is clipped to what is left (its block says so and gives the start_index to go on \
from), and one after the budget is spent is not read.

The answer has one text block per request, in request order, each the same text {read} gives for that request \
(starting with its "AWS Documentation from <url>:" header; a truncated one ends with the start_index to continue \
from). A request that fails (a URL that is not a documentation page, a page that cannot be fetched) gets a block \
"Failed to read <url>: <reason>" and does not fail the others; structuredContent lists each request's url, \
status ("ok" or "error") and error. Pages are fetched concurrently; a page asked for twice (say, two chunks of it) \
is fetched once. Use it to read a few pages found by one search, or several chunks of one long page, in one step."""


def batch_schema(url_description: str) -> dict[str, Any]:
    request = {
        "type": "object",
        "properties": {"url": url_param(url_description), **paging_properties(READ_MAX_LENGTH, "read_documentation")},
        "required": ["url"],
    }
    return {
        "type": "object",
        "properties": {
            "requests": {
                "type": "array",
                "items": request,
                "minItems": 1,
                "maxItems": max_pages(),
                "description": "The pages to read, each with its own paging, answered in this order",
            }
        },
        "required": ["requests"],
    }


BATCH_OUTPUT = {
    "type": "object",
    "properties": {
        "pages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "served_url": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": ["ok", "error"]},
                    "error": {"type": ["string", "null"]},
                    "clipped": {"type": "boolean"},
                },
                "required": ["url", "status", "error"],
            },
        }
    },
    "required": ["pages"],
}


async def _fetch(address: DocAddress) -> Page | str:
    """The page, or why it cannot be read (a tool error's message): one page's failure stays its own."""
    try:
        return await get_page(address)
    except ToolError as exc:
        return str(exc)
    except Exception:  # a bug reading one page must not take the other pages' answers with it
        log.exception("batch read of %s failed", address.url)
        return UNEXPECTED


@dataclass(slots=True)
class Budget:
    """What is left of the call's characters and tokens, spent in request order."""

    chars: int
    tokens: int

    def fits(self, text: str, counted: int) -> bool:
        return len(text) <= self.chars and counted <= self.tokens

    def spent_for(self, request: dict[str, Any]) -> bool:
        return self.chars <= 0 or (request.get("max_tokens") is not None and self.tokens <= 0)


@dataclass(slots=True)
class Answer:
    text: str
    served: str | None = None
    error: str | None = None
    clipped: bool = False


def _failed(request: dict[str, Any], reason: str) -> Answer:
    return Answer(f"Failed to read {request['url']}: {reason}", None, reason)


def _spent(request: dict[str, Any]) -> Answer:
    reason = (
        f"not read: this batch's earlier pages used its budget ({settings.DOCS_BATCH_MAX_CHARS:,} characters, "
        f"{settings.DOCS_BATCH_MAX_TOKENS:,} tokens for requests with max_tokens); read it with read_documentation "
        "or in another batch"
    )
    return _failed(request, reason)


async def _read(page: Page, address: DocAddress, request: dict[str, Any], budget: Budget) -> Answer:
    """One request's block on its fetched page: the single read's text when it fits in what is left of the budget,
    else the text cut to what is left, saying so; the budget is then spent by it."""
    max_length, max_tokens = limits(request, READ_MAX_LENGTH)
    start_index = request.get("start_index", 0)
    text = await read_text(page, address.fragment, start_index, max_length, max_tokens)
    counted = await _tokens(text, max_tokens)
    clipped = False
    if not budget.fits(text, counted):
        allowed = None if max_tokens is None else min(max_tokens, budget.tokens)
        cut = await read_text(page, address.fragment, start_index, min(max_length, budget.chars), allowed)
        if cut != text:
            text, counted, clipped = cut, await _tokens(cut, max_tokens), TRUNCATED in cut
    budget.chars -= len(text)
    budget.tokens -= counted
    if clipped:
        text = (
            f"<e>Clipped by this batch's budget: its pages share {settings.DOCS_BATCH_MAX_CHARS:,} characters "
            f"({settings.DOCS_BATCH_MAX_TOKENS:,} tokens with max_tokens), in request order, and this one got what "
            "was left. The end of this block says where to go on.</e>\n\n" + text
        )
    return Answer(text, page.served.url, None, clipped)


async def _tokens(text: str, max_tokens: int | None) -> int:
    """The tokens a block spends of the budget: counted (in the "cpu" pool) for a request with max_tokens only."""
    return 0 if max_tokens is None else await run_in("cpu", tokens.count, text)


async def _answer(
    request: dict[str, Any], address: DocAddress | str, fetched: dict[str, Page | str], budget: Budget
) -> Answer:
    """One request's block, served URL and error; a failure of this page's own stays its own."""
    if isinstance(address, str):
        return _failed(request, address)
    outcome = fetched[cache_key(address)]
    if isinstance(outcome, str):
        return _failed(request, outcome)
    if budget.spent_for(request):
        return _spent(request)
    try:
        return await _read(outcome, address, request, budget)
    except ToolError as exc:
        return _failed(request, str(exc))
    except Exception:  # a bug cutting one page's chunk must not take the other pages' answers with it
        log.exception("batch read of %s failed", request["url"])
        return _failed(request, UNEXPECTED)


async def read_documentation_batch(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    requests: list[dict[str, Any]] = args["requests"]
    if not requests:
        raise ToolError(f"requests cannot be empty: give 1 to {max_pages()} pages to read.")
    addresses: list[DocAddress | str] = []
    for request in requests:
        try:
            addresses.append(address_for(request["url"], ctx))
        except ToolError as exc:
            addresses.append(str(exc))
    distinct = {cache_key(a): a for a in addresses if isinstance(a, DocAddress)}
    fetched = dict(zip(distinct, await asyncio.gather(*map(_fetch, distinct.values())), strict=True))
    budget = Budget(max(1, settings.DOCS_BATCH_MAX_CHARS), max(1, settings.DOCS_BATCH_MAX_TOKENS))
    answers = [await _answer(r, a, fetched, budget) for r, a in zip(requests, addresses, strict=True)]
    pages = [
        {"url": r["url"], "served_url": a.served, "status": "error" if a.error else "ok", "error": a.error,
         "clipped": a.clipped}
        for r, a in zip(requests, answers, strict=True)
    ]  # fmt: skip
    result: dict[str, Any] = {
        "content": [{"type": "text", "text": a.text} for a in answers],
        "structuredContent": {"pages": pages},
    }
    if all(p["error"] for p in pages):
        result["isError"] = True
    return result


def register(catalogue: Catalogue) -> None:
    """Offered in both partitions, like read_documentation; a client that follows tasks gets one for a slow batch."""
    for partitions, url_description in (
        (("aws",), "URL of the AWS documentation page to read"),
        (("aws-cn",), "URL of the AWS China documentation page to read"),
    ):
        catalogue.add_tool(
            Tool(
                NAME,
                BATCH_DESCRIPTION.format(
                    most=max_pages(),
                    read="read_documentation",
                    chars=settings.DOCS_BATCH_MAX_CHARS,
                    tokens=settings.DOCS_BATCH_MAX_TOKENS,
                ),
                batch_schema(url_description),
                read_documentation_batch,
                title="Read several AWS documentation pages",
                output_schema=BATCH_OUTPUT,
                annotations=READ_ONLY,
                partitions=partitions,
                quiet=True,
                scopes=READ_SCOPES,
            )
        )
    tasks.offer(NAME)
