"""The docs app's child spans (tracing on, `awsmcp.otel`): their names, attributes, and how a failure shows.

Each span wraps a call that was there already (a cache layer's lookup, the origin fetch, the conversion, the
search API, the local index); with tracing off `awsmcp.otel.span` gives None and none of this runs.
"""

from __future__ import annotations

from opentelemetry.trace import Span, Status, StatusCode

# Span names: a small fixed set, the entry's kind and the URL go in attributes.
L1 = "docs.cache.l1"
L2 = "docs.cache.l2"
FETCH = "docs.origin.fetch"
CONVERT = "docs.convert"
SEARCH_API = "docs.search_api"
RECOMMENDATIONS_API = "docs.recommendations_api"
INDEX_QUERY = "docs.index.query"

HIT = "awsmcp.cache.hit"
STALE = "awsmcp.cache.stale"  # L2 held the entry, past its freshness: revalidated or refetched
ENTRY = "awsmcp.cache.entry"  # page, search, recommend
URL = "url.full"
STATUS = "http.response.status_code"
BODY_BYTES = "http.response.body.size"
CONDITIONAL = "awsmcp.fetch.conditional"  # a revalidation (If-None-Match / If-Modified-Since)
BYTES_IN = "awsmcp.convert.bytes_in"
CHARS_OUT = "awsmcp.convert.markdown_chars"
RESULTS = "awsmcp.results"
PARTITION = "awsmcp.partition"
INDEXED = "awsmcp.index.pages"
ERROR_TYPE = "error.type"


def looked_up(span: Span, entry: str, hit: bool, stale: bool = False) -> None:
    """A cache layer's answer."""
    span.set_attribute(ENTRY, entry)
    span.set_attribute(HIT, hit)
    if stale:
        span.set_attribute(STALE, True)


def failed(span: Span | None, exc: BaseException, status: int | None = None) -> None:
    """The span's call raised: status ERROR, `error.type` the exception's class (and the HTTP status it saw)."""
    if span is None:
        return
    span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
    if status is not None:
        span.set_attribute(STATUS, status)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:256]))
