"""Searching the local index (blocking: the "database" pool): a phrase as plain words, ranked as a person would.

A phrase is always read as plain words (letters and digits; everything else separates them): quotes,
NEAR, *, -, ^, colons and parentheses mean nothing, so no caller's text reaches an engine as syntax. At
most DOCS_INDEX_MAX_WORDS words of at most DOCS_INDEX_MAX_WORD_CHARS characters are searched. Pages
holding every word come first; when they are fewer than `limit`, pages holding any word follow, ranked
below them. Within each, see engines.base for the order (title, then section titles, then the exact
phrase, then the engine's relevance). One result per page: the index has one row per URL.

`guides` filters by guide: each term matches the guides whose URL path holds its words run together,
ignoring case and punctuation, with or without a leading "Amazon"/"AWS" ("Amazon RDS" and "RDS" match
/AmazonRDS/latest/UserGuide/, "User Guide" matches .../UserGuide/, "Developer Guide" matches .../dg/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

from docs_proxy.models import IndexedPage
from docs_proxy.search_index.engines import engine
from docs_proxy.search_index.engines.base import Candidate, EngineUnavailable, Terms

__all__ = ["EngineUnavailable", "Hit", "LocalResults", "guide_matches", "search", "terms_of"]

_WORD = re.compile(r"[^\W_]+")
_NOT_ALNUM = re.compile(r"[\W_]+")
# Words too common to require: PostgreSQL's english stop words (its engine drops them), so both engines
# require the same words. They still count in the exact phrase.
STOPWORDS = frozenset(
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers "
    "herself it its itself they them their theirs themselves what which who whom this that these those am is are "
    "was were be been being have has had having do does did doing a an the and but if or because as until while "
    "of at by for with about against between into through during before after above below to from up down in out "
    "on off over under again further then once here there when where why how all any both each few more most "
    "other some such no nor not only own same so than too very s t can will just don should now".split()
)
# Guide folders AWS abbreviates: the words a guide_types term may be written with.
GUIDE_ALIASES = {"dg": "developerguide", "ug": "userguide", "apireference": "apireference", "gsg": "gettingstarted"}
SCAN_FACTOR = 4  # the phrase is cut before tokenising: enough characters for the words that are searched


@dataclass(slots=True, frozen=True)
class Hit:
    url: str
    title: str
    context: str
    score: float  # signals (see engines.base) plus the engine's relevance scaled to 0..1 among the hits
    headings: tuple[str, ...] = ()
    every_word: bool = True  # False: a page holding only some of the words (ranked below the others)


@dataclass(slots=True)
class LocalResults:
    hits: list[Hit] = field(default_factory=list)
    indexed: int = 0  # pages indexed in the partition
    words: tuple[str, ...] = ()  # the words searched, for the answer's note


def terms_of(phrase: str) -> Terms:
    """The words of a phrase (bounded in number and length), lowercased; empty when it has none."""
    limit, longest = settings.DOCS_INDEX_MAX_WORDS, settings.DOCS_INDEX_MAX_WORD_CHARS
    scanned = phrase[: limit * (longest + 1) * SCAN_FACTOR]
    sequence = [w.lower() for w in _WORD.findall(scanned) if len(w) <= longest][:limit]
    distinct = list(dict.fromkeys(sequence))
    required = [w for w in distinct if w not in STOPWORDS] or distinct
    return Terms(tuple(required), tuple(sequence))


def _compact(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def _term_forms(term: str) -> set[str]:
    compact = _compact(term)
    forms = {compact, GUIDE_ALIASES.get(compact, compact)}
    for prefix in ("amazon", "aws"):
        if compact.startswith(prefix) and len(compact) > len(prefix):
            forms.add(compact[len(prefix) :])
    forms.discard("")
    return forms


def guide_matches(guide_url: str, product_types: list[str] | None, guide_types: list[str] | None) -> bool:
    """Whether a guide passes the filters: any product term and any guide term (an absent filter passes)."""
    path = guide_url.split("://", 1)[-1].partition("/")[2]
    folders = [_compact(part) for part in path.split("/") if part]
    expanded = {GUIDE_ALIASES.get(f, f) for f in folders}
    joined = "".join(folders)

    def passes(terms: list[str] | None, where: set[str] | str) -> bool:
        if not terms:
            return True
        forms = set().union(*(_term_forms(t) for t in terms))
        return any(form in where for form in forms) if isinstance(where, str) else bool(forms & where)

    return passes(product_types, joined) and passes(guide_types, expanded)


def _guides(partition: str, product_types: list[str] | None, guide_types: list[str] | None) -> list[str] | None:
    if not product_types and not guide_types:
        return None
    known = IndexedPage.objects.filter(partition=partition).values_list("guide", flat=True).distinct()
    return [g for g in known if guide_matches(g, product_types, guide_types)]


def _excerpt(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _scaled(candidates: list[Candidate]) -> dict[int, float]:
    """Each candidate's relevance as a share of the best one's (0..1]."""
    best = max((c.relevance for c in candidates), default=0.0)
    return {c.id: (max(0.0, c.relevance) / best if best > 0 else 0.0) for c in candidates}


def _hits(every: list[Candidate], some: list[Candidate], words: int, contexts: dict[int, str]) -> list[Hit]:
    """Hits in rank order; a score that falls down the list: 1 and above for pages holding every word
    (signals + relevance), below 1 for the others ((words held - 1 + relevance) / words)."""
    chars = settings.DOCS_INDEX_CONTEXT_CHARS
    hits = []
    for group, full in ((every, True), (some, False)):
        scaled = _scaled(group)
        for c in group:
            score = 1 + c.signals + scaled[c.id] if full else (c.signals - 1 + scaled[c.id]) / max(1, words)
            headings = tuple(h for h in c.headings.split("\n") if h)
            hits.append(Hit(c.url, c.title, _excerpt(contexts.get(c.id, ""), chars), round(score, 4), headings, full))
    return hits


def search(
    phrase: str,
    partition: str,
    limit: int,
    guides: list[str] | None = None,
    guide_types: list[str] | None = None,
) -> LocalResults:
    """The best `limit` pages of the partition for the phrase's words; `guides` are product terms (the tool's
    product_types) and `guide_types` guide terms, matched against guide URLs (see the module's note)."""
    indexed = IndexedPage.objects.filter(partition=partition).count()
    terms = terms_of(phrase)
    if not terms.words or limit <= 0 or not indexed:
        return LocalResults([], indexed, terms.words)
    chosen = _guides(partition, guides, guide_types)
    if chosen == []:
        return LocalResults([], indexed, terms.words)
    index = engine()
    every = index.candidates(terms, partition, chosen, True, limit, [])
    some: list[Candidate] = []
    if len(every) < limit:
        some = index.candidates(terms, partition, chosen, False, limit - len(every), [c.id for c in every])
    chars = settings.DOCS_INDEX_CONTEXT_CHARS
    contexts = index.contexts(terms, [c.id for c in every], True, chars)
    contexts.update(index.contexts(terms, [c.id for c in some], False, chars))
    return LocalResults(_hits(every, some, len(terms.words), contexts), indexed, terms.words)
