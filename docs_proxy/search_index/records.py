"""What the search index keeps of a page: its title, section titles and plain text, from the converted Markdown."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from docs_proxy.page import Page

# [text](url) and images: the text stays. Neither part may hold a bracket or a parenthesis, so a run of
# "[" or "[](" fails at once at each position instead of scanning ahead up to the bounds.
_LINK = re.compile(r"!?\[([^\[\]\n]{0,500})\]\([^()\[\]\s]{0,4096}\)")
# Line-start markup. Only spaces and tabs before and inside it: "\s" would cross newlines, and on a run of
# blank lines every position would rescan the run (quadratic).
_MARKUP = re.compile(
    r"(?m)^[ \t]{0,3}(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,9}\.[ \t]|>[ \t]?|\|?[ \t]*:?-{3,}[^\n]*$)|[`*_|<>]+"
)
_SPACE = re.compile(r"\s+")
# Han, Hiragana, Katakana and Hangul: written without spaces, so a run of them is one token to both engines.
CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]{2,}")
# Separates the stored text from the CJK bigrams indexed after it (not shown: see `shown`).
BIGRAMS_MARK = "\x1f"


@dataclass(slots=True, frozen=True)
class IndexRecord:
    url: str
    partition: str
    guide: str
    title: str
    headings: list[str]
    body: str
    # The origin's validators, kept with the row so that a refresh after the cache let the page go is conditional
    etag: str | None = None
    last_modified: str | None = None


def guide_of(url: str) -> str:
    """The guide a page belongs to: its URL up to the last "/" (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/)."""
    return url[: url.rfind("/") + 1]


def plain_text(markdown: str, limit: int) -> str:
    """The words of the Markdown without its markup, at most `limit` characters (linear regexes)."""
    text = _LINK.sub(r"\1", markdown[: limit * 2])
    text = _MARKUP.sub(" ", text)
    return _SPACE.sub(" ", text).strip()[:limit]


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a CJK run: "存储桶" -> 存储 储桶, so a word inside a run is found."""
    return [run[i : i + 2] for i in range(len(run) - 1)]


def cjk_bigrams(*texts: str) -> str:
    """The bigrams of every CJK run of the texts, each run's in order (a phrase of them stays a phrase)."""
    return " ".join(" ".join(bigrams(run)) for text in texts for run in CJK_RUN.findall(text))


def shown(body: str) -> str:
    """The stored text without the bigrams indexed after it."""
    return body.partition(BIGRAMS_MARK)[0]


def record_for(page: Page) -> IndexRecord:
    """The page as the index keeps it: its title and section titles at most DOCS_MAX_TITLE_CHARS each."""
    document, served = page.document, page.served
    longest = settings.DOCS_MAX_TITLE_CHARS
    headings = [" ".join(s.title.split())[:longest] for s in document.sections if s.level >= 2][
        : settings.DOCS_INDEX_MAX_HEADINGS
    ]
    title = " ".join(document.title.split())[:longest]
    return IndexRecord(
        url=served.url,
        partition=served.partition,
        guide=guide_of(served.url),
        title=title,
        headings=headings,
        body=_with_bigrams(plain_text(document.markdown, settings.DOCS_INDEX_MAX_CHARS), title, headings),
        etag=page.etag,
        last_modified=page.last_modified,
    )


def _with_bigrams(text: str, title: str, headings: list[str]) -> str:
    """The text, then (after BIGRAMS_MARK) the CJK bigrams of the title, section titles and text, within
    DOCS_INDEX_MAX_CHARS more characters."""
    pairs = cjk_bigrams(title, *headings, text)[: settings.DOCS_INDEX_MAX_CHARS]
    return f"{text}{BIGRAMS_MARK}{pairs}" if pairs else text
