"""Documentation pages as the tools see them: fetched, converted and cached as one `Page`.

A read looks in L1, then L2, then the origin; what the origin returns fills both. Concurrent misses
share one fetch: in this process through a SingleFlight, across processes through a short lock in L2
while the others watch L2 for the result. An expired entry with validators is revalidated with a
conditional request (a 304 refreshes it without converting again); when the origin fails, a stale
copy younger than DOCS_STALE_IF_ERROR is served and says so. Blocking work runs in pools of its own
(awsmcp.pools): L2 in "database", the origin in "fetch", so a full fetch pool delays no cached read.
A cold read is bounded in time: its fetch by DOCS_FETCH_DEADLINE (slot wait included), its L2 calls
by the breaker and DOCS_CACHE_L2_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from django.conf import settings

from awsmcp import background, otel
from awsmcp.pools import run_in
from docs_proxy import spans, workers
from docs_proxy.addresses import DocAddress
from docs_proxy.cache.layers import page_l1, shared
from docs_proxy.cache.single_flight import SingleFlight
from docs_proxy.convert import Document, UnreadablePage, looks_like_html
from docs_proxy.fetch import FetchError, deadline_from_now, fetch_page, run_fetch
from docs_proxy.page import Page, cache_key
from docs_proxy.search_index.indexing import index_record_logged
from docs_proxy.search_index.records import record_for
from docs_proxy.stats import stats
from mcp_gateway.catalogue import ToolError

STALE_L1_TTL = 10.0  # a stale copy is kept in L1 this long, so a failing origin is not hammered
WAIT_POLL = 0.1
log = logging.getLogger(__name__)
_loads: SingleFlight[Page] = SingleFlight(on_wait=lambda: stats.count("single_flight_waits"))
# The index's queue and its worker, for the loop that made them (a reference keeps the task alive)
_queue: asyncio.Queue[Page] | None = None
_queue_loop: asyncio.AbstractEventLoop | None = None
_worker: asyncio.Task[None] | None = None


# --- the blocking parts (pool threads) --------------------------------------------------------------
def _convert(fetched_body: bytes, encoding: str | None, content_type: str, served: DocAddress) -> Document:
    """Convert in a worker process (this thread waits); get_page remembers a failure, so it is not refetched."""
    if not looks_like_html(fetched_body, content_type):
        raise ToolError(
            f"{served.url} is not an HTML page ({content_type or 'unknown type'}); "
            "only documentation pages can be read."
        )
    try:
        with otel.span(spans.CONVERT) as span:  # this thread waits while a worker process converts
            document = workers.convert_page(fetched_body, encoding, served.url)
            if span is not None:
                span.set_attribute(spans.BYTES_IN, len(fetched_body))
                span.set_attribute(spans.CHARS_OUT, len(document.markdown))
    except (UnreadablePage, workers.ConversionFailed) as exc:
        message = f"{served.url} could not be read: {exc} Use search_documentation to find another page."
        raise ToolError(message) from exc  # the cause tells get_page it was the conversion that failed
    stats.count("conversions")
    return document


def origin_load(address: DocAddress, previous: Page | None, deadline: float | None = None) -> Page:
    """Fetch (conditionally when `previous` has validators) and convert. Raises FetchError or ToolError."""
    conditional = previous is not None and (previous.etag or previous.last_modified)
    started = time.monotonic()
    with otel.span(spans.FETCH) as span:
        try:
            fetched = fetch_page(
                address,
                previous.etag if conditional and previous else None,
                previous.last_modified if conditional and previous else None,
                deadline,
            )
        except FetchError as exc:
            stats.count("origin_errors")
            spans.failed(span, exc, exc.status)
            raise
        finally:
            stats.count("origin_fetches")
            stats.origin_latency(time.monotonic() - started)
        if span is not None:
            span.set_attributes(
                {
                    spans.URL: fetched.address.url,
                    spans.STATUS: fetched.status,
                    spans.BODY_BYTES: len(fetched.body),
                    spans.CONDITIONAL: bool(conditional),
                }
            )
    now = time.time()
    fresh_until = now + settings.DOCS_CACHE_L2_TTL
    if fetched.not_modified and previous is not None:
        stats.count("origin_304")
        return Page(
            address, previous.served, previous.document, now, fresh_until, previous.etag, previous.last_modified
        )
    document = _convert(fetched.body, fetched.encoding, fetched.content_type, fetched.address)
    return Page(address, fetched.address, document, now, fresh_until, fetched.etag, fetched.last_modified)


def l2_read(address: DocAddress, patient: bool = False) -> Page | None:
    data = shared().get(cache_key(address), patient=patient)
    if not isinstance(data, dict):
        return None
    try:
        return Page.from_json(address, data)
    except (KeyError, TypeError, ValueError):
        return None


def l2_write(page: Page) -> None:
    # L2 keeps an entry as long as it may be served stale; freshness is the entry's own fresh_until.
    keep = max(settings.DOCS_CACHE_L2_TTL, settings.DOCS_STALE_IF_ERROR)
    shared().set(cache_key(page.requested), page.to_json(), keep)


# --- the read path ------------------------------------------------------------------------------
async def get_page(address: DocAddress) -> Page:
    """The page, from L1, L2 or the origin; one fetch and one conversion per cache lifetime."""
    background.ensure("docs-housekeeping")
    key = cache_key(address)
    stats.read(address.url)
    with otel.span(spans.L1) as span:
        page = page_l1().get(key)
        if span is not None:
            spans.looked_up(span, "page", page is not None)
    if page is not None:
        stats.count("l1_hits")
        return page
    stats.count("l1_misses")
    known = workers.failed_pages().recent(address.url)
    if known is not None:  # it failed to convert a moment ago: say so again without fetching it again
        raise ToolError(known)
    workers.conversion_pool().warm()  # a first page's fetch overlaps the start of the conversion workers
    return await _loads.run(key, lambda: _load_remembering_failure(address, key))


async def _load_remembering_failure(address: DocAddress, key: str) -> Page:
    try:
        return await _load(address, key)
    except ToolError as exc:
        cause = exc.__cause__
        if isinstance(cause, (UnreadablePage, workers.ConversionFailed)) and getattr(cause, "lasting", True):
            workers.failed_pages().remember(address.url, str(exc))  # the requested address too, after a redirect
        raise


def _remember(key: str, page: Page) -> None:
    ttl = STALE_L1_TTL if page.stale_reason else page.fresh_until - time.time()
    page_l1().put(key, page, page.size(), ttl)


async def _load(address: DocAddress, key: str) -> Page:
    """L2, else the origin: once across processes (an L2 lock; the others watch L2), stale on a failing origin."""
    with otel.span(spans.L2) as span:
        stored = await run_in("database", l2_read, address)
        now = time.time()
        if span is not None:
            hit = stored is not None and stored.fresh_until > now
            spans.looked_up(span, "page", hit, stale=stored is not None and not hit)
    if stored is not None and stored.fresh_until > now:
        stats.count("l2_hits")
        _remember(key, stored)
        return stored
    stats.count("l2_misses")
    lock = f"lock:{key}"
    bound = settings.DOCS_FETCH_DEADLINE + 5
    if await run_in("database", shared().add, lock, now, bound) is False:
        fresh = await _result_of_other_process(address, key, lock, bound)
        if fresh is not None:
            return fresh
    try:
        return await _from_origin(address, key, stored, now)
    finally:
        await run_in("database", shared().delete, lock)


async def _result_of_other_process(address: DocAddress, key: str, lock: str, bound: float) -> Page | None:
    """Another process is fetching this page: its result from L2, or None when it failed, gave up or took too long."""
    stats.count("single_flight_waits")
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and shared().breaker.available(mind_slow=False):
        await asyncio.sleep(WAIT_POLL)
        fresh = await run_in("database", l2_read, address, True)
        if fresh is not None and fresh.fresh_until > time.time():
            _remember(key, fresh)
            return fresh
        if not await run_in("database", shared().get_plain, lock, True):
            break  # the other fetch failed or gave up (or L2 went down): fetch ourselves
    return None


async def _from_origin(address: DocAddress, key: str, stored: Page | None, now: float) -> Page:
    """Fetch and convert into both layers; on a retryable failure, the stored copy while it may be served stale."""
    try:
        deadline = deadline_from_now()
        page = await run_fetch(
            origin_load, address, stored, deadline, deadline=deadline, after=settings.DOCS_CONVERT_TIMEOUT
        )
    except FetchError as exc:
        if exc.retryable and stored is not None and now - stored.fetched_at < settings.DOCS_STALE_IF_ERROR:
            stats.count("stale_served")
            stored.stale_reason = exc.message
            _remember(key, stored)
            return stored
        raise ToolError(exc.message) from exc  # the cause tells a reader missing (404) from failing (503)
    await run_in("database", l2_write, page)
    _remember(key, page)
    _index_later(page)
    return page


def _index_later(page: Page) -> None:
    """Queue a page that came from the origin (fetched or revalidated) for the index, without the read waiting:
    one worker per loop writes them in turn on a pool of its own ("index"), so a backlog of writes never
    delays the database pool's cache reads. The queue holds DOCS_INDEX_QUEUE pages; beyond that a page is
    dropped and counted (index_dropped): the next read of it queues it again."""
    if not settings.DOCS_INDEX_ENABLED:
        return
    try:
        _index_queue().put_nowait(page)
    except asyncio.QueueFull:
        stats.count("index_dropped")


def _index_queue() -> asyncio.Queue[Page]:
    """This loop's queue, its worker started (again, if a previous one ended) on first use."""
    global _queue, _queue_loop, _worker
    loop = asyncio.get_running_loop()
    if _queue is None or _queue_loop is not loop:
        _queue, _queue_loop, _worker = asyncio.Queue(max(1, settings.DOCS_INDEX_QUEUE)), loop, None
    if _worker is None or _worker.done():
        _worker = loop.create_task(_index_worker(_queue))
    return _queue


async def _index_worker(queue: asyncio.Queue[Page]) -> None:
    """Index the queued pages one at a time: the record's text is made on the "cpu" pool, never on the loop."""
    while True:
        page = await queue.get()
        try:
            record = await run_in("cpu", record_for, page)
            await run_in("index", index_record_logged, record)
        except Exception:
            log.exception("indexing %s failed", page.served.url)
        finally:
            queue.task_done()


async def index_settled() -> None:
    """Wait until the pages queued for the index so far are written (tests, and a shutdown that cares)."""
    if _queue is not None and _queue_loop is asyncio.get_running_loop():
        await _queue.join()


def notes(page: Page) -> str:
    """Lines the tools put before a page's text: a redirect to another page, a stale copy."""
    lines = []
    if page.substituted:
        lines.append(f"<e>Requested {page.requested.url}; served {page.served.url}.</e>")
    if page.stale_reason:
        when = datetime.fromtimestamp(page.fetched_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(
            f"<e>This is a cached copy from {when} (stale): the documentation site failed just now "
            f"({page.stale_reason}).</e>"
        )
    return "".join(f"{line}\n\n" for line in lines)
