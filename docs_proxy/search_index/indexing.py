"""Putting a converted page into the index (blocking: the "database" pool). Called where a page comes from
the origin, and by the crawl; a failure to index never fails the read."""

from __future__ import annotations

import logging

from django.conf import settings

from docs_proxy.page import Page
from docs_proxy.search_index import store
from docs_proxy.search_index.records import record_for

log = logging.getLogger(__name__)


def index_page(page: Page) -> bool:
    """Index (or re-index) the page; False when indexing is off or failed."""
    if not settings.DOCS_INDEX_ENABLED:
        return False
    try:
        store.save(record_for(page))
    except Exception:
        log.exception("indexing %s failed", page.served.url)
        return False
    return True
