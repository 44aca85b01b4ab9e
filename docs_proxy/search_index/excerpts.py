"""A hit's context: the stretch of its text where the searched words are, bounded in length.

Cut here, the same way for both engines, from the stored plain text: FTS5's snippet() and PostgreSQL's
ts_headline re-tokenize each page's whole text in the database (measured: 14 to 98 ms for ten large
pages), finding the words in it here costs a few. Words match as the engines match them, roughly: any
case, and any ending on the word's stem ("deploy" finds "deployment").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s")
MIN_STEM = 3
MAX_OCCURRENCES = 1000  # occurrences of each word looked at in one text
ELLIPSIS = "…"


def stem(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def _phrase_at(lowered: str, sequence: Sequence[str]) -> int | None:
    """Where the words first follow each other, separated by anything but letters and digits."""
    if len(sequence) < 2:
        return None
    found = re.search(r"\W+".join(re.escape(w) for w in sequence) + r"\b", lowered)
    return found.start() if found else None


def _occurrences(lowered: str, stems: set[str]) -> list[tuple[int, str]]:
    """(position, stem) of each word starting with one of the stems, in text order (str.find: no regex scan)."""
    found = []
    for word in stems:
        start, count = 0, 0
        while count < MAX_OCCURRENCES:
            at = lowered.find(word, start)
            if at == -1:
                break
            if at == 0 or not lowered[at - 1].isalnum():
                found.append((at, word))
                count += 1
            start = at + 1
    found.sort()
    return found


def _densest_at(lowered: str, words: Sequence[str], chars: int) -> int | None:
    """Where the stretch of half `chars` holding the most distinct words starts (the first such)."""
    seen = _occurrences(lowered, {stem(w) for w in words})
    best, best_count, held, first = None, 0, Counter[str](), 0
    for position, word in seen:
        held[word] += 1
        while seen[first][0] < position - chars // 2:
            gone = seen[first][1]
            held[gone] -= 1
            if not held[gone]:
                del held[gone]
            first += 1
        if len(held) > best_count:
            best, best_count = seen[first][0], len(held)
    return best


def excerpt(text: str, words: Sequence[str], sequence: Sequence[str], chars: int) -> str:
    """About `chars` characters of `text` around the exact phrase, else around most of the words, else its start."""
    if chars <= 0 or not text:
        return ""
    lowered = text.lower()  # the same length as text for the plain text the index keeps
    at = _phrase_at(lowered, sequence)
    if at is None:
        at = _densest_at(lowered, words, chars) or 0
    start = max(0, at - chars // 4)
    if start:
        space = text.find(" ", start, at)
        start = space + 1 if space != -1 else start
    end = start + chars - (len(ELLIPSIS) * 2)
    piece = text[start:end]
    if end < len(text):
        space = piece.rfind(" ")
        piece = (piece[:space] if space > chars // 2 else piece).rstrip() + ELLIPSIS
    return (ELLIPSIS if start else "") + piece.strip()
