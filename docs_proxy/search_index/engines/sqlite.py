"""SQLite FTS5 over docs_proxy_indexedpage: an external-content table kept in step by triggers (migration 0003).

Queries are built here from plain words only: each word becomes an FTS5 string ("word", with any quote
doubled), so nothing a caller types is read as FTS5 syntax (NEAR, *, -, ^, column filters, parentheses).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from docs_proxy.search_index.engines.base import SIGNALS, EngineUnavailable, Match, Terms

TABLE = "docs_proxy_indexedpage"
FTS = "docs_proxy_indexedpage_fts"
# bm25 weights of the FTS columns (title, headings, body, url): a word in a title counts ten words of body.
BM25 = "bm25(docs_proxy_indexedpage_fts, 10.0, 4.0, 1.0, 2.0)"


def string(word: str) -> str:
    """One FTS5 string: the tokenizer splits it, and several tokens in one string are a phrase."""
    return '"' + word.replace('"', '""') + '"'


def every_word(words: Sequence[str]) -> str:
    return " AND ".join(string(w) for w in words)


def any_word(words: Sequence[str]) -> str:
    return " OR ".join(string(w) for w in words)


def phrase(sequence: Sequence[str]) -> str:
    return string(" ".join(sequence))


def _lookup(match: str) -> str:
    """Whether p.id is among the rows matching an FTS5 expression (uncorrelated: run once per query)."""
    return f"(p.id IN (SELECT rowid FROM {FTS} WHERE {FTS} MATCH {match}))"


def _signals(terms: Terms) -> tuple[str, list[str]]:
    """The signal sum as SQL over p.id, and its parameters."""
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
    sql = " + ".join(f"{SIGNALS[name]} * {_lookup('%s')}" for name, _ in parts)
    return f"({sql})", [match for _, match in parts]


def _coverage(terms: Terms) -> tuple[str, list[str]]:
    """How many of the words a page holds (the any-word order: more words first), as SQL over p.id."""
    return "(" + " + ".join(_lookup("%s") for _ in terms.words) + ")", [string(w) for w in terms.words]


def _in(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


_ready = False


def _check_ready() -> None:
    """The FTS5 table exists (migration 0003 skips it on a SQLite without FTS5); once seen, not asked again."""
    global _ready
    if _ready:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS])
        _ready = cursor.fetchone() is not None
    if not _ready:
        raise EngineUnavailable(
            "this server's SQLite has no full-text search table: either the database is not migrated "
            "(run python manage.py migrate), or it was migrated on a SQLite built without FTS5 (the migration "
            "then skips the table). On a Python whose SQLite has FTS5, create it and index the pages already "
            "stored with: python manage.py migrate docs_proxy 0002 && python manage.py migrate docs_proxy."
        )


class SqliteEngine:
    name = "sqlite"

    def __init__(self) -> None:
        _check_ready()

    def matches(
        self, terms: Terms, partition: str, guides: list[str] | None, every: bool, cap: int, exclude: list[int]
    ) -> list[Match]:
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
        # FTS5 computes bm25 cheaply while it matches (a second MATCH restricted to some rowids costs more
        # than that, measured), so here relevance comes with the matches and orders them within the cap.
        sql = (
            f"SELECT p.id, {signals} AS signals, {BM25} AS rank FROM {FTS} JOIN {TABLE} p ON p.id = {FTS}.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY signals DESC, rank, p.id DESC LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, cap])
            return [Match(row[0], int(row[1]), -float(row[2])) for row in cursor.fetchall()]  # bm25: lower is better

    def relevance(self, terms: Terms, ids: list[int], every: bool) -> dict[int, float]:
        return {}  # given with the matches
