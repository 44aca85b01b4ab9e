"""How a long page is served in pieces: the reference's text shape, where each chunk ends, its truncation note
with the sections still to come, and where reading starts (a URL's #anchor).

Pure functions, kept apart from the tools so the paging rules can be tested (and mutated) on their own. A chunk is
always an exact slice of the text and `start_index` a character offset in it, so following the hints reassembles
the text exactly; only where a chunk ends is chosen (at a block boundary near the limit, see `chunk_end`).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from docs_proxy import tokens
from docs_proxy.convert import Document

NO_MORE = "<e>No more content available.</e>"
TOC_LISTED = 25  # sections a truncation note lists at most
# ...on a later chunk of the same read, whose first answer listed them already: the next few are what helps
TOC_LISTED_LATER = 8
ANCHORS_LISTED = 30  # sections a missing-anchor note lists at most
# With max_tokens, a note lists at most one entry per this many tokens of the budget (an entry costs about ten),
# so the notes around a chunk stay near a quarter of the budget.
TOKENS_PER_LISTED = 40
LISTED_AT_LEAST = 3

# A Markdown link or image whose target has no scheme: it is relative to the page (`#x`, `a.html`, `/p/a.html`).
_RELATIVE_TARGET = re.compile(r"\]\((?![A-Za-z][A-Za-z0-9+.-]*:)[^)\s]")
_HEADING_LINE = re.compile(r"#{1,6}[ \t]")
# A line that begins a list item or a table row (a chunk ending before one ends between items).
_ITEM_LINE = re.compile(r"[ \t]*(?:[-*+][ \t]|\d{1,9}[.)][ \t]|\|)")


@dataclass(slots=True, frozen=True)
class Heading:
    """A section as a table of contents lists it: `start` is its offset in the text being paged."""

    level: int
    title: str
    start: int


class Outlined(Protocol):
    """What a table of contents needs of a heading (a `Heading`, or a page's `Section`)."""

    @property
    def level(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def start(self) -> int: ...


H = TypeVar("H", bound=Outlined)


def chunk_end(content: str, start: int, max_length: int) -> int:
    """Where the chunk that starts at `start` ends: at most `max_length` characters, ending at a block boundary.

    Within the last fifth of the chunk: the last paragraph boundary (after a blank line), else the start of the
    last list item or table row, else the last line end (so a code block is split only between its lines); a
    chunk that would then end with a heading ends before it instead. With no line end there, after the last
    space; with none either, at `max_length`, moved back so that a surrogate pair, or a character and its
    combining marks, stay together. Bounded by the window: a 5 MB page costs what a 5,000-character one does.
    """
    limit = start + max_length
    if limit >= len(content):
        return len(content)
    low = limit - max_length // 5  # the last fifth: [low, limit]
    if low < limit:
        paragraph = content.rfind("\n\n", low, limit)
        if paragraph >= 0:
            return _before_headings(content, start, low, paragraph + 2)
        line = content.rfind("\n", low, limit)
        newline = line
        while newline >= 0:
            if _ITEM_LINE.match(content, newline + 1, limit):
                return _before_headings(content, start, low, newline + 1)
            newline = content.rfind("\n", low, newline)
        if line >= 0:
            return _before_headings(content, start, low, line + 1)
        space = content.rfind(" ", low, limit)
        if space >= 0:
            return space + 1
    end = limit
    while end > start + 1 and _joins_previous(content[end]):
        end -= 1
    if end > start + 1 and "\ud800" <= content[end - 1] <= "\udbff":
        end -= 1
    return end


def _before_headings(content: str, start: int, low: int, end: int) -> int:
    """A chunk that would end with a heading (its section in the next chunk) ends before it, while in the window."""
    while True:
        text_end = end
        while text_end > start and content[text_end - 1] == "\n":
            text_end -= 1
        last_line = content.rfind("\n", start, text_end) + 1
        if last_line < low or last_line <= start or not _HEADING_LINE.match(content, last_line, text_end):
            return end
        end = last_line


def _joins_previous(char: str) -> bool:
    """A character that belongs with the one before it: a low surrogate, a combining mark, a zero-width joiner
    or a variation selector."""
    return "\udc00" <= char <= "\udfff" or char in "\u200d\ufe0e\ufe0f" or bool(unicodedata.combining(char))


def has_relative_link(chunk: str) -> bool:
    """Whether the chunk holds a link that resolves only against the page's URL (checked cheaply first)."""
    return "](" in chunk and _RELATIVE_TARGET.search(chunk) is not None


def header(url: str, chunk: str) -> str:
    """The answer's first line, and the base its relative links resolve against when the chunk has any."""
    if has_relative_link(chunk):
        return f"AWS Documentation from {url}:\n<e>Relative links resolve against {url}.</e>\n\n"
    return f"AWS Documentation from {url}:\n\n"


def format_documentation_result(
    url: str,
    content: str,
    start_index: int,
    max_length: int,
    headings: Sequence[Outlined] = (),
    tool: str = "read_documentation",
    max_tokens: int | None = None,
    toc_limit: int = TOC_LISTED,
) -> str:
    """The reference's text shape: header, a slice of the text, and how to get the rest with what is left.

    With `max_tokens`, the chunk also holds at most that many tokens of the text (the tighter limit wins).
    The table of contents lists at most `toc_limit` sections (callers pass TOC_LISTED_LATER for a later chunk).
    """
    if start_index >= len(content):
        return f"AWS Documentation from {url}:\n\n{NO_MORE}"
    if max_tokens is None:
        end = chunk_end(content, start_index, max_length)
    else:
        end = token_chunk_end(content, start_index, max_length, max_tokens)
    chunk = content[start_index:end]
    result = header(url, chunk) + chunk
    if end < len(content):
        result += truncation_hint(end, tool, remaining_sections(headings, end, listed_limit(max_tokens, toc_limit)))
    return result


def listed_limit(max_tokens: int | None, limit: int) -> int:
    """How many entries a note lists: `limit`, or fewer under a token budget, which counts the page text only,
    so that an agent using max_tokens as its context budget does not get many times that in notes."""
    if max_tokens is None:
        return limit
    return min(limit, max(LISTED_AT_LEAST, max_tokens // TOKENS_PER_LISTED))


def token_chunk_end(content: str, start: int, max_length: int, max_tokens: int) -> int:
    """`chunk_end` within a token budget too: the characters that fit it (counted on a window about the size
    of the budget, not the page), then the block boundary; if moving to that boundary changed how the text
    splits into tokens so that it no longer fits, a little less is tried."""
    budget = max(1, tokens.chars_within(content, start, max_length, max_tokens))
    while True:
        end = chunk_end(content, start, budget)
        over = tokens.count(content[start:end]) - max_tokens
        if over <= 0 or end - start <= 1:
            return end
        budget = max(1, end - start - over)


def truncation_hint(following: int, tool: str = "read_documentation", contents: str = "") -> str:
    """Tells the model which start_index continues the answer (the sentence clients parse), then what is left."""
    if tool == "read_sections":
        call = f"Call the read_sections tool with the same section_titles and start_index={following}"
    else:
        call = f"Call the {tool} tool with start_index={following}"
    return f"\n\n<e>Content truncated. {call} to get more content.{contents}</e>"


def upper_levels(headings: Sequence[H], limit: int) -> list[H]:
    """At most `limit` headings in page order; over it, h4 and deeper are left out first, then h3, so a long
    list keeps the page's outline rather than its first few subsections."""
    shown = list(headings)
    for deepest in (3, 2):
        if len(shown) <= limit:
            break
        shallower = [h for h in shown if h.level <= deepest]
        if shallower:
            shown = shallower
    return shown[:limit]


def remaining_sections(headings: Sequence[Outlined], following: int, limit: int = TOC_LISTED) -> str:
    """The sections from `following` on, each with the start_index that reads it: a table of contents to jump
    in instead of paging. Over `limit`, h4 and deeper are left out, then h3; what is still over is counted."""
    first = bisect_left([h.start for h in headings], following) if headings else 0
    rest = headings[first:]
    if not rest:
        return ""
    listed = upper_levels(rest, limit)
    depth = {level: rank for rank, level in enumerate(sorted({h.level for h in listed}))}  # h2, h3, h6: 0, 1, 2
    lines = [f"{'  ' * depth[h.level]}- {h.title} ({h.start})" for h in listed]
    if len(rest) > len(listed):
        lines.append(f"- and {len(rest) - len(listed)} more")
    return " Sections from there on, with the start_index of each:\n" + "\n".join(lines)


# --- where reading starts ----------------------------------------------------------------------------------
def find_anchor(document: Document, fragment: str) -> tuple[int | None, int]:
    """Where a URL's #fragment starts reading, and, when nowhere, how many anchors differ from it only in case.

    As a browser does, an exact id wins: a section's, then an element's (a property's <dt>, a table row). Then,
    for a fragment whose case was changed on the way, the one section anchor equal to it but for case, else the
    one element anchor so.
    """
    section = document.section_for_anchor(fragment)
    if section is not None:
        return section.start, 0
    element = document.anchors.get(fragment)
    if element is not None:
        return element, 0
    folded = fragment.casefold()
    sections = {s.anchor: s.start for s in reversed(document.sections) if s.anchor and s.anchor.casefold() == folded}
    if len(sections) == 1:
        return next(iter(sections.values())), 0
    elements = [
        start for ident, start in document.anchors.items() if ident.casefold() == folded and ident not in sections
    ]
    if len(elements) == 1 and not sections:
        return elements[0], 0
    return None, len(sections) + len(elements)


def reading_start(document: Document, fragment: str, start_index: int) -> int:
    """A URL's #anchor chooses where a first read starts; an explicit start_index (a later chunk) wins."""
    if fragment and start_index == 0:
        start, _alike = find_anchor(document, fragment)
        if start is not None:
            return start
    return start_index


def anchor_note(document: Document, fragment: str, start_index: int, max_tokens: int | None = None) -> str:
    """What the answer says first when a URL's #anchor names no section or element: reading is from the top,
    and which sections there are (so the agent can ask again; fewer under a token budget). Empty when the anchor
    was found or not used."""
    if not fragment or start_index != 0:
        return ""
    start, alike = find_anchor(document, fragment)
    if start is not None:
        return ""
    shown_fragment = " ".join(fragment.split())[:200]  # echoed on one line, bounded
    if alike:
        why = f"#{shown_fragment} matches {alike} anchors that differ only in case"
    else:
        why = f"No section or element #{shown_fragment} on this page"
    anchored = [s for s in document.sections if s.anchor]
    if not anchored:
        return f"<e>{why}; reading from the top. The page has no section anchors.</e>\n\n"
    shown = upper_levels(anchored, listed_limit(max_tokens, ANCHORS_LISTED))
    listed = ", ".join(f"{s.title} (#{s.anchor})" for s in shown)
    more = len(anchored) - len(shown)
    if more:
        listed += f" and {more} more"
    return f"<e>{why}; reading from the top. Sections: {listed}</e>\n\n"


def hidden_row_note(document: Document, fragment: str, start_index: int, url: str) -> str:
    """When a URL's #anchor names a table row that the table's preview leaves out, reading starts at the table;
    this says so first, with the search_table call that returns the row. Empty otherwise."""
    if not fragment or start_index != 0 or not document.hidden_rows or document.section_for_anchor(fragment):
        return ""
    row = document.hidden_rows.get(fragment)
    if row is None and fragment not in document.anchors:
        folded = fragment.casefold()
        alike = [found for ident, found in document.hidden_rows.items() if ident.casefold() == folded]
        row = alike[0] if len(alike) == 1 else None
    if row is None:
        return ""
    section, first = row
    shown_fragment = " ".join(fragment.split())[:200]
    return (
        f"<e>#{shown_fragment} is a row that the preview of the table below leaves out; "
        f'search_table(url="{url}", section_title="{section}", query="{first}") returns it.</e>\n\n'
    )
