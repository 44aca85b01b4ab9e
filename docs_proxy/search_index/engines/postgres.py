"""PostgreSQL full-text search over docs_proxy_indexedpage: a generated tsvector column (title A, headings B,
body C, URL words D) with a GIN index (migration 0003), ranked with ts_rank_cd, excerpts by ts_headline.

Queries are built from plain words only, through plainto_tsquery and phraseto_tsquery, which read no
operators: nothing a caller types is read as tsquery syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from docs_proxy.search_index.engines.base import SIGNALS, Candidate, Terms

TABLE = "docs_proxy_indexedpage"
CONFIG = "english"
# ts_rank_cd weights, in PostgreSQL's order {D, C, B, A}: URL words, body, headings, title (as SQLite's bm25).
WEIGHTS = "{0.2, 0.1, 0.4, 1.0}"
HEADLINE_SOURCE_CHARS = 30_000  # ts_headline parses the text it is given: only the start of a long page


def _query(words: Sequence[str], every: bool) -> tuple[str, list[str]]:
    """A tsquery of every word (AND) or any word (OR), as SQL and its parameters."""
    if every:
        return f"plainto_tsquery('{CONFIG}', %s)", [" ".join(words)]
    return "(" + " || ".join([f"plainto_tsquery('{CONFIG}', %s)"] * len(words)) + ")", list(words)


def _signals(terms: Terms) -> str:
    """The signal sum as SQL over p.search_vector and the CTE's query and phrase (ts_filter keeps one weight)."""
    parts = [
        (SIGNALS["title_all"], "ts_filter(p.search_vector, '{a}') @@ q.query"),
        (SIGNALS["headings_all"], "ts_filter(p.search_vector, '{b}') @@ q.query"),
    ]
    if terms.is_phrase:
        parts += [
            (SIGNALS["title_phrase"], "ts_filter(p.search_vector, '{a}') @@ q.phrase"),
            (SIGNALS["headings_phrase"], "ts_filter(p.search_vector, '{b}') @@ q.phrase"),
            (SIGNALS["phrase"], "p.search_vector @@ q.phrase"),
        ]
    return "(" + " + ".join(f"{weight} * ({test})::int" for weight, test in parts) + ")"


def _coverage(terms: Terms) -> tuple[str, list[str]]:
    """How many of the words a page holds (the any-word order: more words first)."""
    tests = [f"(p.search_vector @@ plainto_tsquery('{CONFIG}', %s))::int" for _ in terms.words]
    return "(" + " + ".join(tests) + ")", list(terms.words)


class PostgresEngine:
    name = "postgresql"

    def candidates(
        self, terms: Terms, partition: str, guides: list[str] | None, every: bool, limit: int, exclude: list[int]
    ) -> list[Candidate]:
        query, words = _query(terms.words, every)
        signals, counted = (_signals(terms), []) if every else _coverage(terms)
        params: list[object] = [*words, " ".join(terms.sequence), *counted, partition]
        where = ["p.search_vector @@ q.query", "p.partition = %s"]
        if guides is not None:
            where.append("p.guide = ANY(%s)")
            params.append(list(guides))
        if exclude:
            where.append("NOT (p.id = ANY(%s))")
            params.append(list(exclude))
        sql = (
            f"WITH q AS (SELECT {query} AS query, phraseto_tsquery('{CONFIG}', %s) AS phrase) "
            f"SELECT p.id, p.url, p.title, p.headings, {signals} AS signals, "
            f"ts_rank_cd('{WEIGHTS}', p.search_vector, q.query, 1) AS rank "
            f"FROM {TABLE} p CROSS JOIN q WHERE {' AND '.join(where)} "
            "ORDER BY signals DESC, rank DESC, p.id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            rows = cursor.fetchall()
        return [Candidate(r[0], r[1], r[2], r[3], int(r[4]), float(r[5])) for r in rows]

    def contexts(self, terms: Terms, ids: list[int], every: bool, chars: int) -> dict[int, str]:
        if not ids:
            return {}
        query, params = _query(terms.words, every)
        words = max(3, min(60, chars // 7))
        options = (
            f"MaxWords={words}, MinWords={max(2, words // 2)}, ShortWord=2, MaxFragments=1, StartSel='', StopSel=''"
        )
        sql = (
            f"SELECT id, ts_headline('{CONFIG}', left(body, {HEADLINE_SOURCE_CHARS}), {query}, %s) "
            f"FROM {TABLE} WHERE id = ANY(%s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, options, list(ids)])
            return {row[0]: row[1] or "" for row in cursor.fetchall()}
