"""AWS documentation pages as MCP resources, for clients that attach resources rather than call tools.

A template per documentation host (`https://docs.aws.amazon.com/{+path}`, `https://docs.amazonaws.cn/{+path}`)
reads any page through the same checks, cache and limits as read_documentation: the whole page as Markdown, with
`ttlMs` saying how long the cached copy stays fresh. The pages in the local search index (every page the fleet has
converted) are listed by resources/list, a keyset page at a time, in the connection's partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from awsmcp.pools import run_in
from docs_proxy.addresses import PUBLIC_HOSTS, AddressError, parse_doc_url
from docs_proxy.fetch import FetchError
from docs_proxy.page import Page
from docs_proxy.pages import get_page, notes
from docs_proxy.paging import header
from docs_proxy.search_index import store
from docs_proxy.tools import READ_SCOPES
from mcp_gateway.catalogue import Catalogue, DirectoryPage, ResourceReader, ResourceTemplate, ToolError
from mcp_gateway.context import RequestContext
from mcp_gateway.jsonrpc import INTERNAL_ERROR, RESOURCE_NOT_FOUND, JsonRpcError, invalid_params

MARKDOWN = "text/markdown"
_DESCRIPTION = (
    "A page of the AWS documentation on {host}, as Markdown: give the page's full URL (a path ending in .html, "
    "or a guide's directory ending in /). The answer is the whole page; its first line states the URL it was "
    "read from."
)
_TITLES = {"aws": "AWS documentation page", "aws-cn": "AWS China documentation page"}


def template_uri(partition: str) -> str:
    return f"https://{PUBLIC_HOSTS[partition]}/{{+path}}"


def canonical_for(partition: str) -> Callable[[str], str]:
    """How the partition's template reads a URI: http or https, the host in any case, as the tools accept a URL
    (scheme and host are case-insensitive, RFC 3986); any other URI is left for the template to refuse."""
    host = PUBLIC_HOSTS[partition]

    def canonical(uri: str) -> str:
        scheme, sep, rest = uri.partition("://")
        netloc, slash, path = rest.partition("/")
        if sep and scheme.lower() in ("http", "https") and netloc.lower() == host:
            return f"https://{host}{slash}{path}"
        return uri

    return canonical


def fresh_ms(page: Page, now: float) -> int:
    """How long the cached copy stays fresh, in milliseconds (0 for a copy served stale)."""
    if page.stale_reason:
        return 0
    return max(0, int((page.fresh_until - now) * 1000))


def page_text(page: Page) -> str:
    """The whole page as the tools give it: the notes (redirect, stale copy), the URL it was read from, the text."""
    markdown = page.document.markdown
    return notes(page) + header(page.served.url, markdown) + markdown


def read_failure(uri: str, exc: ToolError) -> JsonRpcError:
    """Not found for a page the origin says does not exist (404, 410); for any other failure (the origin failing or
    too slow, a page that would not convert or is too large) an internal error with the reason: the resource may
    well be there, and a client that took "not found" would stop asking for it."""
    cause = exc.__cause__
    message = f"{uri} could not be read: {exc}"
    if isinstance(cause, FetchError) and cause.status in (404, 410):
        return JsonRpcError(RESOURCE_NOT_FOUND, message, {"uri": uri})
    return JsonRpcError(INTERNAL_ERROR, message)


def reader_for(partition: str) -> ResourceReader:
    async def read_page(uri: str, variables: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
        """The page at `uri` (its host is this partition's, the template says so) checked as the tools check a URL:
        a refused address is invalid params, before anything is fetched."""
        try:
            address = parse_doc_url(uri, partition)
        except AddressError as exc:
            raise invalid_params(f"Invalid documentation URI: {exc}") from None
        try:
            page = await get_page(address)
        except ToolError as exc:
            raise read_failure(uri, exc) from None
        return {
            "contents": [{"uri": uri, "mimeType": MARKDOWN, "text": page_text(page)}],
            "ttlMs": fresh_ms(page, time.time()),
            # The same page for every caller; the core narrows it to private while reading needs docs:read.
            "cacheScope": "public",
        }

    return read_page


def listed(page: store.ListedPage) -> dict[str, Any]:
    entry: dict[str, Any] = {"uri": page.url, "name": page.url.split("/", 3)[-1], "mimeType": MARKDOWN}
    if page.title:
        entry["title"] = page.title
    return entry


class IndexedPages:
    """The pages of the local index as a resource directory: keyset paging on the rows' ids, so a listing stays
    stable while pages are indexed and purged (none is listed twice; a purged one is simply gone)."""

    name = "docs-index"

    async def page(self, after: str | None, limit: int, ctx: RequestContext) -> DirectoryPage:
        after_id = int(after) if after is not None else 0  # ValueError for a position it never gave: the core says so
        if after_id < 0:
            raise ValueError(after)
        rows = await run_in("database", store.listing, after_id, limit + 1, ctx.partition)
        more = len(rows) > limit  # one row beyond the page says whether another page follows
        rows = rows[:limit]
        return DirectoryPage([listed(row) for row in rows], str(rows[-1].id) if more else None)


def register(catalogue: Catalogue) -> None:
    for partition, host in PUBLIC_HOSTS.items():
        catalogue.add_template(
            ResourceTemplate(
                template_uri(partition),
                f"{partition}-documentation",
                reader_for(partition),
                _DESCRIPTION.format(host=host),
                MARKDOWN,
                _TITLES[partition],
                scopes=READ_SCOPES,  # reading a page as a resource is reading documentation
                partition=partition,
                canonical=canonical_for(partition),
            )
        )
    catalogue.add_directory(IndexedPages())
