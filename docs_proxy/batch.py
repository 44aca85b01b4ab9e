"""`read_documentation_batch`: up to DOCS_BATCH_MAX_PAGES pages in one call, each read as read_documentation would.

Each request has read_documentation's parameters and answer: one content block per request, in request order,
each exactly the text a single read gives (or the error it would raise). Pages are fetched concurrently through the
same cache, fetch pool and deadlines as single reads, each distinct page once however often it is asked for; one
failing page does not fail the others. `read_documentation` itself is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from awsmcp.pools import run_in
from docs_proxy.addresses import DocAddress
from docs_proxy.page import Page, cache_key
from docs_proxy.pages import get_page, notes
from docs_proxy.tools import (
    INLINE_MAX_LENGTH,
    INLINE_SECTIONS,
    READ_MAX_LENGTH,
    READ_ONLY,
    READ_SCOPES,
    _read_answer,
    address_for,
    limits,
    paging_properties,
    url_param,
)
from mcp_gateway import tasks
from mcp_gateway.catalogue import Catalogue, Tool, ToolError
from mcp_gateway.context import RequestContext

log = logging.getLogger(__name__)

NAME = "read_documentation_batch"
UNEXPECTED = "an unexpected error on this server while reading it"

BATCH_DESCRIPTION = """\
Read several AWS documentation pages in one call: 1 to {most} requests, each with its own `url`, `max_length`, \
`start_index` and `max_tokens`, meaning exactly what they mean for {read} (default max_length 5000 characters).

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
                "maxItems": settings.DOCS_BATCH_MAX_PAGES,
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


async def _text(page: Page, address: DocAddress, request: dict[str, Any]) -> str:
    """read_documentation's text for one request on its page (long or token-counted chunks in the "cpu" pool)."""
    max_length, max_tokens = limits(request, READ_MAX_LENGTH)
    start_index = request.get("start_index", 0)
    arguments = (page.served.url, page.document, address.fragment, start_index, max_length, max_tokens)
    if max_tokens is None and max_length <= INLINE_MAX_LENGTH and len(page.document.sections) <= INLINE_SECTIONS:
        text = _read_answer(*arguments)
    else:
        text = await run_in("cpu", _read_answer, *arguments)
    return notes(page) + text


async def _answer(
    request: dict[str, Any], address: DocAddress | str, fetched: dict[str, Page | str]
) -> tuple[str, str | None, str | None]:
    """One request's (text block, served URL, error)."""
    if isinstance(address, str):
        return f"Failed to read {request['url']}: {address}", None, address
    outcome = fetched[cache_key(address)]
    if isinstance(outcome, str):
        return f"Failed to read {request['url']}: {outcome}", None, outcome
    return await _text(outcome, address, request), outcome.served.url, None


async def read_documentation_batch(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    requests: list[dict[str, Any]] = args["requests"]
    if not requests:
        raise ToolError(f"requests cannot be empty: give 1 to {settings.DOCS_BATCH_MAX_PAGES} pages to read.")
    addresses: list[DocAddress | str] = []
    for request in requests:
        try:
            addresses.append(address_for(request["url"], ctx))
        except ToolError as exc:
            addresses.append(str(exc))
    distinct = {cache_key(a): a for a in addresses if isinstance(a, DocAddress)}
    fetched = dict(zip(distinct, await asyncio.gather(*map(_fetch, distinct.values())), strict=True))
    answers = await asyncio.gather(*(_answer(r, a, fetched) for r, a in zip(requests, addresses, strict=True)))
    pages = [
        {"url": r["url"], "served_url": served, "status": "error" if error else "ok", "error": error}
        for r, (_block, served, error) in zip(requests, answers, strict=True)
    ]
    result: dict[str, Any] = {
        "content": [{"type": "text", "text": text} for text, _served, _error in answers],
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
                BATCH_DESCRIPTION.format(most=settings.DOCS_BATCH_MAX_PAGES, read="read_documentation"),
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
