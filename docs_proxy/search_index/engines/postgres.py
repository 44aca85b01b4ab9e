"""PostgreSQL full-text search over docs_proxy_indexedpage: a generated tsvector column (title A, headings B,
body C, URL words D) with a GIN index, and the title's and section titles' own vectors (migration 0003);
ranked with ts_rank_cd.

Queries are built from plain words only, through plainto_tsquery and phraseto_tsquery, which read no
operators: nothing a caller types is read as tsquery syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from docs_proxy.search_index.engines.base import SIGNALS, Match, Terms

TABLE = "docs_proxy_indexedpage"
CONFIG = "english"
# ts_rank_cd weights, in PostgreSQL's order {D, C, B, A}: URL words, body, headings, title (as SQLite's bm25).
WEIGHTS = "{0.2, 0.1, 0.4, 1.0}"


def _query(words: Sequence[str], every: bool) -> tuple[str, list[str]]:
    """A tsquery of every word (AND) or any word (OR), as SQL and its parameters."""
    if every:
        return f"plainto_tsquery('{CONFIG}', %s)", [" ".join(words)]
    return "(" + " || ".join([f"plainto_tsquery('{CONFIG}', %s)"] * len(words)) + ")", list(words)


def _signals(terms: Terms) -> str:
    """The signal sum as SQL over the row and the CTE's query and phrase: the title's and section titles' own
    small vectors, then the page's (for the exact phrase anywhere)."""
    parts = [
        (SIGNALS["title_all"], "p.title_vector @@ q.query"),
        (SIGNALS["headings_all"], "p.headings_vector @@ q.query"),
    ]
    if terms.is_phrase:
        parts += [
            (SIGNALS["title_phrase"], "p.title_vector @@ q.phrase"),
            (SIGNALS["headings_phrase"], "p.headings_vector @@ q.phrase"),
            (SIGNALS["phrase"], "p.search_vector @@ q.phrase"),
        ]
    return "(" + " + ".join(f"{weight} * ({test})::int" for weight, test in parts) + ")"


def _coverage(terms: Terms) -> tuple[str, list[str]]:
    """How many of the words a page holds (the any-word order: more words first): a set of ids per word from
    the GIN index, rather than each word tested on each page's vector (read out of TOAST each time)."""
    tests = [
        f"(p.id IN (SELECT id FROM {TABLE} WHERE search_vector @@ plainto_tsquery('{CONFIG}', %s)))::int"
        for _ in terms.words
    ]
    return "(" + " + ".join(tests) + ")", list(terms.words)


def _gin_only(cursor: CursorWrapper) -> None:
    """Match through the GIN index's bitmap, for this transaction.

    The planner does not count reading each row's large tsvector out of TOAST to test it: it prefers a
    sequential scan, or the partition's index (every row of a partition), with @@ as a filter on each
    row. The GIN bitmap answers a query of plain words without reading any vector: 13 ms against 264 ms
    for a word on every one of 10,000 pages, measured. So those scans are off here, and the partition is
    compared in a form its index does not serve."""
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("SET LOCAL enable_indexscan = off")


class PostgresEngine:
    name = "postgresql"

    def matches(
        self, terms: Terms, partition: str, guides: list[str] | None, every: bool, cap: int, exclude: list[int]
    ) -> list[Match]:
        query, words = _query(terms.words, every)
        signals, counted = (_signals(terms), []) if every else _coverage(terms)
        params: list[object] = [*words, " ".join(terms.sequence), *counted, partition]
        where = ["p.search_vector @@ q.query", "(p.partition || '') = %s"]  # no index but the GIN (see _gin_only)
        if guides is not None:
            where.append("p.guide = ANY(%s)")
            params.append(list(guides))
        if exclude:
            where.append("NOT (p.id = ANY(%s))")
            params.append(list(exclude))
        sql = (
            f"WITH q AS (SELECT {query} AS query, phraseto_tsquery('{CONFIG}', %s) AS phrase) "
            f"SELECT p.id, {signals} AS signals FROM {TABLE} p CROSS JOIN q WHERE {' AND '.join(where)} "
            "ORDER BY signals DESC, length(p.title), p.id DESC LIMIT %s"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            _gin_only(cursor)
            cursor.execute(sql, [*params, cap])
            return [Match(row[0], int(row[1])) for row in cursor.fetchall()]

    def relevance(self, terms: Terms, ids: list[int], every: bool) -> dict[int, float]:
        if not ids:
            return {}
        query, params = _query(terms.words, every)
        sql = f"SELECT id, ts_rank_cd('{WEIGHTS}', search_vector, {query}, 1) FROM {TABLE} WHERE id = ANY(%s)"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, list(ids)])
            return {row[0]: float(row[1]) for row in cursor.fetchall()}
