"""What a full-text engine of the local index answers: the shapes the query module and the engines share.

Both engines rank the same way: a page's *signals* first (the words of the query in its title, as an
exact phrase or scattered; then in its section titles; then the exact phrase anywhere), then the
engine's own relevance (BM25 in SQLite FTS5, ts_rank_cd in PostgreSQL) among pages with the same
signals. Ranking is a sort, so a person can tell why one page came before another. Relevance is
computed for at most DOCS_INDEX_RANK_CANDIDATES pages per search (see Engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# What each signal adds to a page's rank; the engine's relevance only orders pages with equal signals.
SIGNALS = {"title_phrase": 16, "title_all": 8, "headings_phrase": 4, "headings_all": 2, "phrase": 1}


class EngineUnavailable(Exception):
    """The database has no full-text engine the index can use; the message says why."""


@dataclass(slots=True, frozen=True)
class Terms:
    """A phrase as the engines search it: plain words only, never query syntax."""

    words: tuple[str, ...]  # distinct words, each required (all-words) or sufficient (any-word)
    sequence: tuple[str, ...]  # the phrase's words in order, for the exact-phrase signal

    @property
    def is_phrase(self) -> bool:
        return len(self.sequence) > 1


@dataclass(slots=True, frozen=True)
class Match:
    id: int
    signals: int  # all-words search: the sum of SIGNALS the page earned; any-word: how many of the words it holds
    relevance: float | None = None  # when the engine computes it while matching (else Engine.relevance)


class Engine(Protocol):
    """Two cheap steps rather than one costly one: relevance (BM25, ts_rank_cd) costs in proportion to the
    positions of the words in each page, so it is computed only for the pages `matches` keeps."""

    name: str

    def matches(
        self, terms: Terms, partition: str, guides: list[str] | None, every: bool, cap: int, exclude: list[int]
    ) -> list[Match]:
        """At most `cap` pages of the partition (and guides) holding every word (`every`) or any word, but not
        in `exclude`: the best signals first, then the most relevant when relevance comes with the matches,
        else the shortest titles, then the newest."""
        ...

    def relevance(self, terms: Terms, ids: list[int], every: bool) -> dict[int, float]:
        """The engine's relevance of each page to the words, higher is better (not comparable across engines);
        empty when `matches` gave it."""
        ...
