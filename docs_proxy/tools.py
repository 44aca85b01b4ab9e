"""The documentation tools, registered into the gateway for the `aws` and `aws-cn` partitions.

Names, parameters, defaults, bounds and text shapes follow the reference server
(`awslabs-aws-documentation-mcp-server` 1.2.3); where we do better, the README's "The tools" says so.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.conf import settings

from awsmcp.pools import run_in
from docs_proxy import answers, descriptions, upstream
from docs_proxy.addresses import MAX_URL_LENGTH, AddressError, DocAddress, parse_doc_url
from docs_proxy.convert import Document
from docs_proxy.page import Page
from docs_proxy.pages import get_page, notes
from docs_proxy.paging import (
    TOC_LISTED,
    TOC_LISTED_LATER,
    Heading,
    anchor_note,
    format_documentation_result,
    hidden_row_note,
    listed_limit,
    reading_start,
)
from docs_proxy.tables import normalise_title, quoted_list, search_tables
from mcp_gateway import tasks
from mcp_gateway.catalogue import Catalogue, Tool, ToolError
from mcp_gateway.context import RequestContext

MAX_LENGTH_BOUND = 1_000_000  # exclusive, as the reference's
READ_MAX_LENGTH = 5000  # read_documentation's default, the reference's
# read_sections' default: the caller named what it wants, so most named sections should come whole (on the fixture
# pages 96% of h2/h3 sections are under 10,000 characters, 83% under 5,000), while an index page's sections no
# longer come as one answer of 50,000 characters.
SECTIONS_MAX_LENGTH = 10_000
# A usual chunk costs some 30 us to cut (a hop to the "cpu" pool costs as much): done on the loop up to these sizes;
# counting tokens, a long chunk or a page of many sections goes to the pool.
INLINE_MAX_LENGTH = 50_000
INLINE_SECTIONS = 2_000
SECTIONS_MISSING_LISTED = 30  # available sections a partial miss lists at most
READ_ONLY = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": True}


def url_param(description: str = "URL of the AWS documentation page to read") -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": MAX_URL_LENGTH,
        "description": f"{description} (absolute; a root-relative link from an answer, /guide/page.html, also works)",
    }


def paging_properties(default_length: int, tool: str) -> dict[str, Any]:
    """max_length, start_index and max_tokens, the same for read_documentation and read_sections."""
    return {
        "max_length": {
            "type": "integer",
            "default": default_length,
            "exclusiveMinimum": 0,
            "exclusiveMaximum": MAX_LENGTH_BOUND,
            "description": "Maximum number of characters to return.",
        },
        "start_index": {
            "type": "integer",
            "default": 0,
            "minimum": 0,
            "description": (
                "On return output starting at this character index, useful if a previous fetch was truncated "
                "and more content is required."
                + (" Offsets count in the requested sections' text, not the page's." if tool == "read_sections" else "")
            ),
        },
        "max_tokens": {
            "type": "integer",
            "exclusiveMinimum": 0,
            "maximum": settings.DOCS_MAX_TOKENS_ARG,
            "description": (
                "Maximum number of tokens of page text to return (OpenAI o200k_base), instead of or with "
                "max_length: when both are given the tighter wins. Without max_length, max_tokens alone limits."
            ),
        },
    }


def read_schema(url_description: str = "URL of the AWS documentation page to read") -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"url": url_param(url_description), **paging_properties(READ_MAX_LENGTH, "read_documentation")},
        "required": ["url"],
    }


def sections_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "url": url_param(),
            "section_titles": {
                "type": "array",
                "items": {"type": "string", "maxLength": settings.DOCS_MAX_TITLE_CHARS},
                "minItems": 1,
                "maxItems": settings.DOCS_MAX_SECTION_TITLES,
                "description": "List of section titles to extract from the documentation",
            },
            **paging_properties(SECTIONS_MAX_LENGTH, "read_sections"),
        },
        "required": ["url", "section_titles"],
    }


def table_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "url": url_param("URL of the AWS documentation page containing the table"),
            "section_title": {
                "anyOf": [{"type": "string", "maxLength": settings.DOCS_MAX_TITLE_CHARS}, {"type": "null"}],
                "default": None,
                "description": (
                    "The section heading that contains the table. If omitted, searches all tables on the page. "
                    "Use exact titles from search_documentation results or read_documentation output."
                ),
            },
            "query": {
                "type": "string",
                "maxLength": settings.DOCS_MAX_QUERY_CHARS,
                "description": (
                    "Search term to filter rows (case-insensitive, all words must match across any column)"
                ),
            },
            "max_rows": {
                "type": "integer",
                "default": 20,
                "minimum": 1,
                "maximum": 100,
                "description": "Maximum number of matching rows to return per table",
            },
        },
        "required": ["url", "query"],
    }


def search_schema() -> dict[str, Any]:
    terms = {
        "anyOf": [
            {
                "type": "array",
                "items": {"type": "string", "maxLength": settings.DOCS_MAX_TITLE_CHARS},
                "maxItems": settings.DOCS_MAX_FILTER_TERMS,
            },
            {"type": "null"},
        ],
        "default": None,
    }
    return {
        "type": "object",
        "properties": {
            "search_phrase": {
                "type": "string",
                "maxLength": settings.DOCS_MAX_QUERY_CHARS,
                "description": "Search phrase to use",
            },
            "search_intent": {
                "type": "string",
                "default": "",
                "maxLength": settings.DOCS_MAX_QUERY_CHARS,
                "description": (
                    "For the search_phrase parameter, describe the search intent of the user. CRITICAL: Do not "
                    "include any PII or customer data, describe only the AWS-related intent for search."
                ),
            },
            "limit": {
                "type": "integer",
                "default": 10,
                "minimum": 1,
                "maximum": 50,
                "description": "Maximum number of results to return",
            },
            "product_types": {
                **terms,
                "description": 'Filter results by AWS product/service (e.g., ["Amazon Simple Storage Service"])',
            },
            "guide_types": {
                **terms,
                "description": (
                    'Filter results by guide type (e.g., ["User Guide", "API Reference", "Developer Guide"])'
                ),
            },
        },
        "required": ["search_phrase"],
    }


def recommend_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"url": url_param("URL of the AWS documentation page to get recommendations for")},
        "required": ["url"],
    }


EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_STRS = {"type": ["array", "null"], "items": {"type": "string"}}
SEARCH_OUTPUT = {
    "type": "object",
    "properties": {
        "search_results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "rank_order": {"type": "integer"},
                    "url": {"type": "string"},
                    "title": {"type": "string"},
                    "context": NULLABLE_STR,
                    "recommended_sections": NULLABLE_STRS,
                    "sections": NULLABLE_STRS,
                    "metadata": {"type": ["object", "null"]},
                },
                "required": ["rank_order", "url", "title"],
            },
        },
        "facets": {"type": ["object", "null"]},
        "query_id": {"type": "string"},
        "metadata": {"type": ["object", "null"]},
    },
    "required": ["search_results", "query_id"],
}
TABLE_OUTPUT = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "section_title": {"type": "string"},
        "query": {"type": "string"},
        "tables_searched": {"type": "integer"},
        "tables_with_matches": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "table_heading": NULLABLE_STR,
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "total_rows": {"type": "integer"},
                    "matched_rows": {"type": "integer"},
                    "showing": {"type": "integer"},
                    "rows": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
        "hint": NULLABLE_STR,
    },
    "required": ["url", "query", "tables_searched", "tables_with_matches", "results"],
}
RECOMMEND_OUTPUT = {
    "type": "object",
    "properties": {
        "result": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "title": {"type": "string"},
                    "context": NULLABLE_STR,
                    "category": {"type": "string", "enum": ["journey", "new", "similar"]},
                },
                "required": ["url", "title", "category"],
            },
        }
    },
    "required": ["result"],
}


def text_result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


def json_result(data: Any) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": json.dumps(data, indent=2, ensure_ascii=False)}],
        "structuredContent": data,
    }


def address_for(url: Any, ctx: RequestContext) -> DocAddress:
    try:
        return parse_doc_url(url, ctx.partition)
    except AddressError as exc:
        raise ToolError(f"Invalid URL: {exc}") from None


# --- tools ---------------------------------------------------------------------------------------
def limits(args: dict[str, Any], default_length: int) -> tuple[int, int | None]:
    """max_length and max_tokens: max_tokens alone is the only limit (max_length's default does not apply)."""
    max_tokens = args.get("max_tokens")
    max_length = args.get("max_length")
    if max_length is None:
        max_length = default_length if max_tokens is None else MAX_LENGTH_BOUND - 1
    return max_length, max_tokens


def _read_answer(
    url: str, document: Document, fragment: str, start_index: int, max_length: int, max_tokens: int | None
) -> str:
    """read_documentation's text: a note when the #anchor names no section, then the chunk (CPU work: a
    pool thread)."""
    start = reading_start(document, fragment, start_index)
    note = anchor_note(document, fragment, start_index, max_tokens) or hidden_row_note(
        document, fragment, start_index, url
    )
    return note + format_documentation_result(
        url,
        document.markdown,
        start,
        max_length,
        document.sections,
        "read_documentation",
        max_tokens,
        toc_for(start_index),
    )


def toc_for(start_index: int) -> int:
    """The first answer of a read lists up to TOC_LISTED sections to come; a later chunk only the next few."""
    return TOC_LISTED if start_index == 0 else TOC_LISTED_LATER


async def read_text(page: Page, fragment: str, start_index: int, max_length: int, max_tokens: int | None) -> str:
    """read_documentation's text for a page (also each page of a batch): its notes, then the chunk (long or
    token-counted chunks in the "cpu" pool)."""
    arguments = (page.served.url, page.document, fragment, start_index, max_length, max_tokens)
    if max_tokens is None and max_length <= INLINE_MAX_LENGTH and len(page.document.sections) <= INLINE_SECTIONS:
        text = _read_answer(*arguments)
    else:
        text = await run_in("cpu", _read_answer, *arguments)
    return notes(page) + text


async def read_documentation(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    address = address_for(args["url"], ctx)
    max_length, max_tokens = limits(args, READ_MAX_LENGTH)
    page = await get_page(address)
    return text_result(await read_text(page, address.fragment, args.get("start_index", 0), max_length, max_tokens))


def _sections_markdown(document: Document, titles: list[str]) -> tuple[str, list[str], list[Heading]]:
    """The h2/h3 sections named by `titles` (in page order, a section inside a chosen one not repeated), the
    titles not found, and the headings of the text with their offsets in it (its table of contents).

    One pass over the sections, a dict lookup for each; titles compare by `normalise_title`."""
    wanted: dict[str, int] = {}
    for position, title in enumerate(titles):
        wanted.setdefault(normalise_title(title), position)
    markdown = document.markdown
    parts: list[str] = []
    headings: list[Heading] = []
    offset = 0  # where the current part starts in the joined text
    part_start = 0  # where the current part starts in the page, after its leading whitespace
    chosen_until = -1  # sections come in page order: one starting before this lies inside a chosen one
    found: set[int] = set()
    for section in document.sections:
        inside = section.start < chosen_until
        if section.level in (2, 3):
            index = wanted.get(normalise_title(section.title))
            if index is not None:
                found.add(index)
                if not inside:
                    raw = markdown[section.start : section.end]
                    part = raw.strip()
                    if parts:
                        offset += len(parts[-1]) + 2
                    parts.append(part)
                    part_start = section.start + len(raw) - len(raw.lstrip())
                    chosen_until = section.end
                    inside = True
        if inside:
            headings.append(Heading(section.level, section.title, offset + max(0, section.start - part_start)))
    missing = [titles[i] for i in range(len(titles)) if i not in found]
    return "\n\n".join(parts), missing, headings


def _sections_answer(
    url: str, document: Document, titles: list[str], start_index: int, max_length: int, max_tokens: int | None
) -> tuple[str, list[str]]:
    """read_sections' text (empty when no title matched) and the titles not found (CPU work: a pool thread)."""
    markdown, missing, headings = _sections_markdown(document, titles)
    if not markdown:
        return "", missing
    text = format_documentation_result(
        url, markdown, start_index, max_length, headings, "read_sections", max_tokens, toc_for(start_index)
    )
    if missing and start_index == 0:
        available = [s.title for s in document.sections if s.level in (2, 3)]
        text = (
            "<e>The following requested sections were not found: "
            + quoted_list(missing, listed_limit(max_tokens, SECTIONS_MISSING_LISTED))
            + " (titles match ignoring case, spacing, dashes and quotes). Available sections: "
            + quoted_list(available, listed_limit(max_tokens, SECTIONS_MISSING_LISTED))
            + "</e>\n\n"
            + text
        )
    return text, missing


async def read_sections(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    address = address_for(args["url"], ctx)
    titles = [t for t in args["section_titles"] if t.strip()]
    if not titles:
        raise ToolError("section_titles parameter cannot be empty")
    max_length, max_tokens = limits(args, SECTIONS_MAX_LENGTH)
    start_index = args.get("start_index", 0)
    page = await get_page(address)
    text, _missing = await run_in(
        "cpu", _sections_answer, page.served.url, page.document, titles, start_index, max_length, max_tokens
    )
    if not text:
        available = [s.title for s in page.document.sections if s.level in (2, 3)]
        if not available:
            raise ToolError(
                "This document does not contain subsections. Please use the read_documentation tool instead "
                "to get the full document content."
            )
        raise ToolError(
            "No matching sections were found: "
            + ", ".join(f'"{t}"' for t in titles)
            + ". Available sections: "
            + quoted_list(available)
            + ". Please retry with one or more of these sections or use the read_documentation tool instead "
            "to get the full document content. Titles match ignoring case, spacing, dashes and quotes."
        )
    return text_result(notes(page) + text)


async def search_table(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    address = address_for(args["url"], ctx)
    query = args["query"]
    if not query.strip():
        raise ToolError("query parameter cannot be empty")
    page = await get_page(address)
    answer = await run_in(
        "cpu",
        search_tables,
        page.document,
        query,
        args.get("section_title"),
        args.get("max_rows", 20),
        page.served.url,
    )
    note = notes(page).replace("<e>", "").replace("</e>", "").strip()
    if note:
        answer["hint"] = f"{note} {answer['hint'] or ''}".strip()
    return json_result({"url": page.served.url, **answer})


def search_result(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as JSON; one from the local index says so in a second text block too."""
    result = json_result(answer)
    metadata = answer.get("metadata") or {}
    note = metadata.get("note") if metadata.get("source") == "local_index" else None
    if note:
        result["content"].append({"type": "text", "text": note})
    return result


async def search_documentation(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    phrase = args["search_phrase"]
    if not phrase.strip():
        raise ToolError("search_phrase cannot be empty: give words to search the AWS documentation for.")
    answer = await answers.search(
        phrase, args.get("search_intent", ""), args.get("limit", 10), args.get("product_types"), args.get("guide_types")
    )
    return search_result(answer)


async def search_local_documentation(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """aws-cn's search_documentation: the local index of the pages read (the partition has no search API)."""
    phrase = args["search_phrase"]
    if not phrase.strip():
        raise ToolError("search_phrase cannot be empty: give words to search the AWS China documentation for.")
    answer = await answers.local_search(
        phrase, ctx.partition, args.get("limit", 10), args.get("product_types"), args.get("guide_types")
    )
    return search_result(answer)


async def recommend(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    address = address_for(args["url"], ctx)
    results = await answers.recommendations(address.url)
    return {
        "content": [{"type": "text", "text": json.dumps(r, indent=2, ensure_ascii=False)} for r in results]
        or [{"type": "text", "text": "No recommendations for this page."}],
        "structuredContent": {"result": results},
    }


async def get_available_services(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    address = parse_doc_url(upstream.CHINA_SERVICES_URL, "aws-cn")
    page, services = await asyncio.gather(
        get_page(address),
        answers.cached_answer("china-toc", {}, settings.DOCS_CACHE_L2_TTL, upstream.china_services_toc),
    )
    links = "\n".join(f"- [{s['title']}]({s['url']})" for s in services)
    text = format_documentation_result(page.served.url, page.document.markdown, 0, len(page.document.markdown))
    return text_result(f"{text}\n\n## Services in Amazon Web Services China\n\n{links}")


AWS_INSTRUCTIONS = """\
# AWS Documentation MCP Server (awsmcp)

This server provides tools to access public AWS documentation, search for content, and get recommendations.

## Best Practices

- For long documentation pages, make multiple calls to `read_documentation` with different `start_index` values for pagination
- A truncated answer ends with the sections still to come and the `start_index` of each: jump to the one you need instead of paging through
- By default, use read_sections when the answer could be within a specific section(s), given the table of contents. Otherwise, use read_documentation to scan the entire page.
- `read_sections` matches titles ignoring case, spacing, dashes and quotes, and pages like `read_documentation` (`max_length`, `start_index`)
- A URL ending in `#anchor` starts reading at that section or element (anchors match ignoring case); an anchor the page lacks is named at the top of the answer, which then reads from the top
- To bound an answer in tokens rather than characters, pass `max_tokens` to `read_documentation` or `read_sections`
- Relative links in an answer resolve against the page URL stated at its top; give tools the absolute URL (a root-relative `/guide/page.html` also works)
- For very long documents (>30,000 characters), stop reading if you've found the needed information
- When searching, use specific technical terms rather than general phrases
- Use `recommend` tool to discover related content that might not appear in search results
- For recent updates to a service, get an URL for any page in that service, then check the **new** category of the `recommend` tool output on that URL
- If multiple searches with similar terms yield insufficient results, pivot to using `recommend` to find related pages.
- To read several pages (or several chunks of one page) at once, use `read_documentation_batch` with up to 10 requests, each with its own `max_length`/`start_index`; a batch's pages share a budget of 200,000 characters, so for long pages ask for a few chunks at a time
- If the AWS search service fails, `search_documentation` answers from this server's index of the pages read so far and says so in its `metadata`; such results cover fewer pages than a full search
- `get_regional_availability` tells where a service has an endpoint (from the AWS SDK's endpoint data); whether a feature is available in a Region is in the service's documentation
- Pages are also MCP resources: a client that attaches resources can read https://docs.aws.amazon.com/... URLs with resources/read (the whole page as Markdown); resources/list lists the pages read so far
- Always cite the documentation URL when providing information to users

## Tool Selection Guide

- Use `search_documentation` when: You need to find documentation about a specific AWS service or feature
- Use `read_documentation` when: You have a specific documentation URL and need its content
- Use `read_sections` when: You have a specific documentation URL and specific section title(s) and only need content from those specific section(s)
- Use `search_table` when: You need specific rows from a large table (e.g., service quotas, pricing, supported models). If read_sections or read_documentation shows a truncated table, use this tool with a query to find the rows you need.
- Use `recommend` when: You want to find related content to a documentation page you're already viewing or need to find newly released information
- Use `recommend` as a fallback when: Multiple searches have not yielded the specific information needed
- Use `read_documentation_batch` when: You have several documentation URLs to read
- Use `list_regions` when: You need the Regions of a partition (codes and names)
- Use `get_regional_availability` when: You need to know which Regions offer a service, or whether a given Region does

Pages are on docs.aws.amazon.com. For the China partition (docs.amazonaws.cn), connect with `?partition=aws-cn`.
"""

CN_INSTRUCTIONS = """\
# AWS China Documentation MCP Server (awsmcp)

This server provides tools to access public AWS China documentation, and get service differences between AWS China and global regions.

## Best Practices

- Always use `get_available_services` first to checkout available services and their documentation URLs
- If a service is available, checkout the documentation URL for that service to see the feature differences and other documentation URLs
- For long documentation pages, make multiple calls to `read_documentation` with different `start_index` values for pagination
- A truncated answer ends with the sections still to come and the `start_index` of each: jump to the one you need instead of paging through
- A URL ending in `#anchor` starts reading at that section or element (anchors match ignoring case); an anchor the page lacks is named at the top of the answer, which then reads from the top
- To bound an answer in tokens rather than characters, pass `max_tokens` to `read_documentation`
- Relative links in an answer resolve against the page URL stated at its top; give tools the absolute URL (a root-relative `/guide/page.html` also works)
- For very long documents (>30,000 characters), stop reading if you've found the needed information
- `search_documentation` searches the AWS China pages this server has read so far (docs.amazonaws.cn has no search service): when it finds nothing that fits, use `get_available_services` and read the service's pages
- Phrases are searched as plain words (any case, word endings ignored); quotes and operators are ignored
- To read several pages (or several chunks of one page) at once, use `read_documentation_batch` with up to 10 requests, each with its own `max_length`/`start_index`; a batch's pages share a budget of 200,000 characters
- `get_regional_availability` tells where a service has an endpoint (from the AWS SDK's endpoint data); whether a feature is available in a Region is in the service's documentation
- Pages are also MCP resources: a client that attaches resources can read https://docs.amazonaws.cn/... URLs with resources/read; resources/list lists the pages read so far
- Always cite the documentation URL when providing information to users

## Tool Selection Guide

- Use `get_available_services` when: You need to know what services are available in AWS China
- Use `search_documentation` when: You need a page about a topic among the AWS China pages already read through this server
- Use `read_documentation` when: You have a specific documentation URL and need its content
- Use `read_documentation_batch` when: You have several documentation URLs to read
- Use `list_regions` when: You need the Regions of a partition (codes and names)
- Use `get_regional_availability` when: You need to know which Regions offer a service, or whether a given Region does

Pages are on docs.amazonaws.cn.
"""

ANCHOR_NOTE = (
    "\n\nA URL may end with `#anchor` (the id of a section or of an element such as a property): reading then "
    "starts there. Anchors match ignoring case; when the page has no such id, the answer says so first, lists "
    "the sections with their anchors, and reads from the top."
)


# The OAuth scopes the tools need: reading pages and what is derived from them, and searching (which asks the
# documentation's search service on the caller's behalf). API keys and anonymous callers hold every scope.
READ_SCOPES = ("docs:read",)
SEARCH_SCOPES = ("docs:search",)

DOCS_TOOL_NAMES = (
    "read_documentation",
    "read_sections",
    "search_table",
    "search_documentation",
    "recommend",
    "get_available_services",
)


def register(catalogue: Catalogue) -> None:
    aws, cn = ("aws",), ("aws-cn",)
    catalogue.add_tool(
        Tool(
            "read_documentation",
            descriptions.AWS_READ_DOCUMENTATION + ANCHOR_NOTE,
            read_schema(),
            read_documentation,
            title="Read AWS documentation",
            annotations=READ_ONLY,
            partitions=aws,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "read_sections",
            descriptions.AWS_READ_SECTIONS,
            sections_schema(),
            read_sections,
            title="Read sections of an AWS documentation page",
            annotations=READ_ONLY,
            partitions=aws,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "search_table",
            descriptions.AWS_SEARCH_TABLE,
            table_schema(),
            search_table,
            title="Search the tables of an AWS documentation page",
            output_schema=TABLE_OUTPUT,
            annotations=READ_ONLY,
            partitions=aws,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "search_documentation",
            descriptions.AWS_SEARCH_DOCUMENTATION,
            search_schema(),
            search_documentation,
            title="Search AWS documentation",
            output_schema=SEARCH_OUTPUT,
            annotations=READ_ONLY,
            partitions=aws,
            quiet=True,
            scopes=SEARCH_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "recommend",
            descriptions.AWS_RECOMMEND,
            recommend_schema(),
            recommend,
            title="Recommend related AWS documentation",
            output_schema=RECOMMEND_OUTPUT,
            annotations=READ_ONLY,
            partitions=aws,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "read_documentation",
            descriptions.CN_READ_DOCUMENTATION + ANCHOR_NOTE,
            read_schema("URL of the AWS China documentation page to read"),
            read_documentation,
            title="Read AWS China documentation",
            annotations=READ_ONLY,
            partitions=cn,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "search_documentation",
            descriptions.CN_SEARCH_DOCUMENTATION,
            search_schema(),
            search_local_documentation,
            title="Search AWS China documentation (the pages read so far)",
            output_schema=SEARCH_OUTPUT,
            annotations=READ_ONLY,
            partitions=cn,
            quiet=True,
            scopes=SEARCH_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "get_available_services",
            descriptions.CN_GET_AVAILABLE_SERVICES,
            EMPTY_SCHEMA,
            get_available_services,
            title="List the services of AWS China",
            annotations=READ_ONLY,
            partitions=cn,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    # A client that can follow tasks (SEP-2663) gets one for a call not answered within MCP_TASK_INLINE_SECONDS
    # (a page fetched and converted from the origin); cached pages are answered directly.
    for name in DOCS_TOOL_NAMES:
        tasks.offer(name)
    catalogue.title = "AWS Documentation (awsmcp)"
    catalogue.add_partition("aws", AWS_INSTRUCTIONS)
    catalogue.add_partition("aws-cn", CN_INSTRUCTIONS)
