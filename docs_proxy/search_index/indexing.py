"""Putting a converted page into the index (blocking: the "database" pool). Called where a page comes from
the origin, and by the crawl; a failure to index never fails the read.

The index holds at most DOCS_INDEX_MAX_PAGES pages: the pages indexed longest ago go first. Counting the
table on every insert would cost a scan each time, so the count is checked after every
max(1, DOCS_INDEX_MAX_PAGES // 100) new pages in this process: the index may exceed its bound by that
many pages per process between checks (1% each), and is brought back under it at the check.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from docs_proxy.models import IndexedPage
from docs_proxy.page import Page
from docs_proxy.search_index import store
from docs_proxy.search_index.records import IndexRecord, record_for

log = logging.getLogger(__name__)
_lock = threading.Lock()
_new_since_check = 0


def index_page(page: Page) -> bool:
    """Index (or re-index) the page; False when indexing is off or failed."""
    if not settings.DOCS_INDEX_ENABLED:
        return False
    try:
        return index_record(record_for(page))
    except Exception:
        log.exception("indexing %s failed", page.served.url)
        return False


def index_record_logged(record: IndexRecord) -> bool:
    """index_record, a failure logged rather than raised (the background writer's)."""
    try:
        return index_record(record)
    except Exception:
        log.exception("indexing %s failed", record.url)
        return False


def index_record(record: IndexRecord) -> bool:
    """Write the record (blocking; raises on a database error), keeping the index within its bound."""
    if store.save(record, record.etag, record.last_modified) and _check_due():
        enforce_bound()
    return True


def _check_due() -> bool:
    """Count the new page; True every max(1, DOCS_INDEX_MAX_PAGES // 100) new pages."""
    global _new_since_check
    with _lock:
        _new_since_check += 1
        if _new_since_check < max(1, settings.DOCS_INDEX_MAX_PAGES // 100):
            return False
        _new_since_check = 0
        return True


def enforce_bound() -> int:
    """Remove the oldest pages beyond DOCS_INDEX_MAX_PAGES; how many went."""
    excess = IndexedPage.objects.count() - settings.DOCS_INDEX_MAX_PAGES
    removed = store.remove_oldest(excess)
    if removed:
        log.info("search index: removed the %d pages indexed longest ago (DOCS_INDEX_MAX_PAGES)", removed)
    return removed
