"""Documentation pages as the tools see them: fetched, converted and cached as one `Page`.

Fetching and converting block, so they run in a worker thread; the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from docs_proxy.addresses import DocAddress
from docs_proxy.cache import MemoryCache
from docs_proxy.convert import CONVERTER_VERSION, Document, UnreadablePage, convert, decode, looks_like_html
from docs_proxy.fetch import FetchError, fetch_page
from mcp_gateway.registry import ToolError


@dataclass(slots=True)
class Page:
    requested: DocAddress
    served: DocAddress  # where redirects led
    document: Document
    fetched_at: float
    etag: str | None = None
    last_modified: str | None = None

    @property
    def substituted(self) -> bool:
        return self.requested.path != self.served.path

    def size(self) -> int:
        doc = self.document
        return 2 * len(doc.markdown) + sum(2 * sum(len(c) for row in t.rows for c in row) for t in doc.tables) + 512


@cache
def page_cache() -> MemoryCache[Page]:
    return MemoryCache(settings.DOCS_CACHE_L1_BYTES, settings.DOCS_CACHE_L1_TTL)


def cache_key(address: DocAddress) -> str:
    return f"page:v{CONVERTER_VERSION}:{address.partition}:{address.path}"


def load_page(address: DocAddress) -> Page:
    """Fetch and convert one page (blocking). Raises ToolError with what to do next."""
    try:
        fetched = fetch_page(address)
    except FetchError as exc:
        raise ToolError(exc.message) from None
    if not looks_like_html(fetched.body, fetched.content_type):
        raise ToolError(
            f"{fetched.address.url} is not an HTML page ({fetched.content_type or 'unknown type'}); "
            "only documentation pages can be read."
        )
    try:
        document = convert(decode(fetched.body, fetched.encoding), fetched.address.url)
    except UnreadablePage as exc:
        raise ToolError(
            f"{fetched.address.url} could not be read: {exc} Use search_documentation to find another page."
        ) from None
    return Page(address, fetched.address, document, time.time(), fetched.etag, fetched.last_modified)


async def get_page(address: DocAddress) -> Page:
    """The page, from the cache when it is there; one fetch and one conversion per cache lifetime."""

    async def compute() -> tuple[Page, int]:
        page = await asyncio.to_thread(load_page, address)
        return page, page.size()

    return await page_cache().get_or_compute(cache_key(address), compute)


def requested_note(page: Page) -> str:
    """The reference's note when a redirect served another page than the one asked for."""
    if not page.substituted:
        return ""
    return f"<e>Requested {page.requested.url}; served {page.served.url}.</e>\n\n"
