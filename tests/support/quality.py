"""Measures of a page's conversion, shared by the quality tests and bench/convert.

Each is computed from the HTML article itself, so any converter's Markdown can be scored.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

LEAKS = (
    "Did this page help you",
    "Thanks for letting us know",
    "If you've got a moment",
    "Javascript is disabled",
    "Javascript must be enabled",
    "Document Conventions",
    "View a markdown version of this page",
    "Open PDF",
    "BreadcrumbList",
    "DEBUG: cli",
    "On this page:",
    "« Previous",
    "Next »",
    "All rights reserved",
    "Permalink to this headline",
    "¶",
    "](/index.html)",
)
CALLOUT_TITLE = {"awsdocs-note-title"}


def article_of(html: str) -> Tag:
    soup = BeautifulSoup(html, "lxml")
    article = soup.select_one("#main-col-body") or soup.select_one("div.body")
    assert article is not None
    return article


def clean(text: str) -> str:
    return " ".join(text.replace("¶", "").split())


def in_chrome(tag: Tag) -> bool:
    for parent in (tag, *tag.parents):
        if isinstance(parent, Tag):
            classes = set(parent.get("class") or [])
            if classes & CALLOUT_TITLE or parent.get("summary") == "Breadcrumbs":
                return True
    return False


def expected_headings(article: Tag) -> list[str]:
    return [
        clean(h.get_text(" "))
        for h in article.find_all(re.compile(r"^h[1-6]$"))
        if clean(h.get_text(" ")) and not in_chrome(h) and h.find_parent("table") is None
    ]


def headings_in_order(markdown: str, headings: list[str]) -> int:
    """How many of the headings appear in the Markdown, in order."""
    position, kept = 0, 0
    for heading in headings:
        found = markdown.find(heading, position)
        if found >= 0:
            kept += 1
            position = found + len(heading)
    return kept


def expected_code_blocks(article: Tag) -> list[str]:
    blocks = []
    for pre in article.find_all("pre"):
        code = pre.get_text().strip("\n")
        if code.strip() and pre.find_parent("table") is None:
            blocks.append(code)
    return blocks


def code_block_fenced(markdown: str, code: str) -> bool:
    fenced = re.compile(r"(`{3,})[\w#+.-]*\n[ >]*" + re.escape(code.split("\n")[0]))
    return bool(fenced.search(markdown)) and all(line in markdown for line in code.split("\n"))


def expected_table_rows(article: Tag) -> list[int]:
    counts = []
    for table in article.find_all("table"):
        if in_chrome(table) or table.find_parent("table") is not None:
            continue
        counts.append(
            len([tr for tr in table.find_all("tr") if tr.find_parent("table") is table and tr.get_text(strip=True)])
        )
    return counts


def markdown_table_rows(markdown: str) -> int:
    """Rows of GFM tables in the Markdown (header rows included, separator lines not)."""
    rows = 0
    for line in markdown.split("\n"):
        stripped = line.strip()
        if stripped.startswith("|") and not re.fullmatch(r"\|?[\s|:-]+\|?", stripped):
            rows += 1
    return rows


def leaks(markdown: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [leak for leak in (*LEAKS, *extra) if leak in markdown]


def relative_links(markdown: str) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)\s]+)", markdown) if not re.match(r"^(https?://|mailto:)", t)]


def _same_page(url: str) -> str:
    """A docs URL as the site serves it: https (the host redirects http to it)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.netloc in ("docs.aws.amazon.com", "docs.amazonaws.cn"):
        return "https" + url[4:]
    return url


def wrong_links(markdown: str, article: Tag, page_url: str) -> list[str]:
    """Link targets in the Markdown that, resolved against the page's URL (the base an answer states), are not
    a link or image of the article: a link an agent would follow to the wrong place."""
    targets = {_same_page(urljoin(page_url, str(a["href"]).strip())) for a in article.find_all("a", href=True)}
    targets |= {_same_page(urljoin(page_url, str(i["src"]).strip())) for i in article.find_all("img", src=True)}
    found = re.findall(r"\]\(<?([^)\s>]+)>?", markdown)
    return [t for t in found if _same_page(urljoin(page_url, t)) not in targets]
