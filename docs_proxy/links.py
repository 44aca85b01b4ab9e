"""Links in answers: written relative to the page they are on, resolved back to absolute where an answer has no base.

An answer states its page's URL once at the top; a link in it is the shortest form that
`urljoin(page_url, link)` turns back into the exact absolute URL: `#anchor` on the same page, a
file name in the same directory, a root-relative path on the same host, or the absolute URL (another
host). Each form is checked by resolving it, so no link is ever written that resolves elsewhere.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

# A Markdown link or image target: `](target)` or `](target "title")`. The target holds no bracket, so a text of
# many `](` without a `)` is scanned in linear time (a possessive match: no backtracking into it).
_MD_TARGET = re.compile(r"\]\(([^)\s\[\]]++)((?:\s+\"[^\"]*\")?)\)")


def relative_href(page_url: str, target: str) -> str:
    """The shortest form of absolute `target` that resolves back to it against `page_url`."""
    page = urlsplit(page_url)
    link = urlsplit(target)
    if link.scheme != page.scheme or link.netloc != page.netloc or not link.path.startswith("/"):
        return target
    for candidate in _candidates(page.path, link.path, link.query, link.fragment):
        if not candidate.startswith("//") and urljoin(page_url, candidate) == target:
            return candidate
    return target


def _candidates(page_path: str, path: str, query: str, fragment: str) -> list[str]:
    """Relative forms of a same-host link, shortest first: `#fragment`, a file name beside the page, a root path."""
    suffix = (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")
    candidates = [f"#{fragment}"] if path == page_path and fragment and not query else []
    directory = page_path[: page_path.rfind("/") + 1]
    name = path[len(directory) :] if path.startswith(directory) else ""
    if name and "/" not in name and ":" not in name:
        candidates.append(name + suffix)
    candidates.append(path + suffix)
    return candidates


def absolute_links(markdown: str, base_url: str) -> str:
    """Every Markdown link and image target in `markdown` resolved against `base_url`."""
    if "](" not in markdown:
        return markdown
    return _MD_TARGET.sub(lambda m: f"]({urljoin(base_url, m.group(1))}{m.group(2)})", markdown)
