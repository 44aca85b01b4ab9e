"""Purging the docs cache: one action for the management command, the admin and any other caller.

L2 entries are deleted by key pattern (every converter version of a page); this process's L1 is
emptied of them at once, and the purge generation is bumped so every other process empties its L1
within DOCS_PURGE_POLL seconds. Purged pages leave the search index too (a page, a prefix, or all of it),
so local search does not offer what an operator removed; purging answers leaves the index alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.db import DatabaseError

from docs_proxy.addresses import PUBLIC_HOSTS, AddressError, DocAddress, parse_doc_url, partition_of_host
from docs_proxy.cache.layers import l1_caches, shared
from docs_proxy.housekeeping import GENERATION_KEY
from docs_proxy.models import IndexedPage
from docs_proxy.page import PATH_KEY_LIMIT, PATH_KEY_SAFE, page_pattern
from docs_proxy.search_index import store as index_store
from docs_proxy.stats import stats

ANSWER_KINDS = ("search", "recommend")
ALL_KINDS = ("page", "search", "recommend", "china-toc")


class PurgeScope(Enum):
    """What a purge removes; PAGE and PREFIX also take a target URL. The values are the admin form's choices."""

    PAGE = "url"
    PREFIX = "prefix"
    ANSWERS = "search"
    EVERYTHING = "all"


class PurgeError(ValueError):
    """The purge was asked for in a way that cannot be carried out; the message says why."""


@dataclass(slots=True)
class PurgeReport:
    what: str
    dry_run: bool
    l2: int = 0
    l1: int = 0
    l2_bytes: int | None = None  # what the L2 entries store (counted on a dry run only)
    l2_capped: bool = False  # the dry run's count stopped at OPS_CACHE_COUNT_MAX: l2 and l2_bytes are lower bounds
    patterns: list[str] = field(default_factory=list)
    indexed: int | None = None  # pages removed from the search index (None: the purge leaves the index alone)
    index_error: str | None = None  # why the index could not be purged (the cache was)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        at_least = "≥ " if self.l2_capped else ""
        size = "" if self.l2_bytes is None else f" ({at_least}{self.l2_bytes} bytes)"
        index = "" if self.indexed is None else f", and {self.indexed} page(s) from the search index"
        if self.index_error is not None:
            index = f"; index not purged: {self.index_error}"
        return (
            f"{self.what}: {verb} {at_least}{self.l2} shared (L2) entries{size} and {self.l1} in-process (L1) entries here{index}; "
            + (
                "other processes are untouched (dry run)."
                if self.dry_run
                else "every other process empties its L1 within seconds."
            )
        )


def _page_address(url: str) -> DocAddress:
    for partition in PUBLIC_HOSTS:
        try:
            return parse_doc_url(url, partition)
        except AddressError:
            continue
    raise PurgeError(f"Not a documentation page URL: {url} (https://docs.aws.amazon.com/....html)")


def _prefix_pattern(prefix: str) -> str:
    """The L2 key pattern of every page under the prefix. The path is decoded first, as page addresses (and so
    cache keys, and the index's side in _index_prefix) are: "%20" and " " name the same pages."""
    try:
        parts = urlsplit(prefix.strip())
        host = (parts.hostname or "").lower()
    except ValueError:  # an unbalanced "[" in the host, a bad port
        raise PurgeError(f"Not a documentation URL prefix: {prefix}") from None
    partition = partition_of_host(host)
    if parts.scheme not in ("http", "https") or partition is None or not parts.path.startswith("/"):
        raise PurgeError(f"Not a documentation URL prefix: {prefix} (e.g. https://docs.aws.amazon.com/AmazonRDS/)")
    path = unquote(parts.path)
    if len(quote(path, safe=PATH_KEY_SAFE)) > PATH_KEY_LIMIT:  # longer keys end in a digest, which no prefix matches
        raise PurgeError(
            f"The URL prefix is too long to match cache keys (its path quoted must stay under {PATH_KEY_LIMIT} "
            "characters): give a shorter prefix, or purge its pages one by one with their URLs."
        )
    return page_pattern(partition, path, exact=False)


def _index_prefix(prefix: str) -> str:
    """A checked prefix (see _prefix_pattern) as the index spells its URLs: https, the host, the quoted path."""
    parts = urlsplit(prefix.strip())
    return f"https://{(parts.hostname or '').lower()}{quote(unquote(parts.path))}"


def purge_index(scope: PurgeScope, target: str, dry_run: bool) -> int | None:
    """Remove (or count, on a dry run) the purged pages' rows of the search index; None for answers."""
    if scope is PurgeScope.ANSWERS:
        return None
    if scope is PurgeScope.EVERYTHING:
        return index_store.count_matching() if dry_run else index_store.remove_all()
    if scope is PurgeScope.PAGE:
        url = _page_address(target).url
        return IndexedPage.objects.filter(url=url).count() if dry_run else index_store.remove_url(url)
    prefix = _index_prefix(target)
    return index_store.count_matching(prefix) if dry_run else index_store.remove_prefix(prefix)


def patterns_for(scope: PurgeScope, target: str = "") -> tuple[str, list[str]]:
    """What to purge, as a description and key patterns; raises PurgeError on a bad request."""
    if scope is PurgeScope.EVERYTHING:
        return "everything", [f"{kind}:*" for kind in ALL_KINDS]
    if scope is PurgeScope.ANSWERS:
        return "search and recommendation answers", [f"{kind}:*" for kind in ANSWER_KINDS]
    if not target:
        raise PurgeError("Give the page URL or the URL prefix.")
    if scope is PurgeScope.PAGE:
        address = _page_address(target)
        return f"page {address.url}", [page_pattern(address.partition, address.path, exact=True)]
    return f"pages under {target}", [_prefix_pattern(target)]


def l2_footprint(patterns: list[str]) -> tuple[int, int, bool]:
    """(entries, bytes, capped) the shared layer holds under these key patterns: what a dry run would remove, and
    the admin cache page's L2 figures (every kind of entry, as purging everything sees them), so the two always
    agree. The count stops at OPS_CACHE_COUNT_MAX entries (capped: the figures are lower bounds), so that a huge
    store cannot make it run long enough to time out and open the store's breaker."""
    store = shared()
    entries = size = 0
    for pattern in patterns:
        count, stored, capped = store.footprint(pattern, settings.OPS_CACHE_COUNT_MAX - entries)
        entries, size = entries + count, size + stored
        if capped:
            return entries, size, True
    return entries, size, False


def purge(scope: PurgeScope, target: str = "", dry_run: bool = False) -> PurgeReport:
    """Remove cached pages or answers from both layers (blocking: call it in a thread from async code)."""
    what, patterns = patterns_for(scope, target)
    report = PurgeReport(what, dry_run, patterns=patterns)
    store = shared()
    if not store.available():
        raise PurgeError("The shared docs cache is unreachable; nothing was purged.")
    if dry_run:
        report.l2, report.l2_bytes, report.l2_capped = l2_footprint(patterns)
    for pattern in patterns:
        if dry_run:
            report.l1 += sum(len(c.matching(pattern)) for c in l1_caches())
        else:
            report.l2 += store.delete_matching(pattern)
            report.l1 += sum(c.delete_matching(pattern) for c in l1_caches())
    try:
        report.indexed = purge_index(scope, target, dry_run)
    except DatabaseError as exc:  # the cache is purged already: say what failed rather than lose the report
        report.index_error = f"{exc.__class__.__name__}: {exc}"[:300]
    finally:  # other processes must drop the purged pages from L1 whatever the index did
        if not dry_run:
            store.bump(GENERATION_KEY)
            stats.count("purges")
    return report
