"""Pre-loading the search index with whole guides: `python manage.py index_docs --guide URL`.

A guide's pages are listed by its `toc-contents.json` (both partitions publish one at the guide's root)
and read through the docs cache (pages.get_page), so a crawl fills L2 for every process, converts in the
same worker processes and fetches within the same host allow-list, size caps, deadlines and fetch slots
as a read. Politeness on top: the starts of two fetches are DOCS_CRAWL_PACE seconds apart, at most
DOCS_CRAWL_CONCURRENCY run at once, a run reads at most DOCS_CRAWL_MAX_PAGES pages per guide, and a TOC
is bounded in bytes and entries. A refresh revalidates the pages already indexed with conditional
requests, through the cache's own revalidation (pages.origin_load), with the validators L2 holds or, once L2
has let the page go, those the index kept when it indexed the page: a 304 costs no conversion either way.
Without --refresh, the pages the index does not hold yet come first, so bounded runs cover a guide in turn.
A page's failure is recorded with its reason and the crawl goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from awsmcp.pools import run_in
from docs_proxy import pages
from docs_proxy.addresses import PUBLIC_HOSTS, AddressError, DocAddress, parse_doc_url, partition_of_host
from docs_proxy.convert import Document
from docs_proxy.fetch import FetchError, deadline_from_now, request_json, run_fetch
from docs_proxy.models import IndexedPage
from docs_proxy.page import Page
from docs_proxy.search_index import store
from docs_proxy.search_index.indexing import index_page
from mcp_gateway.catalogue import ToolError

TOC_NAME = "toc-contents.json"
REASON_CHARS = 300  # a failure's reason as the summary shows it


class CrawlError(ValueError):
    """The crawl cannot start for a guide (not a documentation guide, no readable TOC); the message says why."""


class Outcome(Enum):
    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Guide:
    """A guide's directory on a documentation host: its pages are the .html pages under it."""

    address: DocAddress

    @property
    def url(self) -> str:
        return self.address.url

    @property
    def partition(self) -> str:
        return self.address.partition

    def holds(self, address: DocAddress) -> bool:
        return address.partition == self.partition and address.path.startswith(self.address.path)


@dataclass(slots=True)
class TocPages:
    """The pages a TOC lists under its guide, in TOC order, each once."""

    pages: list[DocAddress] = field(default_factory=list)
    skipped: int = 0  # entries naming no page of this guide: off-site, "..", javascript:, not a page, malformed
    entries: int = 0  # TOC entries read
    truncated: bool = False  # the TOC had more than DOCS_CRAWL_MAX_TOC_ENTRIES entries; the rest were not read


@dataclass(slots=True)
class CrawlReport:
    """What a run did to one guide, for the summary."""

    guide: str
    refresh: bool
    planned: int = 0
    left_out: int = 0  # pages beyond the --max-pages bound
    toc: TocPages | None = None
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    from_origin: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)  # reason -> URLs

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def record(self, url: str, outcome: Outcome, reason: str = "", fetched: bool = False) -> None:
        self.counts[outcome] += 1
        self.from_origin += fetched and outcome is Outcome.INDEXED
        if outcome is Outcome.FAILED:
            self.failures.setdefault(short_reason(reason, url), []).append(url)

    def summary(self) -> list[str]:
        c = self.counts
        head = f"{self.guide}: {c[Outcome.INDEXED]} page(s) indexed"
        if self.refresh:
            head += f", {c[Outcome.UNCHANGED]} unchanged (304), {c[Outcome.REMOVED]} removed (gone from the site)"
        else:
            head += f" ({self.from_origin} read from the site, {c[Outcome.INDEXED] - self.from_origin} from the cache)"
        lines = [f"{head}, {c[Outcome.FAILED]} failed."]
        if self.toc is not None and (self.toc.skipped or self.toc.truncated):
            more = f"; only its first {self.toc.entries} entries were read" if self.toc.truncated else ""
            lines.append(f"  TOC: {self.toc.skipped} entr(ies) skipped (not a page of this guide){more}.")
        if self.left_out:
            lines.append(f"  {self.left_out} more page(s) left for a later run (--max-pages).")
        for reason, urls in sorted(self.failures.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(urls[:3]) + (f" and {len(urls) - 3} more" if len(urls) > 3 else "")
            lines.append(f"  failed ({len(urls)}): {reason} [{shown}]")
        return lines


def short_reason(message: str, url: str) -> str:
    """A failure's first sentence without the page's URL, so that pages failing alike are listed together."""
    first = message.replace(url, "the page").split(". ", 1)[0].strip().rstrip(".")
    return first[:REASON_CHARS] or "unknown error"


# --- the guide and its table of contents --------------------------------------------------------------
def guide_from_url(url: str) -> Guide:
    """The guide a --guide URL names: its directory, or the directory of a page of it."""
    raw = url.strip()
    try:
        host = (urlsplit(raw).hostname or "").lower()
    except ValueError as exc:  # an unbalanced "[" in the host, a bad port
        raise CrawlError(f"{url[:200]} is not a URL: {exc}") from None
    partition = partition_of_host(host)
    if partition is None:
        hosts = " or ".join(PUBLIC_HOSTS.values())
        raise CrawlError(f"{url[:200]} is not on a documentation host ({hosts}).")
    try:
        address = parse_doc_url(raw, partition)
    except AddressError as exc:
        raise CrawlError(f"{url[:200]} is not a guide's address: {exc}") from None
    if not address.is_directory:
        address = DocAddress(partition, address.path[: address.path.rfind("/") + 1])
    if address.path.count("/") < 3:  # /guide/ alone is a product's folder, not a guide
        raise CrawlError(
            f"{address.url} is not a guide: give a guide's address, such as "
            f"https://{address.host}/AmazonRDS/latest/UserGuide/ (its table of contents is {TOC_NAME} there)."
        )
    return Guide(address)


def _toc_json(url: str, deadline: float) -> Any:
    return request_json("GET", url, deadline=deadline, cap=settings.DOCS_CRAWL_MAX_TOC_BYTES)


async def load_toc(guide: Guide) -> Any:
    """The guide's TOC as parsed JSON, fetched within the fetch slots, deadline and DOCS_CRAWL_MAX_TOC_BYTES."""
    url = guide.address.origin_url() + TOC_NAME
    deadline = deadline_from_now()
    try:
        return await run_fetch(_toc_json, url, deadline, deadline=deadline)
    except FetchError as exc:
        if exc.status in (403, 404, 410):
            raise CrawlError(f"{guide.url} is not a guide: it has no {TOC_NAME} (HTTP {exc.status}).") from None
        raise CrawlError(f"The table of contents of {guide.url} could not be read: {exc.message}") from None
    except RecursionError:  # JSON nested deeper than the parser goes
        raise CrawlError(f"The table of contents of {guide.url} is nested too deeply to read.") from None


def toc_entries(toc: Any) -> Iterator[Any]:
    """Every entry of a TOC, depth first in reading order, without recursion (a hostile TOC may nest deeply)."""
    top = toc.get("contents") if isinstance(toc, dict) else None
    stack: list[Iterator[Any]] = [iter(top if isinstance(top, list) else [])]
    while stack:
        entry = next(stack[-1], _END)
        if entry is _END:
            stack.pop()
            continue
        yield entry
        children = entry.get("contents") if isinstance(entry, dict) else None
        if isinstance(children, list) and children:
            stack.append(iter(children))


_END = object()


def page_of_entry(guide: Guide, entry: Any) -> DocAddress | None:
    """The page of the guide a TOC entry points to, or None (off-site, outside the guide, not a page, malformed)."""
    href = entry.get("href") if isinstance(entry, dict) else None
    if not isinstance(href, str) or not href.strip() or len(href) > 2048:
        return None
    try:
        target = urljoin(guide.url, href.strip())
        address = parse_doc_url(target.split("#", 1)[0], guide.partition)
    except ValueError:  # AddressError, or a URL urlsplit refuses ("//[x/")
        return None
    if address.is_directory or not guide.holds(address):
        return None
    return address


def toc_pages(guide: Guide, toc: Any) -> TocPages:
    """The guide's pages its TOC lists, each once, reading at most DOCS_CRAWL_MAX_TOC_ENTRIES entries."""
    found = TocPages()
    seen: set[str] = set()
    for entry in toc_entries(toc):
        if found.entries >= settings.DOCS_CRAWL_MAX_TOC_ENTRIES:
            found.truncated = True
            break
        found.entries += 1
        address = page_of_entry(guide, entry)
        if address is None:
            if not (isinstance(entry, dict) and entry.get("href") is None):  # a heading without a page is normal
                found.skipped += 1
            continue
        if address.path in seen:
            continue
        seen.add(address.path)
        found.pages.append(address)
    return found


def indexed_pages(guide: Guide, limit: int) -> list[DocAddress]:
    """The pages of the guide the index holds, refreshed longest ago first, at most `limit` (blocking): bounded
    refreshes take the guide in turn."""
    urls = (
        IndexedPage.objects.filter(url__startswith=guide.url, partition=guide.partition)
        .order_by("indexed_at", "id")
        .values_list("url", flat=True)[:limit]
    )
    found = []
    for url in urls:
        try:
            found.append(parse_doc_url(url, guide.partition))
        except AddressError:
            continue
    return found


def indexed_urls(guide: Guide) -> set[str]:
    """The URLs of the guide's pages the index holds (blocking)."""
    rows = IndexedPage.objects.filter(url__startswith=guide.url, partition=guide.partition)
    return set(rows.values_list("url", flat=True))


# --- politeness ------------------------------------------------------------------------------------
class Pacer:
    """Spaces the starts of fetches `pace` seconds apart, however many run at once (one event loop)."""

    def __init__(
        self,
        pace: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.pace = pace
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")

    async def wait(self) -> None:
        now = self._clock()
        start = max(now, self._next)
        self._next = start + self.pace  # taken before sleeping: the next caller queues behind this one
        if start > now:
            await self._sleep(start - now)


def _fresh_in_cache(address: DocAddress) -> bool:
    """A fresh copy is in L2: reading it costs the site nothing, so it does not wait for the pace."""
    page = pages.l2_read(address)
    return page is not None and page.fresh_until > time.time()


# --- one page ----------------------------------------------------------------------------------------
def _index_keeping_validators(page: Page) -> bool:
    """Index the page and keep its validators with it, for a refresh after L2 has let it go (blocking)."""
    if not index_page(page):
        return False
    store.set_validators(page.served.url, page.etag, page.last_modified)
    return True


async def _index(page: Page) -> tuple[Outcome, str]:
    if await run_in("index", _index_keeping_validators, page):
        return Outcome.INDEXED, ""
    return Outcome.FAILED, "not indexed (the index is off or its database failed; see the log)"


async def crawl_page(address: DocAddress) -> tuple[Outcome, str, bool]:
    """Read a page through the cache and index it: (outcome, reason, whether the site was asked).

    A page the cache loads from the site is indexed by the read path too; indexing it here as well costs one
    row write and tells the summary whether the index took it."""
    started = time.time()
    try:
        page = await pages.get_page(address)
    except ToolError as exc:
        return Outcome.FAILED, str(exc), True
    fetched = page.fetched_at >= started
    outcome, reason = await _index(page)
    return outcome, reason, fetched


# Stands for the document of a page L2 no longer holds: origin_load hands it back on a 304.
_NOT_CACHED = Document(title="", markdown="")


def _previous(address: DocAddress) -> Page | None:
    """What to revalidate against: L2's copy, else the validators the index kept (blocking)."""
    stored = pages.l2_read(address)
    if stored is not None:
        return stored
    kept = store.validators(address.url)
    if kept is None or not any(kept):
        return None
    return Page(address, address, _NOT_CACHED, 0.0, 0.0, kept[0], kept[1])


async def refresh_page(address: DocAddress) -> tuple[Outcome, str, bool]:
    """Revalidate an indexed page with a conditional request; re-index it only when it changed."""
    stored = await run_in("database", _previous, address)
    deadline = deadline_from_now()
    try:
        page = await run_fetch(
            pages.origin_load, address, stored, deadline, deadline=deadline, after=settings.DOCS_CONVERT_TIMEOUT
        )
    except FetchError as exc:
        if exc.status in (404, 410):
            await run_in("database", store.remove_url, address.url)
            return Outcome.REMOVED, "", True
        return Outcome.FAILED, exc.message, True
    except ToolError as exc:
        return Outcome.FAILED, str(exc), True
    unchanged = stored is not None and page.document is stored.document  # origin_load keeps it on a 304
    if page.document is not _NOT_CACHED:  # a 304 without a cached copy has nothing to cache
        await run_in("database", pages.l2_write, page)
    if unchanged:  # confirmed: no conversion, no re-index; the row counts as refreshed now
        await run_in("database", store.set_validators, address.url, page.etag, page.last_modified)
        return Outcome.UNCHANGED, "", True
    if page.served.url != address.url:  # the page moved: the index keeps it under its new address
        await run_in("database", store.remove_url, address.url)
    outcome, reason = await _index(page)
    return outcome, reason, True


# --- a guide -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CrawlOptions:
    max_pages: int
    pace: float
    concurrency: int
    refresh: bool = False


Progress = Callable[[CrawlReport], None]


async def plan(guide: Guide, options: CrawlOptions, seen: set[str]) -> tuple[CrawlReport, list[DocAddress]]:
    """The pages this run reads for the guide: its TOC's (on refresh, the index's), new to the run, bounded."""
    report = CrawlReport(guide.url, options.refresh)
    held: set[str] = set()
    if options.refresh:
        candidates = await run_in("database", indexed_pages, guide, options.max_pages)
        beyond = await run_in("database", store.count_matching, guide.url) - len(candidates)
    else:
        report.toc = toc_pages(guide, await load_toc(guide))
        held = await run_in("database", indexed_urls, guide)
        # Pages the index does not hold yet come first (in TOC order): bounded runs cover the guide in turn.
        candidates = [a for a in report.toc.pages if a.url not in held] + [a for a in report.toc.pages if a.url in held]
        beyond = 0
    new = [a for a in candidates if a.url not in seen]
    chosen = new[: options.max_pages]
    rest = new[options.max_pages :]
    # Left for later: on refresh, every indexed page not revalidated; otherwise the pages never indexed.
    report.left_out = max(0, beyond) + len(rest) if options.refresh else sum(a.url not in held for a in rest)
    report.planned = len(chosen)
    seen.update(a.url for a in chosen)
    return report, chosen


async def crawl_guide(
    guide: Guide, report: CrawlReport, addresses: list[DocAddress], options: CrawlOptions, progress: Progress
) -> CrawlReport:
    """Read (or revalidate) `addresses`, `options.concurrency` at a time, starts paced; failures are recorded."""
    queue = iter(addresses)
    pacer = Pacer(options.pace)
    handle = refresh_page if options.refresh else crawl_page

    async def worker() -> None:
        for address in queue:  # the iterator is shared: each address goes to one worker
            if options.refresh or not await run_in("database", _fresh_in_cache, address):
                await pacer.wait()
            try:
                outcome, reason, fetched = await handle(address)
            except Exception as exc:  # one page's surprise must not end the crawl
                outcome, reason, fetched = Outcome.FAILED, f"{exc.__class__.__name__}: {exc}", False
            report.record(address.url, outcome, reason, fetched)
            progress(report)

    await asyncio.gather(*(worker() for _ in range(max(1, min(options.concurrency, len(addresses))))))
    return report


async def crawl(guides: list[Guide], options: CrawlOptions, progress: Progress) -> list[CrawlReport]:
    """Plan every guide first (a bad guide stops the run before any page is read), then read them in turn."""
    seen: set[str] = set()
    unique = list({guide.url: guide for guide in guides}.values())  # a guide named twice is read once
    planned = [(guide, *await plan(guide, options, seen)) for guide in unique]
    return [await crawl_guide(guide, report, chosen, options, progress) for guide, report, chosen in planned]
