"""Links in answers: written relative to the page they are on, resolved back to absolute where an answer has no base.

An answer states its page's URL once at the top; a link in it is the shortest form that
`urljoin(page_url, link)` turns back into the exact absolute URL: `#anchor` on the same page, a
file name in the same directory, a root-relative path on the same host, or the absolute URL (another
host). Each form is checked by resolving it, so no link is ever written that resolves elsewhere.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

# A Markdown link or image target: `](target)` or `](target "title")`.
_MD_TARGET = re.compile(r"\]\(([^)\s]+)((?:\s+\"[^\"]*\")?)\)")


def relative_href(page_url: str, target: str) -> str:
    """The shortest form of absolute `target` that resolves back to it against `page_url`."""
    page = urlsplit(page_url)
    link = urlsplit(target)
    if link.scheme != page.scheme or link.netloc != page.netloc or not link.path.startswith("/"):
        return target
    suffix = (f"?{link.query}" if link.query else "") + (f"#{link.fragment}" if link.fragment else "")
    directory = page.path[: page.path.rfind("/") + 1]
    if link.path == page.path and link.fragment and not link.query:
        candidates = [f"#{link.fragment}"]
    else:
        candidates = []
    name = link.path[len(directory) :] if link.path.startswith(directory) else ""
    if name and "/" not in name and ":" not in name:
        candidates.append(name + suffix)
    candidates.append(link.path + suffix)
    for candidate in candidates:
        if not candidate.startswith("//") and urljoin(page_url, candidate) == target:
            return candidate
    return target


def absolute_links(markdown: str, base_url: str) -> str:
    """Every Markdown link and image target in `markdown` resolved against `base_url`."""
    if "](" not in markdown:
        return markdown
    return _MD_TARGET.sub(lambda m: f"]({urljoin(base_url, m.group(1))}{m.group(2)})", markdown)
