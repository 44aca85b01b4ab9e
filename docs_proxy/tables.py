"""search_table: find rows of a page's tables by words, the way the reference server matches them.

Every query word must match a whole token of the row, or be a prefix of one when it has four or
more characters; hyphenated and dotted terms also match by their parts ("east" finds
"us-east-1"); "6,000" and "6000" are the same. Rows with more query words in the first column
come first. The tables are the converter's: rowspan and colspan are already spread over the grid.

The work is linear in the table's size: query words are deduplicated, and a prefix is looked up by
bisection in the row's sorted tokens instead of being compared with every token. Tools run it in a
thread of the "cpu" pool, off the event loop.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from typing import Any

from docs_proxy.convert import Document, Table, plain_title
from docs_proxy.links import absolute_links

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d)")
# A Markdown link in a cell, for its text. Neither part may hold a bracket or parenthesis, so a hostile cell of
# many `[` or `[a](` is scanned in linear time.
_MD_LINK = re.compile(r"\[([^\[\]]*+)\]\([^()\[\]]*+\)")
NO_MATCH_HINT = (
    "No rows matched all query words. Try fewer or broader terms, or check spelling. "
    "Each word must appear somewhere in the row."
)
SECTIONS_LISTED = 100  # section names a hint lists at most


def tokenize(text: str) -> list[str]:
    text = _THOUSANDS.sub("", text.lower())
    tokens = _TOKEN.findall(text)
    for token in list(tokens):
        if "-" in token or "." in token or "_" in token:
            tokens.extend(re.split(r"[-_.]", token))
    return tokens


class RowTokens:
    """A row's tokens: a query word matches a whole token, or (four characters or more) begins one.

    Whole tokens are a set; prefixes are found by bisection in the sorted tokens, O(log n) a word.
    """

    __slots__ = ("exact", "ordered")

    def __init__(self, tokens: list[str]) -> None:
        self.exact = set(tokens)
        self.ordered = sorted(self.exact)

    def matches(self, word: str) -> bool:
        if word in self.exact:
            return True
        if len(word) < 4:
            return False
        found = bisect_left(self.ordered, word)
        return found < len(self.ordered) and self.ordered[found].startswith(word)


# Characters a title may be typed with in another form: every Unicode dash (Pd), the minus and the hyphen bullet
# are "-"; single quotes, apostrophes, primes and accents used as quotes are "'"; double ones are '"'; invisible
# breaks (soft hyphen, zero-width spaces and joiners, BOM) are dropped. Applied before NFKC, which would turn
# a double prime into two primes and an acute accent into a space and a combining accent, and again after it, for what NFKC makes of others.
_DASHES = (
    "\u002d\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e17\u2e1a\u2e3a"
    "\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)
_SINGLE_QUOTES = "\u0027\u0060\u00b4\u02bc\u2018\u2019\u201a\u201b\u2032\u2035\u2039\u203a\uff07"
_DOUBLE_QUOTES = "\u0022\u00ab\u00bb\u201c\u201d\u201e\u201f\u2033\u2036\u3003\uff02"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_TITLE_FORMS = str.maketrans(
    {
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_SINGLE_QUOTES, "'"),
        **dict.fromkeys(_DOUBLE_QUOTES, '"'),
        **dict.fromkeys(_INVISIBLE, None),
    }
)


def normalise_title(title: str) -> str:
    """A section title as it is compared: one form for what an agent may type differently (case, spacing,
    dashes, quotes, compatibility characters such as full-width letters, inline Markdown such as `code`,
    **bold** or [links](x.html)), the words kept as they are."""
    folded = (
        unicodedata.normalize("NFKC", plain_title(title).translate(_TITLE_FORMS)).translate(_TITLE_FORMS).casefold()
    )
    return " ".join(folded.split())


def unique_columns(columns: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for index, column in enumerate(columns):
        name = column or f"Column {index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        names.append(name)
    return names


def filter_rows(table: Table, words: list[str]) -> list[dict[str, str]]:
    columns = unique_columns(table.columns)
    words = list(dict.fromkeys(words))  # a repeated word changes neither the match nor the order
    scored = []
    for position, row in enumerate(table.rows):
        plain = [_MD_LINK.sub(r"\1", cell).replace("<br>", " ") for cell in row]
        tokens = RowTokens(tokenize(" ".join(plain)))
        if not all(tokens.matches(word) for word in words):
            continue
        first = RowTokens(tokenize(plain[0]) if plain else [])
        score = sum(1 for word in words if first.matches(word))
        scored.append((-score, position, dict(zip(columns, row, strict=False))))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [row for _score, _pos, row in scored]


def absolute_row(row: dict[str, str], base_url: str) -> dict[str, str]:
    return {column: absolute_links(cell, base_url) for column, cell in row.items()}


def section_names(document: Document) -> list[str]:
    return [section.title for section in document.sections if section.level <= 3]


def quoted_list(names: list[str], limit: int = SECTIONS_LISTED) -> str:
    """Names in quotes, comma-separated; past `limit` the rest is counted, so a page of 40,000 headings
    does not make a hint of megabytes."""
    shown = ", ".join(f'"{name}"' for name in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def tables_in_section(document: Document, section_title: str) -> list[Table]:
    """The tables under a section of that title (matched by normalise_title), at any depth below it."""
    wanted = normalise_title(section_title)
    return [t for t in document.tables if any(normalise_title(h) == wanted for h in t.headings)]


def missing_section_hint(document: Document, section_title: str) -> str:
    """Why no table was searched: no such section, or a section without tables; and which sections there are."""
    wanted = normalise_title(section_title)
    known = any(normalise_title(s.title) == wanted for s in document.sections)
    problem = f'No table found in section "{section_title}"' if known else f'Section "{section_title}" not found'
    return f"{problem}. Available sections: {quoted_list(section_names(document))}"


def search_tables(
    document: Document, query: str, section_title: str | None, max_rows: int, base_url: str | None = None
) -> dict[str, Any]:
    """The search_table answer for one converted page (url, hint and section filled in by the tool).

    JSON rows have no place to state a base URL, so with `base_url` the links in the rows returned are
    written absolute (only the rows shown are rewritten, not the table)."""
    words = tokenize(query)
    tables = document.tables
    answer: dict[str, Any] = {
        "section_title": section_title or "",
        "query": query,
        "tables_searched": 0,
        "tables_with_matches": 0,
        "results": [],
        "hint": None,
    }
    if not tables:
        answer["hint"] = "No tables found on this page."
        return answer
    if section_title:
        tables = tables_in_section(document, section_title)
        if not tables:
            answer["hint"] = missing_section_hint(document, section_title)
            return answer
    else:
        biggest = max(tables, key=lambda t: len(t.rows))
        answer["section_title"] = biggest.section or "(all tables)"
    answer["tables_searched"] = len(tables)
    for table in tables:
        matches = filter_rows(table, words)
        if not matches:
            continue
        answer["results"].append(
            {
                "table_heading": table.section,
                "columns": unique_columns(table.columns),
                "total_rows": len(table.rows),
                "matched_rows": len(matches),
                "showing": min(len(matches), max_rows),
                "rows": [absolute_row(row, base_url) for row in matches[:max_rows]] if base_url else matches[:max_rows],
            }
        )
    answer["tables_with_matches"] = len(answer["results"])
    if not answer["results"]:
        answer["hint"] = NO_MATCH_HINT
    return answer
