"""The docs app's own tables: the search index of the pages the fleet has read (the L2 cache table is
Django's DatabaseCache, created by migration 0001)."""

from __future__ import annotations

from django.db import models


class IndexedPage(models.Model):
    """One documentation page as the local search index holds it, keyed by its served public URL.

    The full-text side (SQLite FTS5 or a PostgreSQL tsvector) is kept in step with this table by the
    engine's own triggers, so every ORM write is indexed."""

    url = models.CharField(max_length=2048, unique=True)  # the served page's canonical public URL
    partition = models.CharField(max_length=16, db_index=True)  # "aws" or "aws-cn"
    guide = models.CharField(max_length=2048, db_index=True)  # the guide's URL: the page URL up to its last "/"
    title = models.TextField()
    headings = models.TextField(blank=True)  # the page's section titles, one per line
    body = models.TextField(blank=True)  # plain text, at most DOCS_INDEX_MAX_CHARS
    indexed_at = models.DateTimeField(auto_now=True, db_index=True)
    # The origin's validators when the page was indexed: a refresh asks conditionally even once L2 has let
    # the page go (its 24 h), so an unchanged page costs a 304 and no conversion.
    etag = models.CharField(max_length=1024, null=True, blank=True)
    last_modified = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        verbose_name = "indexed page"

    def __str__(self) -> str:
        return self.url
