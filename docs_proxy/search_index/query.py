"""Searching the local index (blocking: the "database" pool): a phrase as plain words, ranked as a person would.

A phrase is always read as plain words (letters and digits; everything else separates them): quotes,
NEAR, *, -, ^, colons and parentheses mean nothing, so no caller's text reaches an engine as syntax. At
most DOCS_INDEX_MAX_WORDS words of at most DOCS_INDEX_MAX_WORD_CHARS characters are searched. Pages
holding every word come first; when they are fewer than `limit`, pages holding any word follow, ranked
below them. Within each, see engines.base for the order (title, then section titles, then the exact
phrase, then the engine's relevance). One result per page: the index has one row per URL. Relevance
is computed for at most DOCS_INDEX_RANK_CANDIDATES pages of each kind, those with the best signals (then
the shortest titles, then the newest): past that many matches, the others are not ranked.

`guides` filters by guide: each term matches the guides whose URL path holds its words run together,
ignoring case and punctuation, with or without a leading "Amazon"/"AWS" ("Amazon RDS" and "RDS" match
/AmazonRDS/latest/UserGuide/, "User Guide" matches .../UserGuide/, "Developer Guide" matches .../dg/,
"API Reference" matches .../API/). A product term the service-name matcher (docs_proxy.regions) knows also
matches by the service's short names: "Amazon Simple Storage Service" matches /AmazonS3/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

from docs_proxy import regions
from docs_proxy.models import IndexedPage
from docs_proxy.search_index.engines import engine
from docs_proxy.search_index.engines.base import Engine, EngineUnavailable, Match, Terms
from docs_proxy.search_index.excerpts import excerpt, stem
from docs_proxy.search_index.records import CJK_RUN, bigrams, shown

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
GUIDE_ALIASES = {"dg": "developerguide", "ug": "userguide", "api": "apireference", "gsg": "gettingstarted"}
RECOMMENDED_SECTIONS = 5  # section titles recommended per hit
SCAN_FACTOR = 4  # the phrase is cut before tokenising: enough characters for the words that are searched


@dataclass(slots=True, frozen=True)
class Hit:
    url: str
    title: str
    context: str
    score: float  # falls down the list: 1 and above when the page holds every word (see _scores)
    headings: tuple[str, ...] = ()
    every_word: bool = True  # False: a page holding only some of the words (ranked below the others)
    recommended: tuple[str, ...] = ()  # section titles holding a searched word, in page order


@dataclass(slots=True)
class LocalResults:
    hits: list[Hit] = field(default_factory=list)
    indexed: int = 0  # pages indexed in the partition
    words: tuple[str, ...] = ()  # the words searched, for the answer's note
    no_guide: bool = False  # the filters matched none of the partition's indexed guides


def terms_of(phrase: str) -> Terms:
    """The words of a phrase (bounded in number and length), lowercased: `words` are those searched for,
    empty when it has none or only stop words (PostgreSQL's engine drops them: neither engine searches them,
    so both answer alike); `sequence` keeps every word, for the exact phrase."""
    limit, longest = settings.DOCS_INDEX_MAX_WORDS, settings.DOCS_INDEX_MAX_WORD_CHARS
    scanned = phrase[: limit * (longest + 1) * SCAN_FACTOR]
    sequence = [p for w in _WORD.findall(scanned) if len(w) <= longest for p in _cjk_split(w.lower())][:limit]
    required = [w for w in dict.fromkeys(sequence) if w not in STOPWORDS]
    return Terms(tuple(required), tuple(sequence))


def _cjk_split(word: str) -> list[str]:
    """A word's CJK runs as the bigrams the index holds ("存储桶" -> 存储 储桶); a lone CJK character stays
    as it is (it finds text where it stands alone)."""
    if not CJK_RUN.search(word):
        return [word]
    parts: list[str] = []
    for piece in re.split(f"({CJK_RUN.pattern})", word):
        parts.extend(bigrams(piece) if CJK_RUN.fullmatch(piece) else [piece] if piece else [])
    return parts


def _compact(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def _term_forms(term: str, product: bool = False) -> set[str]:
    compact = _compact(term)
    forms = {compact, GUIDE_ALIASES.get(compact, compact)}
    for prefix in ("amazon", "aws"):
        if compact.startswith(prefix) and len(compact) > len(prefix):
            forms.add(compact[len(prefix) :])
    if product:
        forms |= _service_spellings(term)
    forms.discard("")
    return forms


def _service_spellings(term: str) -> set[str]:
    """The short names a guide's path spells a product with, through the service-name matcher ("Amazon Simple
    Storage Service" -> s3, as in /AmazonS3/; "Amazon Relational Database Service" -> rds)."""
    try:
        service = regions.match_service(regions.load(), term)
    except Exception:  # no botocore data: the words alone
        return set()
    if service is None:
        return set()
    return {_compact(service.service_id), _compact(service.endpoint_prefix), _compact(service.name)}


def guide_matches(guide_url: str, product_types: list[str] | None, guide_types: list[str] | None) -> bool:
    """Whether a guide passes the filters: any product term and any guide term (an absent filter passes)."""
    path = guide_url.split("://", 1)[-1].partition("/")[2]
    folders = [_compact(part) for part in path.split("/") if part]
    expanded = {GUIDE_ALIASES.get(f, f) for f in folders}
    joined = "".join(folders)
    products = set().union(*(_term_forms(t, product=True) for t in product_types or ()))
    guides = set().union(*(_term_forms(t) for t in guide_types or ()))
    return (not product_types or any(form in joined for form in products)) and (
        not guide_types or bool(guides & expanded)
    )


def _guides(partition: str, product_types: list[str] | None, guide_types: list[str] | None) -> list[str] | None:
    if not product_types and not guide_types:
        return None
    known = IndexedPage.objects.filter(partition=partition).values_list("guide", flat=True).distinct()
    return [g for g in known if guide_matches(g, product_types, guide_types)]


def _ranked(index: Engine, terms: Terms, found: list[Match], every: bool) -> list[tuple[Match, float]]:
    """The matches in rank order (signals, then the engine's relevance), each with its relevance."""
    relevance = index.relevance(terms, [m.id for m in found if m.relevance is None], every)
    ranked = [(m, m.relevance if m.relevance is not None else relevance.get(m.id, 0.0)) for m in found]
    ranked.sort(key=lambda pair: (-pair[0].signals, -pair[1], pair[0].id))
    return ranked


def _scores(ranked: list[tuple[Match, float]], every: bool, words: int) -> list[float]:
    """Scores that fall down the list: 1 and above for pages holding every word (1 + signals + relevance as
    a share of the best), below 1 for the others ((words held - 1 + that share) / words)."""
    best = max((r for _, r in ranked), default=0.0)
    shares = [max(0.0, r) / best if best > 0 else 0.0 for _, r in ranked]
    if every:
        return [round(1 + m.signals + share, 4) for (m, _), share in zip(ranked, shares, strict=True)]
    return [round((m.signals - 1 + share) / max(1, words), 4) for (m, _), share in zip(ranked, shares, strict=True)]


def recommended_sections(headings: tuple[str, ...], words: tuple[str, ...]) -> tuple[str, ...]:
    """The first RECOMMENDED_SECTIONS section titles holding a searched word, word endings ignored as the
    search ignores them ("deploy" recommends "Deploying functions")."""
    stems, chosen = {stem(w) for w in words}, []
    for heading in headings:
        if any(stem(p) in stems for w in _WORD.findall(heading) for p in _cjk_split(w.lower())):
            chosen.append(heading)
            if len(chosen) == RECOMMENDED_SECTIONS:
                break
    return tuple(chosen)


def _hits(terms: Terms, groups: list[tuple[list[tuple[Match, float]], bool]]) -> list[Hit]:
    """The hits of each group in order, with their pages' titles, section titles and an excerpt."""
    ids = [m.id for ranked, _ in groups for m, _ in ranked]
    rows = {r.id: r for r in IndexedPage.objects.filter(id__in=ids).only("id", "url", "title", "headings", "body")}
    chars = settings.DOCS_INDEX_CONTEXT_CHARS
    hits = []
    for ranked, every in groups:
        for (match, _), score in zip(ranked, _scores(ranked, every, len(terms.words)), strict=True):
            row = rows.get(match.id)
            if row is None:  # removed since it matched
                continue
            headings = tuple(h for h in row.headings.split("\n") if h)
            context = excerpt(shown(row.body), terms.words, terms.sequence, chars)
            recommended = recommended_sections(headings, terms.words)
            hits.append(Hit(row.url, row.title, context, score, headings, every, recommended))
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
        return LocalResults([], indexed, terms.words, no_guide=True)
    index, cap = engine(), max(limit, settings.DOCS_INDEX_RANK_CANDIDATES)
    every = _ranked(index, terms, index.matches(terms, partition, chosen, True, cap, []), True)[:limit]
    some: list[tuple[Match, float]] = []
    if len(every) < limit:
        found = index.matches(terms, partition, chosen, False, cap, [m.id for m, _ in every])
        some = _ranked(index, terms, found, False)[: limit - len(every)]
    return LocalResults(_hits(terms, [(every, True), (some, False)]), indexed, terms.words)
