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


@dataclass(slots=True, frozen=True)
class IndexRecord:
    url: str
    partition: str
    guide: str
    title: str
    headings: list[str]
    body: str


def guide_of(url: str) -> str:
    """The guide a page belongs to: its URL up to the last "/" (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/)."""
    return url[: url.rfind("/") + 1]


def plain_text(markdown: str, limit: int) -> str:
    """The words of the Markdown without its markup, at most `limit` characters (linear regexes)."""
    text = _LINK.sub(r"\1", markdown[: limit * 2])
    text = _MARKUP.sub(" ", text)
    return _SPACE.sub(" ", text).strip()[:limit]


def record_for(page: Page) -> IndexRecord:
    """The page as the index keeps it: its title and section titles at most DOCS_MAX_TITLE_CHARS each."""
    document, served = page.document, page.served
    longest = settings.DOCS_MAX_TITLE_CHARS
    headings = [" ".join(s.title.split())[:longest] for s in document.sections if s.level >= 2][
        : settings.DOCS_INDEX_MAX_HEADINGS
    ]
    return IndexRecord(
        url=served.url,
        partition=served.partition,
        guide=guide_of(served.url),
        title=" ".join(document.title.split())[:longest],
        headings=headings,
        body=plain_text(document.markdown, settings.DOCS_INDEX_MAX_CHARS),
    )
