"""SQLite FTS5 over docs_proxy_indexedpage: an external-content table kept in step by triggers (migration 0003).

Queries are built here from plain words only: each word becomes an FTS5 string ("word", with any quote
doubled), so nothing a caller types is read as FTS5 syntax (NEAR, *, -, ^, column filters, parentheses).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from docs_proxy.search_index.engines.base import SIGNALS, Candidate, Terms

TABLE = "docs_proxy_indexedpage"
FTS = "docs_proxy_indexedpage_fts"
# bm25 weights of the FTS columns (title, headings, body, url): a word in a title counts ten words of body.
BM25 = "bm25(docs_proxy_indexedpage_fts, 10.0, 4.0, 1.0, 2.0)"
BODY_COLUMN = 2
MAX_SNIPPET_TOKENS = 64  # FTS5's own bound


def string(word: str) -> str:
    """One FTS5 string: the tokenizer splits it, and several tokens in one string are a phrase."""
    return '"' + word.replace('"', '""') + '"'


def every_word(words: Sequence[str]) -> str:
    return " AND ".join(string(w) for w in words)


def any_word(words: Sequence[str]) -> str:
    return " OR ".join(string(w) for w in words)


def phrase(sequence: Sequence[str]) -> str:
    return string(" ".join(sequence))


def _signals(terms: Terms) -> tuple[str, list[str]]:
    """The signal sum as SQL over p.id: one uncorrelated FTS5 lookup per signal, run once per query."""
    parts = [
        ("title_all", f"title : ({every_word(terms.words)})"),
        ("headings_all", f"headings : ({every_word(terms.words)})"),
    ]
    if terms.is_phrase:
        parts += [
            ("title_phrase", f"title : {phrase(terms.sequence)}"),
            ("headings_phrase", f"headings : {phrase(terms.sequence)}"),
            ("phrase", phrase(terms.sequence)),
        ]
    sql = " + ".join(f"{SIGNALS[name]} * (p.id IN (SELECT rowid FROM {FTS} WHERE {FTS} MATCH %s))" for name, _ in parts)
    return f"({sql})", [match for _, match in parts]


def _coverage(terms: Terms) -> tuple[str, list[str]]:
    """How many of the words a page holds (the any-word order: more words first), as SQL over p.id."""
    sql = " + ".join(f"(p.id IN (SELECT rowid FROM {FTS} WHERE {FTS} MATCH %s))" for _ in terms.words)
    return f"({sql})", [string(w) for w in terms.words]


def _in(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


class SqliteEngine:
    name = "sqlite"

    def candidates(
        self, terms: Terms, partition: str, guides: list[str] | None, every: bool, limit: int, exclude: list[int]
    ) -> list[Candidate]:
        signals, matches = _signals(terms) if every else _coverage(terms)
        params: list[object] = [*matches]
        where = [f"{FTS} MATCH %s", "p.partition = %s"]
        params += [every_word(terms.words) if every else any_word(terms.words), partition]
        if guides is not None:
            where.append(f"p.guide IN ({_in(guides)})")
            params += guides
        if exclude:
            where.append(f"p.id NOT IN ({_in(exclude)})")
            params += exclude
        sql = (
            f"SELECT p.id, p.url, p.title, p.headings, {signals} AS signals, {BM25} AS rank "
            f"FROM {FTS} JOIN {TABLE} p ON p.id = {FTS}.rowid WHERE {' AND '.join(where)} "
            "ORDER BY signals DESC, rank ASC, p.id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            rows = cursor.fetchall()
        return [Candidate(r[0], r[1], r[2], r[3], int(r[4]), -float(r[5])) for r in rows]

    def contexts(self, terms: Terms, ids: list[int], every: bool, chars: int) -> dict[int, str]:
        if not ids:
            return {}
        tokens = max(1, min(MAX_SNIPPET_TOKENS, chars // 6))
        sql = (
            f"SELECT rowid, snippet({FTS}, {BODY_COLUMN}, '', '', '…', {tokens}) FROM {FTS} "
            f"WHERE {FTS} MATCH %s AND rowid IN ({_in(ids)})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [every_word(terms.words) if every else any_word(terms.words), *ids])
            return {row[0]: row[1] or "" for row in cursor.fetchall()}
