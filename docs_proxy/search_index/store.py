"""Writing and listing the index's rows (blocking: call from the "database" pool).

Plain ORM on IndexedPage: the engine's triggers keep its full-text side in step, so these work on
every engine. Searching is the engine's (docs_proxy.search_index.engines).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from docs_proxy.addresses import partition_of_host
from docs_proxy.models import IndexedPage
from docs_proxy.search_index.records import IndexRecord


@dataclass(slots=True, frozen=True)
class ListedPage:
    id: int
    url: str
    title: str


def save(record: IndexRecord, etag: str | None = None, last_modified: str | None = None) -> bool:
    """Insert or replace the page's row; True when it is a new page.

    A page whose title, section titles and text are unchanged (most re-fetches) only has its age renewed:
    the full-text side is rewritten by the engine on a change of those columns alone. Validators given are
    kept for a refresh's conditional request; none given leaves the row's as they are.
    """
    words = {"title": record.title, "headings": "\n".join(record.headings), "body": record.body}
    place: dict[str, object] = {"partition": record.partition, "guide": record.guide, "indexed_at": timezone.now()}
    if etag is not None or last_modified is not None:
        place.update(etag=etag, last_modified=last_modified)
    rows = IndexedPage.objects.filter(url=record.url)
    if rows.exclude(**words).update(**words, **place) or rows.update(**place):
        return False
    try:
        with transaction.atomic():
            IndexedPage.objects.create(url=record.url, **words, **place)
    except IntegrityError:  # written meanwhile by another process
        rows.update(**words, **place)
        return False
    return True


def set_validators(url: str, etag: str | None, last_modified: str | None) -> int:
    """Record the origin's validators of an indexed page as confirmed now (the crawl, after indexing or a 304):
    a bounded refresh takes the pages confirmed longest ago first. The text is untouched: no re-indexing."""
    return IndexedPage.objects.filter(url=url).update(etag=etag, last_modified=last_modified, indexed_at=timezone.now())


def validators(url: str) -> tuple[str | None, str | None] | None:
    """The (etag, last_modified) kept with an indexed page; None when the index does not hold it."""
    row = IndexedPage.objects.filter(url=url).values_list("etag", "last_modified").first()
    return None if row is None else (row[0], row[1])


def remove_oldest(count: int) -> int:
    """Remove the `count` pages indexed longest ago (the index's bound on pages).

    In transactions of DOCS_INDEX_DELETE_BATCH pages with a pause between: each row's full-text delete runs
    in a trigger, and one statement over thousands of rows would hold the database's write lock for seconds
    (on SQLite the shared cache's writes in the same file would wait, and trip its breaker).
    """
    oldest = list(IndexedPage.objects.order_by("indexed_at", "id").values_list("id", flat=True)[: max(0, count)])
    batch, removed = max(1, settings.DOCS_INDEX_DELETE_BATCH), 0
    for start in range(0, len(oldest), batch):
        with transaction.atomic():
            removed += IndexedPage.objects.filter(id__in=oldest[start : start + batch]).delete()[0]
        time.sleep(0.001)  # let a waiting writer take the lock
    return removed


def remove_url(url: str) -> int:
    return IndexedPage.objects.filter(url=url).delete()[0]


def remove_prefix(url_prefix: str) -> int:
    return IndexedPage.objects.filter(url__startswith=url_prefix).delete()[0]


def remove_all() -> int:
    return IndexedPage.objects.all().delete()[0]


def count_matching(url_prefix: str = "") -> int:
    rows = IndexedPage.objects.all()
    return (rows.filter(url__startswith=url_prefix) if url_prefix else rows).count()


@dataclass(slots=True, frozen=True)
class IndexFigures:
    total: int
    partitions: list[tuple[str, int]]  # (partition, pages), by name
    guides: list[tuple[str, str, int]]  # the largest guides: (partition, guide, pages), largest first
    guide_count: int  # guides in the index, listed or not


def figures(limit: int) -> IndexFigures:
    """The index's pages per partition and its `limit` largest guides, for the admin's page.

    Each query groups or counts one indexed column (an index-only scan): the rows, which hold up to
    DOCS_INDEX_MAX_CHARS of text each, are never read. A guide's partition is its URL's host."""
    per_partition = IndexedPage.objects.values_list("partition").annotate(pages=Count("id")).order_by("partition")
    partitions = [(partition, pages) for partition, pages in per_partition]
    largest = IndexedPage.objects.values_list("guide").annotate(pages=Count("id")).order_by("-pages", "guide")
    guides = [(_partition_of(guide), guide, pages) for guide, pages in largest[: max(0, limit)]]
    guide_count = IndexedPage.objects.values("guide").distinct().count()
    return IndexFigures(sum(pages for _p, pages in partitions), partitions, guides, guide_count)


def _partition_of(guide: str) -> str:
    return partition_of_host((urlsplit(guide).hostname or "").lower()) or "?"


def listing(after_id: int, limit: int, partition: str | None = None) -> list[ListedPage]:
    """Up to `limit` pages with ids above `after_id`, in id order (keyset paging: stable while rows come and go)."""
    rows = IndexedPage.objects.filter(id__gt=after_id)
    if partition:
        rows = rows.filter(partition=partition)
    return [ListedPage(r.id, r.url, r.title) for r in rows.order_by("id").only("id", "url", "title")[:limit]]
