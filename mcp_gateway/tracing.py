"""W3C trace context (SEP-414): a request's `_meta.traceparent` follows it into the server's logs.

The core sets `current` while it handles a request that carries a well-formed traceparent; `TraceFilter`
(installed on the log handlers in settings.LOGGING) copies it onto every record written meanwhile, so a
line logged deep inside a tool names the caller's trace. A malformed traceparent is ignored, as W3C asks.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# version-traceid-parentid-flags, lowercase hex; version ff and all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
MAX_TRACESTATE = 512  # W3C: at most 32 list members; longer headers may be dropped


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str
    tracestate: str | None = None


current: ContextVar[TraceContext | None] = ContextVar("mcp_trace_context", default=None)


def parse(meta: Any) -> TraceContext | None:
    """The trace context in a request's `_meta`, or None when absent or malformed."""
    if not isinstance(meta, dict):
        return None
    value = meta.get("traceparent")
    match = _TRACEPARENT.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    state = meta.get("tracestate")
    if not isinstance(state, str) or len(state) > MAX_TRACESTATE:
        state = None
    return TraceContext(trace_id, span_id, flags, state)


class TraceFilter(logging.Filter):
    """Adds `trace_id` and `span_id` to each record (None outside a traced request) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = current.get()
        record.trace_id = trace.trace_id if trace else None
        record.span_id = trace.span_id if trace else None
        record.trace = f" trace_id={trace.trace_id} span_id={trace.span_id}" if trace else ""
        return True
