"""AWS documentation HTML to clean Markdown, plus the sections and tables the tools need.

The article is isolated first (`#main-col-body`, `#main-content`, Sphinx `div.body`, then
fallbacks), page chrome is removed (not unwrapped), AWS widgets (notes, tabs, expandable
sections) are rewritten into plain HTML, and markdownify does the rest with two overrides: code
blocks keep their exact text and language, and tables are laid out by our own GFM renderer, which
understands rowspan, colspan and multi-line cells. One pass yields the Markdown, the section
offsets (for `#anchor` reads and read_sections) and the table rows (for search_table).
"""

from __future__ import annotations

import codecs
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import markdownify
from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, Tag
from lxml import etree
from markdownify import ATX, MarkdownConverter

from docs_proxy.code_language import guess_language
from docs_proxy.links import relative_href

# markdownify 1.2.3 internals that the copied process_tag needs and its type stub leaves out (pinned in
# awsmcp.compat): read through Any here, so no other line reaches past the stub.
_markdownify: Any = markdownify
_MarkdownConverter: Any = MarkdownConverter
re_extract_newlines: re.Pattern[str] = _markdownify.re_extract_newlines
re_html_heading: re.Pattern[str] = _markdownify.re_html_heading
should_remove_whitespace_inside: Callable[[Any], bool] = _markdownify.should_remove_whitespace_inside
should_remove_whitespace_outside: Callable[[Any], bool] = _markdownify.should_remove_whitespace_outside

# Bump on any change of output: cache keys carry it, so old conversions are never served.
CONVERTER_VERSION = 4

ARTICLE_SELECTORS = (
    "#main-col-body",
    "#main-content",
    "div.body",
    "div[role=main]",
    "main",
    "article",
    "#main",
    "div.document",
)
# Chrome: removed with everything inside it. Matched by name, id, class and attributes in one walk
# (a CSS selector list costs ten times more on large pages).
CHROME_TAGS = frozenset(
    "script style noscript template link meta iframe form button input select textarea svg nav header footer".split()
)
CHROME_IDS = frozenset(
    (
        "breadcrumbs page-toc-src js_error_message main-col-footer feedback doc-conventions awsdocs-page-utilities "
        "divRegionDisclaimer"  # the "may vary by Region" notice of older and China layouts, on whatever element
    ).split()
)
CHROME_CLASSES = frozenset(
    (
        "breadcrumb breadcrumbs awsdocs-page-header-container awsdocs-copyright prev-next feedback "
        "doc-conventions page-utilities headerlink copy-button btn-copy-code code-btn-container"
    ).split()
)
# Site notices named by id or class: one whole class token (or the id) that names a notice, such as
# `divRegionDisclaimer`, `legal-disclaimer`, `doc-site-banner`, `cookie-consent`, `survey-prompt`. A word alone
# is article ("note disclaimer", `banner-options`, `in-app-banner`, `survey-setup`, `renew-lookup-table`).
# Only on boxes (div, section, aside) without a heading, table or code: a heading's own id, an anchor's id or a
# Sphinx section named after its topic ("cookie-banner") is article.
_NOTICE_NAME = re.compile(
    r"(?:div)?RegionDisclaimer"
    r"|(?:[a-z0-9]+[-_])*(?:region|legal|site|doc|docs|page|cookie|consent|survey|feedback|new-?look)"
    r"[-_]?(?:disclaimer|banner|notice|consent|prompt|bar|popup|modal)",
    re.I,
)
_NOTICE_NAME_MAX = 80  # longer class tokens are no notice's name; the pattern never meets them
_NOTICE_TAGS = frozenset({"div", "section", "aside"})
_NOTICE_CONTENT = re.compile(r"^(?:h[1-6]|table|pre)$")
# Site notices known by the AWS site's own wording: the 2023-2024 "new look" banner and its way back. Other
# products' "new look" (a console, a workspace) is article.
_SITE_NOTICE_TEXT = re.compile(
    r"documentation (?:website|site) (?:is getting|has) a new look"
    r"|return to the original look by selecting English",
    re.I,
)
_SITE_NOTICE_PHRASES = ("a new look", "the original look")
_NOTICE_TEXT_MAX = 400  # a box whose text is longer holds more than a notice's few sentences
_NOTICE_BOXES = frozenset({"p", "div", "section", "aside", "li"})
_LITERAL_BLOCKS = ["pre", "code"]
# AWS web components that carry content; every other awsdocs-*/awsui-* element is chrome.
CONTENT_COMPONENTS = frozenset(
    {"awsdocs-tabs", "awsdocs-expandable-section", "awsui-expandable-section", "awsdocs-tab", "awsui-tabs"}
)
CALLOUT_CLASSES = {
    "awsdocs-note": "Note",
    "awsdocs-important": "Important",
    "awsdocs-warning": "Warning",
    "awsdocs-tip": "Tip",
    "aws-note": "Note",  # the 2018 layout
    "admonition": "Note",  # Sphinx
}
_CALLOUT_SET = frozenset(CALLOUT_CLASSES)
_TAB_WIDGETS = frozenset({"awsdocs-tabs", "awsui-tabs"})
_EXPANDABLES = frozenset({"awsdocs-expandable-section", "awsui-expandable-section"})
LANGUAGE_ALIASES = {
    "sh": "bash",
    "shell": "bash",
    "console": "bash",
    "js": "javascript",
    "ts": "typescript",
    "py": "python",
    "yml": "yaml",
    "cs": "csharp",
    "c#": "csharp",
    "golang": "go",
    "ps": "powershell",
    "ps1": "powershell",
}
KNOWN_LANGUAGES = frozenset(
    {
        "bash", "c", "cpp", "csharp", "css", "go", "groovy", "html", "ini", "java", "javascript", "json",
        "kotlin", "php", "powershell", "python", "ruby", "rust", "scala", "sql", "swift", "toml",
        "typescript", "xml", "yaml", "dockerfile", "hcl", "makefile", "perl", "r", "text",
    }
)  # fmt: skip
# Classes that name no language: Sphinx's default highlighter on every block, and "do not highlight" markers.
_SPHINX_DEFAULTS = frozenset({"highlight-python", "highlight-default", "highlight-none"})
_NO_LANGUAGE = frozenset({"default", "none", "nohighlight", "plaintext", "programlisting"})
_LANGUAGE_CLASS = re.compile(r"^(?:language|lang|highlight|brush|syntax)[-_:](?P<lang>[\w#+.-]+)$", re.I)
_HEADING = re.compile(r"^h([1-6])$")
# Elements whose text is literal: no Markdown escaping inside, and code spans around the inline ones.
_PUNCTUATION = frozenset(",.;:!?")
_LITERAL_TAGS = frozenset({"pre", "code", "kbd", "samp", "tt"})
# A closing run of `#` needs a space before it, so "C#" and "F#" keep theirs.
_MD_HEADING = re.compile(r"^(#{1,6}) (.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_TIDY_FENCE = re.compile("^(?:\ufdd0\\d{1,9}\ufdd1)*(`{3,}|~{3,})")  # tidy sees the Markdown with its marks
TABLE_MAX_ROWS = 20
TABLE_PREVIEW_ROWS = 5
# Elements inside elements. Real pages stay under 30; the converter recurses about three frames per
# level, so far deeper pages would end in a RecursionError after seconds of parsing.
MAX_NESTING = 100
# Element anchors: ids on elements other than headings (a property's <dt>, an <a id> before a paragraph, a table
# row), so that `url#id` reads from that element's line. While converting, each id is marked in the Markdown
# before its element's first visible character, with Unicode noncharacters (kept for a program's internal use);
# one pass at the end takes the marks out and records each id's offset. Real pages carry a few hundred ids; more
# than this are not recorded.
MAX_ANCHORS = 5000
MAX_ANCHOR_CHARS = 256  # a longer id is no link target a page uses, and would only fill the cache entry
_MARK_OPEN = "\ufdd0"
_MARK_CLOSE = "\ufdd1"
_MARK = re.compile("\ufdd0(\\d{1,9})\ufdd1")
_MARKS_RUN = re.compile("(?:\ufdd0\\d{1,9}\ufdd1)+")
# The mark characters as a page may spell them (literally they are replaced before parsing): a page cannot forge
# or break a mark.
_MARK_ENTITY = re.compile(r"&#(?:[xX]0*[fF][dD][dD][01](?![0-9a-fA-F])|0*6497[67](?!\d));?")
# The charsets a documentation page can be written in (codecs' canonical names). Any other declared
# codec (punycode and idna decode in quadratic time, utf-7, rot13, the bytes-to-bytes codecs) is not
# used: the body is read as UTF-8 instead.
PAGE_CHARSETS = frozenset(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "ascii",
     "iso8859-1", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8",
     "iso8859-9", "iso8859-10", "iso8859-11", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16",
     "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
     "tis-620", "koi8-r", "koi8-u", "mac-roman", "shift_jis", "cp932", "euc_jp", "iso2022_jp", "gb2312",
     "gbk", "gb18030", "big5", "big5hkscs", "cp950", "euc_kr", "cp949", "iso2022_kr"]
)  # fmt: skip


class UnreadablePage(Exception):
    """The page has no readable article (empty, not HTML, or only chrome)."""


class PageTooComplex(UnreadablePage):
    """The page is built so that converting it would cost far more than any documentation page."""


@dataclass(slots=True)
class Section:
    level: int
    title: str
    anchor: str | None
    start: int  # character offset of the heading line in the Markdown
    end: int = 0  # offset where the next heading of the same or a higher level starts


@dataclass(slots=True)
class Table:
    headings: list[str]  # the headings the table sits under, outermost first
    columns: list[str]
    rows: list[list[str]]

    @property
    def section(self) -> str | None:
        """The nearest heading above the table."""
        return self.headings[-1] if self.headings else None


@dataclass(slots=True)
class Document:
    title: str
    markdown: str
    sections: list[Section] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)  # element id -> offset of the line holding its text
    # the id of a table row that the table's preview leaves out -> (the table's section, the row's first cell)
    hidden_rows: dict[str, tuple[str, str]] = field(default_factory=dict)

    def section_for_anchor(self, anchor: str) -> Section | None:
        for section in self.sections:
            if section.anchor == anchor:
                return section
        return None


def _classes(tag: Tag) -> list[str]:
    value = tag.get("class")
    return value if isinstance(value, list) else []


def has_text(tag: Tag) -> bool:
    """Whether `tag` holds any visible text; stops at the first, where get_text builds the whole article."""
    return next(iter(tag.stripped_strings), None) is not None


def find_article(soup: BeautifulSoup) -> Tag:
    for selector in ARTICLE_SELECTORS:
        found = soup.select_one(selector)
        if found is not None and has_text(found):
            return found
    body = soup.body or soup
    if not has_text(body):
        raise UnreadablePage("The page has no readable content.")
    return body


def page_title(soup: BeautifulSoup, article: Tag) -> str:
    heading = article.find("h1")
    if isinstance(heading, Tag) and heading.get_text(strip=True):
        return _clean_heading(heading.get_text(" ", strip=True))
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    return " ".join(title.split(" - ")[0].split()) if title else ""


def _clean_heading(text: str) -> str:
    return " ".join(text.replace("¶", "").split())


# Inline Markdown a heading may carry: a link or image (its text kept), backslash escapes, code and emphasis
# markers (`_` only at a word's edge, so `API_Invoke` keeps its own).
_MD_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()\s]*(?:\([^()\s]*\)[^()\s]*)*(?:\s+\"[^\"]*\")?\)")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
# A run of `_` is tried once from its first character (not again from each one inside it): linear on long runs.
_MD_MARKERS = re.compile(r"`+|\*+|(?<!\w)_+|(?<!_)_+(?!\w)|~~")


def plain_title(title: str) -> str:
    """A heading title without its inline Markdown, so `Using `aws s3` commands`, the HTML heading's text and
    the title an agent copies from search results ("Using aws s3 commands") are one key."""
    if not any(mark in title for mark in "`*_[\\~"):
        return title
    text = _MD_LINK.sub(r"\1", title)
    # an escaped marker goes like a bare one: the HTML heading's text has the bare one, and it is stripped too
    text = _MD_ESCAPE.sub(lambda match: "" if match.group(1) in "`*_~" else match.group(1), text)
    text = _MD_MARKERS.sub("", text)
    return " ".join(text.split())


def is_chrome(tag: Tag) -> bool:
    name = tag.name
    if name in CHROME_TAGS:
        return True
    if name.startswith(("awsdocs-", "awsui-")) and name not in CONTENT_COMPONENTS:
        return True
    attrs = tag.attrs
    return bool(attrs) and _chrome_by_attributes(tag, name, attrs)


def _chrome_by_attributes(tag: Tag, name: str, attrs: dict[str, Any]) -> bool:
    """Chrome told by id, class, `hidden`, an inline `display:none` or a breadcrumb table (the tag has attributes)."""
    if attrs.get("id") in CHROME_IDS or "hidden" in attrs:
        return True
    classes = attrs.get("class")
    if classes and not CHROME_CLASSES.isdisjoint(classes):
        return True
    if name in _NOTICE_TAGS and _named_notice(attrs.get("id"), classes) and tag.find(_NOTICE_CONTENT) is None:
        return True
    return _hidden_by_style(attrs.get("style")) or (name == "table" and attrs.get("summary") == "Breadcrumbs")


def _named_notice(ident: Any, classes: Any) -> bool:
    """Whether the id or one class token is a notice's name (whole token, never a part of one)."""
    tokens = [ident] if isinstance(ident, str) else []
    if classes:
        tokens.extend(classes)
    return any(len(token) <= _NOTICE_NAME_MAX and _NOTICE_NAME.fullmatch(token) for token in tokens)


def _hidden_by_style(style: Any) -> bool:
    return isinstance(style, str) and "none" in style and "display:none" in style.replace(" ", "").lower()


def remove_site_notices(html: str, lowered: str, article: Tag) -> None:
    """Site banners known only by their wording ("the website is getting a new look") go with their box.

    The raw page is searched first, so a page without one costs a few substring scans and no walk.
    """
    # plain substring scans of the lowercased page first: the regex over a large page costs ten times more
    if not any(phrase in lowered for phrase in _SITE_NOTICE_PHRASES) or not _SITE_NOTICE_TEXT.search(html):
        return
    for text in article.find_all(string=_SITE_NOTICE_TEXT):
        box = getattr(text, "parent", None)  # None once an earlier notice took this text with it
        if box is None or box.decomposed or text.find_parent(_LITERAL_BLOCKS) is not None:
            continue  # a code sample that shows such a banner is article
        while box.name not in _NOTICE_BOXES and box.parent is not None and box.parent is not article:
            box = box.parent
        # climb while the enclosing box holds no more than a notice's few sentences
        while box.parent is not None and box.parent is not article and not _longer_than(box.parent, _NOTICE_TEXT_MAX):
            box = box.parent
        if box is not article:
            box.decompose()


def _longer_than(tag: Tag, limit: int) -> bool:
    """Whether `tag` holds more than `limit` characters of text, read only until that is known: a notice
    repeated in many small boxes under one large parent costs each climb `limit` characters, not the parent's text.
    A parent of more than `limit` elements counts as long too, so empty elements cannot make the walk long."""
    seen = 0
    for count, node in enumerate(tag.descendants):
        if count > limit:
            return True
        if isinstance(node, NavigableString) and not isinstance(node, Comment):
            seen += len(node)
            if seen > limit:
                return True
    return False


@dataclass(slots=True)
class _Kept:
    """What the chrome walk met of the article, in page order, so no later step walks the tree again."""

    links: list[Tag] = field(default_factory=list)
    images: list[Tag] = field(default_factory=list)
    callouts: list[Tag] = field(default_factory=list)
    headings: list[Tag] = field(default_factory=list)


def remove_chrome(article: Tag) -> _Kept:
    """One walk, in page order, that drops chrome subtrees whole and never descends into them; it gathers
    the links, images, callout boxes and headings that are kept."""
    kept = _Kept()
    stack = [article]
    while stack:
        node = stack.pop()
        children: list[Tag] = []
        for child in list(node.children):
            if isinstance(child, Tag):
                if is_chrome(child):
                    child.decompose()
                else:
                    children.append(child)
            elif isinstance(child, Comment):
                child.extract()
        stack.extend(reversed(children))
        for child in children:
            name = child.name
            if name == "a":
                if child.get("href") is not None:
                    kept.links.append(child)
            elif name == "img":
                if child.get("src") is not None:
                    kept.images.append(child)
            elif name == "div":
                classes = child.get("class")
                if classes and not _CALLOUT_SET.isdisjoint(classes):
                    kept.callouts.append(child)
            elif _HEADING.match(name):
                kept.headings.append(child)
    return kept


def rewrite_callouts(soup: BeautifulSoup, boxes: list[Tag]) -> None:
    """AWS notes (`div.awsdocs-note` with a title and a body) become blockquotes headed in bold."""
    for box in boxes:
        if box.decomposed or box.find_parent("table"):
            continue
        classes = _classes(box)
        label = next((CALLOUT_CLASSES[c] for c in classes if c in CALLOUT_CLASSES), "Note")
        title = box.find(class_=re.compile(r"^(awsdocs-note-title|admonition-title|aws-note)$"))
        if isinstance(title, Tag):
            text = title.get_text(" ", strip=True)
            label = text or label
            title.decompose()
        quote = soup.new_tag("blockquote")
        strong = soup.new_tag("strong")
        strong.string = label
        heading = soup.new_tag("p")
        heading.append(strong)
        quote.append(heading)
        body = box.find(class_="awsdocs-note-text") or box
        for child in list(body.children):
            quote.append(child.extract())
        box.replace_with(quote)


def rewrite_tabs(soup: BeautifulSoup, article: Tag) -> None:
    """Tab widgets show every tab in turn, each under its tab's name in bold."""
    found = article.find_all([*_TAB_WIDGETS, *_EXPANDABLES])
    for widget in found:
        if widget.name not in _TAB_WIDGETS:
            continue
        container = soup.new_tag("div")
        for dl in _tab_lists(widget):
            for item in list(dl.children):
                if not isinstance(item, Tag):
                    continue
                if item.name == "dt":
                    label = soup.new_tag("p")
                    strong = soup.new_tag("strong")
                    strong.string = item.get_text(" ", strip=True)
                    label.append(strong)
                    container.append(label)
                elif item.name == "dd":
                    block = soup.new_tag("div")
                    for child in list(item.children):
                        block.append(child.extract())
                    container.append(block)
        if container.contents:
            widget.replace_with(container)
        else:
            widget.unwrap()
    for section in found:
        if section.name not in _EXPANDABLES:
            continue
        header = section.get("header") or section.get("expandable-section-header")
        if header:
            label = soup.new_tag("p")
            strong = soup.new_tag("strong")
            strong.string = str(header)
            label.append(strong)
            section.insert(0, label)
        section.unwrap()


def _tab_lists(widget: Tag) -> list[Tag]:
    """The widget's own tab lists, in page order: `<dl>`s inside it but not inside a nested widget or a tab's
    content (a definition list in a tab is content). Walks around the tabs' content, not through it."""
    lists: list[Tag] = []
    stack = [child for child in reversed(widget.contents) if isinstance(child, Tag)]
    while stack:
        node = stack.pop()
        if node.name == "dl":
            lists.append(node)
        elif node.name not in _TAB_WIDGETS:
            stack.extend(child for child in reversed(node.contents) if isinstance(child, Tag))
    return lists


# Hrefs no real page has: template slots (`${x}`, `{{x}}`, `%s`), characters a URL never carries unescaped,
# path segments of only x's (`xxx.html`, `XXXX/`) and TODO/TBD markers. AWS pages ship such unfinished links
# (`xxx<link>.html`); written as links they look real and lead an agent to a 404, so only their text is kept.
# `{ } |` count in the path only (`?id={id}` is another site's real query), TODO/TBD only as a whole path segment
# or file stem of a docs page (GitHub's `TODO.md` is a real file).
_PLACEHOLDER_CHARS = re.compile(r"[<>\\^`]|%s")
_PLACEHOLDER_PATH = re.compile(r"[{}|]")
_PLACEHOLDER_SEGMENT = re.compile(r"(?:^|/)x{3,}(?:\.\w+)?(?:/|$)", re.I)
_UNFINISHED_SEGMENT = re.compile(r"(?:^|/)(?:TODO|TBD)(?:\.\w+)?(?:/|$)")
_ESCAPED_SLOT = re.compile(r"[<>{}]")
_URL_NOISE = re.compile(r"[\t\n\r]")  # dropped from any URL by browsers: a wrapped href is still a real one
_SPACE = re.compile(r"\s")
_DEAD_SCHEMES = ("javascript:", "data:", "mailto:", "vbscript:")
DOCS_HOST = "docs.aws.amazon.com"


def is_placeholder_href(href: str) -> bool:
    """Whether `href` (stripped, as written in the page, spaces allowed) cannot lead to a real page."""
    if href in ("", "#") or href.lower().startswith(_DEAD_SCHEMES) or _PLACEHOLDER_CHARS.search(href):
        return True
    if _SPACE.search(href) and not any(mark in href for mark in "./#"):
        return True  # words, not an address ("link to come")
    try:
        parts = urlsplit(href)
    except ValueError:  # an unbalanced `[` in the host
        return True
    path = parts.path
    if "%" in path:  # `xxx%3Clink%3E.html`: the same slot, escaped
        path = unquote(path)
        if _ESCAPED_SLOT.search(path):
            return True
    if _PLACEHOLDER_PATH.search(path) or _PLACEHOLDER_SEGMENT.search(path):
        return True
    return parts.netloc in ("", DOCS_HOST) and _UNFINISHED_SEGMENT.search(path) is not None


def _encode_spaces(href: str) -> str:
    """A browser percent-encodes the spaces of an href and the link works; Markdown needs them encoded."""
    return _SPACE.sub(lambda match: quote(match.group()), href) if _SPACE.search(href) else href


def absolutize(links: list[Tag], images: list[Tag], base_url: str) -> None:
    """Every link and image resolved against the page, then written in its shortest form relative to it.

    The answer states the page URL once, so `Foo.html` or `#anchor` costs a fraction of the absolute URL
    and still resolves to exactly that URL (relative_href checks each form by resolving it back).
    """
    page = urlsplit(base_url)
    # The docs host serves only https (http redirects there), so an old http link to it is the same page.
    insecure = f"http://{page.netloc}/" if page.scheme == "https" else None
    for anchor in links:
        if anchor.decomposed:  # went with a site notice
            continue
        href = _URL_NOISE.sub("", str(anchor["href"]).strip())
        if is_placeholder_href(href):
            del anchor["href"]
            continue
        absolute = urljoin(base_url, _encode_spaces(href))
        text = anchor.string
        if text is not None and text.strip() == absolute:  # a link that shows its URL stays an autolink, `<url>`
            anchor["href"] = absolute
            continue
        if insecure and absolute.startswith(insecure):
            absolute = "https" + absolute[4:]
        anchor["href"] = relative_href(base_url, absolute)
    for image in images:
        if not image.decomposed:
            _absolutize_image(image, base_url)


def _absolutize_image(image: Tag, base_url: str) -> None:
    """An image's source written as links are; one that is a placeholder leaves its alt text in its place."""
    src = _URL_NOISE.sub("", str(image["src"]).strip())
    if is_placeholder_href(src):
        alt = " ".join(str(image.get("alt") or "").split())
        image.replace_with(alt)
        return
    image["src"] = relative_href(base_url, urljoin(base_url, _encode_spaces(src)))
    for name in ("alt", "title"):  # indented source wraps them over lines: one line, single spaces
        value = image.get(name)
        if isinstance(value, str) and value != " ".join(value.split()):
            image[name] = " ".join(value.split())


def code_language(pre: Tag, code: str) -> str:
    """The page's own language for the block when it names one; else the language the block shows, if any.

    Sphinx's `highlight-python` (its default, on every block of the CLI reference) and `highlight-default`,
    `nohighlight` and the like name no language.
    """
    candidates: list[str] = []
    for tag in (pre, pre.find("code"), pre.parent, pre.parent.parent if pre.parent else None):
        if not isinstance(tag, Tag):
            continue
        if tag.get("data-language"):
            candidates.append(str(tag["data-language"]))
        for cls in _classes(tag):
            if cls in _SPHINX_DEFAULTS:
                continue
            match = _LANGUAGE_CLASS.match(cls)
            if match:
                candidates.append(match.group("lang"))
            elif cls.lower() in KNOWN_LANGUAGES or cls.lower() in LANGUAGE_ALIASES:
                candidates.append(cls)
    for candidate in candidates:
        lang = LANGUAGE_ALIASES.get(candidate.lower(), candidate.lower())
        if lang not in _NO_LANGUAGE:
            return lang
    return guess_language(code)


def _fence_for(code: str) -> str:
    longest = max((len(m.group(0)) for m in re.finditer(r"`{3,}", code)), default=0)
    return "`" * max(3, longest + 1)


def _escape_cell(text: str) -> str:
    text = text.replace("|", "\\|")
    lines = [" ".join(line.split()) for line in text.strip().split("\n")]
    return "<br>".join(line for line in lines if line)


class _Converter(MarkdownConverter):
    """markdownify with exact code blocks and our own table layout."""

    def __init__(self, document: Document, page_url: str, **options: Any) -> None:
        super().__init__(**options)
        self.document = document
        self.page_url = page_url
        self.headings: list[tuple[int, str]] = []  # the heading path at this point of the page
        self.ids: list[str] = []  # element ids in page order; a mark's number is its index here
        self.known: set[str] = set()
        self.pending: list[int] = []  # ids met whose mark waits for the next visible text
        self.flushed = 0  # marks written so far (a table that got none needs no cleaning)
        self.hidden_rows: dict[int, tuple[str, str]] = {}  # mark number -> (section, first cell) of a hidden row

    def process_tag(self, node: Tag, parent_tags: set[str] | None = None) -> str:
        name = node.name
        if node.attrs and not (parent_tags and "pre" in parent_tags):
            self.note_id(node, parent_tags)
        if name == "pre" and parent_tags is not None and "_inline" not in parent_tags:
            return self.render_pre(node)
        if name == "table":
            return self.render_table(node, parent_tags or set())
        if name is not None and not (parent_tags and "_inline" in parent_tags):
            level = _HEADING.match(name)
            if level:
                self.enter_heading(node, int(level.group(1)))
        return self._process_tag(node, parent_tags or set())

    def enter_heading(self, heading: Tag, depth: int) -> None:
        """The heading path (a table's `headings`, its truncation note's section) now ends at this heading."""
        title = _clean_heading(heading.get_text(" ", strip=True))
        if title:
            while self.headings and self.headings[-1][0] >= depth:
                self.headings.pop()
            self.headings.append((depth, title))

    def _process_tag(self, node: Tag, parent_tags: set[str]) -> str:
        """markdownify 1.2's process_tag, with one change: whether we are inside a <pre> is read
        from parent_tags instead of walking every element's ancestors (a quarter of the time on
        small pages)."""
        remove_inside = should_remove_whitespace_inside(node)

        def ignorable(el: Any) -> bool:
            if isinstance(el, Tag):
                return False
            if isinstance(el, (Comment, Doctype)) or not isinstance(el, NavigableString):
                return True
            if el.strip() != "":
                return False
            if remove_inside and (not el.previous_sibling or not el.next_sibling):
                return True
            return should_remove_whitespace_outside(el.previous_sibling) or should_remove_whitespace_outside(
                el.next_sibling
            )

        children = [el for el in node.children if not ignorable(el)]
        child_tags = set(parent_tags)
        child_tags.add(node.name)
        if re_html_heading.match(node.name) is not None or node.name in ("td", "th"):
            child_tags.add("_inline")
        if node.name in _LITERAL_TAGS:
            child_tags.add("_noformat")
        strings = [
            s for s in (_MarkdownConverter.process_element(self, el, parent_tags=child_tags) for el in children) if s
        ]
        if node.name != "pre" and "pre" not in parent_tags:
            if "_noformat" not in child_tags:
                strings = _join_spaces(strings)
            strings = _collapse_newlines(strings)
        text = "".join(strings)
        convert_fn = _MarkdownConverter.get_conv_fn_cached(self, node.name)
        if convert_fn is not None:
            text = convert_fn(node, text, parent_tags=parent_tags)
        return text

    def note_id(self, node: Tag, parent_tags: set[str] | None) -> None:
        """An element's id (or an <a name>) waits for the next visible text to carry its mark; the first of
        duplicates wins. A heading's id is marked too: its section is found by title, which fails for a heading
        inside a list item or a note, or one whose Markdown title differs from its text."""
        attrs = node.attrs
        ident = attrs.get("id") or (attrs.get("name") if node.name == "a" else None)
        if not ident or not isinstance(ident, str) or ident in self.known or len(self.ids) >= MAX_ANCHORS:
            return
        if len(ident) > MAX_ANCHOR_CHARS:
            return
        self.known.add(ident)
        self.pending.append(len(self.ids))
        self.ids.append(ident)

    def flush_marks(self) -> str:
        """The marks of the ids waiting, to be written before the text that comes next."""
        if not self.pending:
            return ""
        marks = "".join(f"{_MARK_OPEN}{n}{_MARK_CLOSE}" for n in self.pending)
        self.flushed += len(self.pending)
        self.pending.clear()
        return marks

    def process_text(self, el: Any, parent_tags: set[str] | None = None) -> str:
        """markdownify's text, with the waiting marks before its first visible character (after its leading
        whitespace, so the joining of children sees the same spaces as without them)."""
        text = str(_MarkdownConverter.process_text(self, el, parent_tags=parent_tags))
        if self.pending and text:
            body = text.lstrip()
            if body:
                text = text[: len(text) - len(body)] + self.flush_marks() + body
        return text

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        """markdownify's link, decided on the text without marks (a link showing its URL stays `<url>`)."""
        marks, text = _peel_marks(text)
        return _put_marks(str(_MarkdownConverter.convert_a(self, el, text, parent_tags)), marks)

    def convert_tt(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        """Sphinx's inline literal (`<tt class="docutils literal">`): option names, values, commands."""
        return str(_MarkdownConverter.convert_code(self, el, text, parent_tags))

    def convert_span(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        """A Sphinx literal fragment (`span.pre`) outside any literal element is still code."""
        if "_noformat" not in parent_tags and "pre" in _classes(el):
            return str(_MarkdownConverter.convert_code(self, el, text, parent_tags))
        return text

    def convert_td(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text  # render_table lays cells out itself

    convert_th = convert_td

    def convert_hN(self, n: int, el: Tag, text: str, parent_tags: set[str]) -> str:
        marks, text = _peel_marks(text)
        text = text.replace("¶", "").strip()
        if not text:  # no heading: its marks wait for the text after it
            self.pending[:0] = [int(number) for number in _MARK.findall(marks)]
            return ""
        return str(_MarkdownConverter.convert_hN(self, n, el, marks + text, parent_tags))

    def render_pre(self, pre: Tag) -> str:
        code = pre.get_text()
        code = code.strip("\n")
        if not code.strip():
            return ""
        fence = _fence_for(code)
        marks = self.flush_marks()  # the block's own id and those just before it: on the opening fence's line
        return f"\n\n{fence}{marks}{code_language(pre, code)}\n{code}\n{fence}\n\n"

    def render_table(self, table: Tag, parent_tags: set[str]) -> str:
        flushed = self.flushed
        grid, header_rows = self.table_grid(table)
        if not grid:
            return ""
        header, body = _header_and_body(grid, header_rows)
        if "_inline" in parent_tags:  # a table inside a table cell: flatten it
            return " ".join("; ".join(c for c in row if c) for row in [header, *body])
        marked = self.flushed != flushed
        columns, rows = (_unmarked(header), _unmarked_rows(body)) if marked else (header, body)
        self.document.tables.append(Table([title for _level, title in self.headings], columns, rows))  # no marks
        lines = [
            "| " + " | ".join(header) + " |",
            "| " + " | ".join("---" for _ in header) + " |",
        ]
        shown = body if len(body) <= TABLE_MAX_ROWS else body[:TABLE_PREVIEW_ROWS]
        lines.extend("| " + " | ".join(row) + " |" for row in shown)
        text = "\n".join(lines)
        if len(body) > TABLE_MAX_ROWS:
            if marked:  # ids in the rows not shown lead to the table's first line
                text = _marks_in(body[TABLE_PREVIEW_ROWS:], shown) + text
                self._note_hidden_rows(body[TABLE_PREVIEW_ROWS:], shown)
            text += self._truncation_note(len(body))
        return f"\n\n{text}\n\n"

    def _note_hidden_rows(self, hidden: list[list[str]], shown: list[list[str]]) -> None:
        """For each id in a row the preview leaves out: the search_table call that returns that row."""
        section = self.headings[-1][1] if self.headings else ""
        in_shown = {mark for row in shown for cell in row if _MARK_OPEN in cell for mark in _MARK.findall(cell)}
        for row in hidden:
            marks = [m for cell in row if _MARK_OPEN in cell for m in _MARK.findall(cell) if m not in in_shown]
            if marks:
                first = plain_title(next((cell for cell in _unmarked(row) if cell.strip()), ""))
                name = first.split(" [")[0].split(" (")[0][:100]  # "GetObject [permission only]": its name
                for mark in marks:
                    self.hidden_rows.setdefault(int(mark), (section, name))

    def _truncation_note(self, rows: int) -> str:
        """Under a large table's preview: how to reach the other rows (the section names the table)."""
        section = self.headings[-1][1] if self.headings else "<section>"
        return (
            f"\n\nTable truncated (showing {TABLE_PREVIEW_ROWS} of {rows} rows). "
            "Use the `search_table` tool to find specific rows.\n"
            f'  Example: search_table(url="{self.page_url}", section_title="{section}", query="your search term")'
        )

    def table_grid(self, table: Tag) -> tuple[list[list[str]], int]:
        """Cells laid out on a grid, rowspan and colspan repeated; returns (grid, header row count)."""
        grid: list[list[str]] = []
        pending: dict[tuple[int, int], str] = {}  # (row, column) -> a cell spanning down into it
        header_rows = 0
        counting_header = True
        for r, (tr, in_thead) in enumerate(_table_rows(table)):
            if tr.attrs:
                self.note_id(tr, None)
            cells = [c for c in tr.children if isinstance(c, Tag) and c.name in ("td", "th")]
            row = self._grid_row(r, cells, pending)
            if not any(row):
                continue
            all_th = bool(cells) and all(c.name == "th" for c in cells)
            if counting_header and (in_thead or (all_th and r == header_rows)):
                header_rows += 1
            else:
                counting_header = False
            grid.append(row)
        return grid, header_rows

    def _grid_row(self, r: int, cells: list[Tag], pending: dict[tuple[int, int], str]) -> list[str]:
        """Row `r` of the grid: its cells, each repeated over its colspan, between cells spanning down from above."""
        row: list[str] = []
        col = _take_pending(row, pending, r, 0)
        for cell in cells:
            text = _escape_cell(self.process_tag(cell, {"_inline", "td"}))
            colspan = _span(cell, "colspan")
            rowspan = _span(cell, "rowspan")
            for c in range(colspan):
                row.append(text)
                for extra in range(1, rowspan):
                    pending[(r + extra, col + c)] = text
            col = _take_pending(row, pending, r, col + colspan)
        return row


def _unmarked(cells: list[str]) -> list[str]:
    return [_MARK.sub("", cell) if _MARK_OPEN in cell else cell for cell in cells]


def _unmarked_rows(rows: list[list[str]]) -> list[list[str]]:
    return [_unmarked(row) for row in rows]


def _marks_in(rows: list[list[str]], shown: list[list[str]]) -> str:
    """The marks in the table rows not shown, each once, leaving out those a shown row carries too (a cell that a
    rowspan repeats from a shown row into hidden ones keeps its place)."""
    found = dict.fromkeys(mark for row in rows for cell in row if _MARK_OPEN in cell for mark in _MARK.findall(cell))
    for row in shown:
        for cell in row:
            if _MARK_OPEN in cell:
                for mark in _MARK.findall(cell):
                    found.pop(mark, None)
    return "".join(f"{_MARK_OPEN}{number}{_MARK_CLOSE}" for number in found)


def _peel_marks(text: str) -> tuple[str, str]:
    """The marks opening `text` (after its leading whitespace), and the text without them."""
    body = text.lstrip()
    if not body.startswith(_MARK_OPEN):
        return "", text
    run = _MARKS_RUN.match(body)
    if run is None:
        return "", text
    return run.group(0), text[: len(text) - len(body)] + body[run.end() :]


def _put_marks(text: str, marks: str) -> str:
    """`marks` back before the first visible character of `text`."""
    if not marks:
        return text
    body = text.lstrip()
    return text[: len(text) - len(body)] + marks + body


def _table_rows(table: Tag) -> list[tuple[Tag, bool]]:
    """The table's own rows (not those of tables inside it), each with whether it is in <thead>."""
    rows: list[tuple[Tag, bool]] = []
    for part in table.children:
        if not isinstance(part, Tag):
            continue
        if part.name == "tr":
            rows.append((part, False))
        elif part.name in ("thead", "tbody", "tfoot"):
            rows.extend((tr, part.name == "thead") for tr in part.children if isinstance(tr, Tag) and tr.name == "tr")
    return rows


def _take_pending(row: list[str], pending: dict[tuple[int, int], str], r: int, col: int) -> int:
    """Append the cells spanning down into row `r` from column `col` on; returns the next free column."""
    while (r, col) in pending:
        row.append(pending.pop((r, col)))
        col += 1
    return col


def _header_and_body(grid: list[list[str]], header_rows: int) -> tuple[list[str], list[list[str]]]:
    """Rows padded to one width; header rows merged into one (a column's distinct texts joined by " / ")."""
    width = max(len(row) for row in grid)
    grid = [row + [""] * (width - len(row)) for row in grid]
    if not header_rows:
        return grid[0], grid[1:]
    header = [" / ".join(dict.fromkeys(c for c in column if c)) for column in zip(*grid[:header_rows], strict=True)]
    return header, grid[header_rows:]


def _closes(text: str) -> bool:
    """Whether `text` starts with punctuation that takes no space before it: `)`, `]`, or `,.;:!?` ending a word."""
    if text.startswith(_MARK_OPEN):  # marks before it are not text
        text = _MARKS_RUN.sub("", text, count=1)
    first = text[:1]
    if first in (")", "]"):
        return True
    return first in _PUNCTUATION and text[1:2] in ("", " ", "\n", ")", "]", "*", "_")


def _spaces_at_end(text: str) -> int:
    end = len(text)
    while end and text[end - 1] == " ":
        end -= 1
    return len(text) - end


def _spaces_at_start(text: str) -> int:
    start = 0
    while start < len(text) and text[start] == " ":
        start += 1
    return start


def _join_spaces(strings: list[str]) -> list[str]:
    """Children joined with the layout whitespace between inline elements made prose spacing.

    Indented HTML puts whitespace inside and around inline elements, and each side keeps its own:
    `see  [a](…)  .` or `(prefix:  `x`  )`. Where a child meets the next, the spaces of both become one,
    and none after an opening bracket or before closing punctuation. A run that starts a line (indentation
    after a newline) is left alone.
    """
    out: list[str] = []
    for string in strings:
        if not out:
            out.append(string)
            continue
        previous = out[-1]
        lead = _spaces_at_start(string)
        trail = _spaces_at_end(previous)
        if not (lead or trail):
            out.append(string)
            continue
        head = string[lead:]
        body = previous[: len(previous) - trail] if trail else previous
        if body.endswith("\n") or head.startswith("\n"):
            out.append(string)
            continue
        if not head:  # only spaces: carried on to the next child
            out[-1] = body + " "
            continue
        gap = "" if body.endswith(("(", "[")) or _closes(head) else " "
        out[-1] = body
        out.append(gap + head)
    return out


def _collapse_newlines(strings: list[str]) -> list[str]:
    """markdownify's join of children: newlines between two children merged, at most two."""
    collapsed = [""]
    for string in strings:
        match = re_extract_newlines.match(string)
        assert match is not None  # the pattern matches any string
        leading, content, trailing = match.groups()
        if collapsed[-1] and leading:
            previous = collapsed.pop()
            leading = "\n" * min(2, max(len(previous), len(leading)))
        collapsed.extend([leading, content, trailing])
    return collapsed


def _span(cell: Tag, name: str) -> int:
    try:
        return max(1, min(int(str(cell.get(name, "1")).strip() or "1"), 100))
    except ValueError:
        return 1


def _collect_sections(markdown: str, anchors: list[tuple[str, str | None]]) -> list[Section]:
    """Find ATX headings outside code fences; pair them with the HTML headings' ids in order."""
    sections: list[Section] = []
    offset = 0
    fence: str | None = None
    ids = _AnchorIds(anchors)
    for line in markdown.split("\n"):
        fence_match = _FENCE.match(line.strip())
        if fence_match:
            fence = _fence_after(fence, fence_match.group(1))
        elif fence is None:
            match = _MD_HEADING.match(line)
            if match:
                title = match.group(2).strip()
                sections.append(Section(len(match.group(1)), title, ids.take(title), offset))
        offset += len(line) + 1
    _close_sections(sections, len(markdown))
    return sections


def _fence_after(fence: str | None, marker: str) -> str | None:
    """The open code fence after a fence line: it opens one, or closes the open one if it matches."""
    if fence is None:
        return marker
    if marker[0] == fence[0] and len(marker) >= len(fence):
        return None
    return fence


class _AnchorIds:
    """Each Markdown heading takes the first unused HTML heading of the same text at or after the last
    one taken; positions are looked up by text, so 40,000 headings cost no more than linear time."""

    def __init__(self, anchors: list[tuple[str, str | None]]) -> None:
        self.anchors = anchors
        self.positions: dict[str, list[int]] = {}
        for index, (text, _ident) in enumerate(anchors):
            self.positions.setdefault(text, []).append(index)
        self.next = 0  # anchors before this one are used up

    def take(self, title: str) -> str | None:
        """The id of the next HTML heading whose text is `title` (Markdown, compared without its inline marks)."""
        candidates = self.positions.get(" ".join(plain_title(title).split()))  # a no-break space is a space
        if not candidates:
            return None
        found = bisect_left(candidates, self.next)
        if found == len(candidates):
            return None
        self.next = candidates[found] + 1
        return self.anchors[candidates[found]][1]


def _close_sections(sections: list[Section], length: int) -> None:
    """Each section ends where the next heading of its level or higher starts, or at the end."""
    open_sections: list[Section] = []
    for section in sections:
        while open_sections and open_sections[-1].level >= section.level:
            open_sections.pop().end = section.start
        open_sections.append(section)
    for section in open_sections:
        section.end = length


def _heading_anchors(headings: list[Tag]) -> list[tuple[str, str | None]]:
    """Each heading's text and id (outside tables and code), in page order."""
    anchors = []
    for heading in headings:
        if heading.decomposed or heading.find_parent(["table", "pre"]):
            continue
        anchors.append((plain_title(_clean_heading(heading.get_text(" ", strip=True))), _heading_id(heading)))
    return anchors


def _heading_id(heading: Tag) -> str | None:
    """A heading's id: its own, an empty <a id> just before it, one inside it, or its section's when it opens it."""
    ident = heading.get("id")
    if not ident:
        previous = heading.find_previous_sibling()
        if (
            isinstance(previous, Tag)
            and previous.name == "a"
            and previous.get("id")
            and not previous.get_text(strip=True)
        ):
            ident = previous["id"]
        else:
            inner = heading.find(id=True)
            ident = inner["id"] if isinstance(inner, Tag) else None
    if not ident and heading.parent is not None and heading.parent.name in ("div", "section"):
        parent_id = heading.parent.get("id")
        if parent_id and heading.find_previous_sibling(_HEADING) is None:
            ident = parent_id
    return str(ident) if ident else None


def neutralise_marks(html: str) -> str:
    """The page's own mark characters, literal or as character references, become U+FFFD: only the converter
    writes marks."""
    if _MARK_OPEN in html or _MARK_CLOSE in html:
        html = html.replace(_MARK_OPEN, "\ufffd").replace(_MARK_CLOSE, "\ufffd")
    if "&#" in html:
        html = _MARK_ENTITY.sub("&#xfffd;", html)
    return html


def take_marks(markdown: str, ids: list[str]) -> tuple[str, dict[str, int]]:
    """The Markdown without its marks (one pass), and each marked id's offset: the start of the line holding its
    mark, in the Markdown without marks. An id marked twice (a cell repeated by rowspan) keeps its first place."""
    if not ids or _MARK_OPEN not in markdown:
        return markdown, {}
    pieces: list[str] = []
    places: dict[str, int] = {}
    last = 0
    removed = 0
    for mark in _MARK.finditer(markdown):
        pieces.append(markdown[last : mark.start()])
        number = int(mark.group(1))
        if number < len(ids) and ids[number] not in places:
            places[ids[number]] = mark.start() - removed
        removed += mark.end() - mark.start()
        last = mark.end()
    pieces.append(markdown[last:])
    clean = "".join(pieces)
    return clean, {ident: clean.rfind("\n", 0, at) + 1 for ident, at in places.items()}


def tidy(markdown: str) -> str:
    """Trailing spaces off and blank runs collapsed, outside code fences only (code stays exact)."""
    out: list[str] = []
    fence: str | None = None
    blank = 0
    for line in markdown.strip("\n").split("\n"):
        match = _TIDY_FENCE.match(line.lstrip(" >"))
        if fence is not None:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        line = line.rstrip()
        if not line:
            blank += 1
            if blank > 1:
                continue
        else:
            blank = 0
        if match:
            fence = match.group(1)
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def page_charset(encoding: str | None) -> str:
    """The codec to read a body with: the declared one when a documentation page may use it, else UTF-8."""
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except (LookupError, ValueError):
            return "utf-8"
        if name in PAGE_CHARSETS:
            return name
    return "utf-8"


def decode(body: bytes, encoding: str | None = None) -> str:
    return body.decode(page_charset(encoding), errors="replace")


def check_nesting(html: str) -> None:
    """Refuse a page nested deeper than MAX_NESTING before the costly parse.

    libxml2's own parser builds the tree in C in a few milliseconds (and stops nesting at 256
    levels), where BeautifulSoup would spend seconds on 200,000 nested elements.
    """
    try:
        root = etree.fromstring(html.encode("utf-8", "replace"), etree.HTMLParser(recover=True, no_network=True))
    except (etree.Error, ValueError):
        return  # BeautifulSoup decides what an unparsable page holds
    if root is None:
        return
    depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        if event == "start":
            depth += 1
            if depth > MAX_NESTING:
                raise PageTooComplex(f"The page is too deeply nested to convert (more than {MAX_NESTING} levels).")
        else:
            depth -= 1


def looks_like_html(body: bytes, content_type: str) -> bool:
    if "html" in content_type.lower() or "xml" in content_type.lower():
        return True
    head = body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in head


def convert(html: str, page_url: str) -> Document:
    """Convert a documentation page to a Document; raise UnreadablePage when there is no article."""
    check_nesting(html)
    try:
        return _convert_checked(html, page_url)
    except RecursionError:
        raise PageTooComplex("The page is too deeply nested to convert.") from None


def convert_body(body: bytes, encoding: str | None, page_url: str) -> Document:
    """Decode a fetched body with an allowed charset and convert it (the whole job of a conversion worker)."""
    return convert(decode(body, encoding), page_url)


def _convert_checked(html: str, page_url: str) -> Document:
    html = neutralise_marks(html)
    page_url = neutralise_marks(page_url)  # it is written into table notes: no mark can come from it either
    soup = BeautifulSoup(html, "lxml")
    article = find_article(soup)
    title = page_title(soup, article)
    lowered = html.lower()  # substring scans on it spare the walks a page has nothing for
    if "-tabs" in lowered or "expandable-section" in lowered:
        rewrite_tabs(soup, article)  # first: a tab widget keeps its tabs in a hidden <dl>
    kept = remove_chrome(article)
    remove_site_notices(html, lowered, article)
    rewrite_callouts(soup, kept.callouts)
    absolutize(kept.links, kept.images, page_url)
    if not has_text(article):
        raise UnreadablePage("The page has no readable content.")
    anchors = _heading_anchors(kept.headings)
    document = Document(title, "")
    converter = _Converter(
        document,
        page_url,
        heading_style=ATX,
        bullets="-",
        escape_underscores=False,
        escape_asterisks=False,
        strip_document=None,
        wrap=True,  # collapse the source's line breaks inside paragraphs...
        wrap_width=None,  # ...without re-wrapping them
    )
    markdown, places = take_marks(tidy(converter.process_tag(article, set())), converter.ids)
    if not any(level == 1 for level in (len(m.group(1)) for m in re.finditer(r"^(#+) ", markdown, re.M))):
        if title:
            top = f"# {title}\n\n"
            markdown = top + markdown
            places = {ident: at + len(top) for ident, at in places.items()}
    document.markdown = markdown
    document.anchors = places
    document.hidden_rows = {converter.ids[n]: row for n, row in converter.hidden_rows.items() if n < len(converter.ids)}
    document.sections = _collect_sections(markdown, anchors)
    return document
