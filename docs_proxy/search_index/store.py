"""Writing and listing the index's rows (blocking: call from the "database" pool).

Plain ORM on IndexedPage: the engine's triggers keep its full-text side in step, so these work on
every engine. Searching is the engine's (docs_proxy.search_index.engines).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from docs_proxy.models import IndexedPage
from docs_proxy.search_index.records import IndexRecord


@dataclass(slots=True, frozen=True)
class ListedPage:
    id: int
    url: str
    title: str


def save(record: IndexRecord) -> bool:
    """Insert or replace the page's row; True when it is a new page.

    A page whose title, section titles and text are unchanged (most re-fetches) only has its age renewed:
    the full-text side is rewritten by the engine on a change of those columns alone.
    """
    words = {"title": record.title, "headings": "\n".join(record.headings), "body": record.body}
    place = {"partition": record.partition, "guide": record.guide, "indexed_at": timezone.now()}
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


def figures() -> list[tuple[str, str, int]]:
    """(partition, guide, pages) for every guide in the index, largest first."""
    rows = IndexedPage.objects.values("partition", "guide").annotate(pages=Count("id")).order_by("-pages", "guide")
    return [(r["partition"], r["guide"], r["pages"]) for r in rows]


def listing(after_id: int, limit: int, partition: str | None = None) -> list[ListedPage]:
    """Up to `limit` pages with ids above `after_id`, in id order (keyset paging: stable while rows come and go)."""
    rows = IndexedPage.objects.filter(id__gt=after_id)
    if partition:
        rows = rows.filter(partition=partition)
    return [ListedPage(r.id, r.url, r.title) for r in rows.order_by("id").only("id", "url", "title")[:limit]]
