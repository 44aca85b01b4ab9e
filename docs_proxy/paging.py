"""How a long page is served in pieces: the reference's text shape, its truncation hint, and where reading starts.

Pure functions, kept apart from the tools so the paging rules can be tested (and mutated) on their own.
"""

from __future__ import annotations

from docs_proxy.convert import Document

NO_MORE = "<e>No more content available.</e>"


def format_documentation_result(url: str, content: str, start_index: int, max_length: int) -> str:
    """The reference's text shape: header, a character slice, and how to get the rest."""
    if start_index >= len(content):
        return f"AWS Documentation from {url}:\n\n{NO_MORE}"
    chunk = content[start_index : start_index + max_length]
    result = f"AWS Documentation from {url}:\n\n{chunk}"
    following = start_index + len(chunk)
    if following < len(content):
        result += truncation_hint(following)
    return result


def truncation_hint(following: int) -> str:
    """Tells the model which start_index continues the answer."""
    return (
        f"\n\n<e>Content truncated. Call the read_documentation tool with start_index={following} "
        "to get more content.</e>"
    )


def reading_start(document: Document, fragment: str, start_index: int) -> int:
    """A URL's #anchor chooses where a first read starts; an explicit start_index (a later chunk) wins."""
    if fragment and start_index == 0:
        section = document.section_for_anchor(fragment)
        if section is not None:
            return section.start
    return start_index
