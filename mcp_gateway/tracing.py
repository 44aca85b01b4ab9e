"""W3C trace context: a client's trace continues into the server's logs and, when tracing is on, its spans.

A request's trace context comes from its `_meta.traceparent`/`tracestate` (SEP-414, the 2026-07-28 trace
context) or, failing a well-formed one there, from the HTTP `traceparent`/`tracestate` headers of the request
that carried it. `_meta` wins when both are present: it belongs to the one message, while a header belongs to an
HTTP request that may carry a batch. A WebSocket's handshake headers are not used: they would parent every
message of a connection that lasts hours. A malformed traceparent is ignored, as W3C asks: the request starts a
trace of its own. With MCP_TRACE_CLIENT_CONTEXT=link the SERVER span starts a new trace instead and records the
client's context as a span link (a public server need not let clients pick its trace ids).

Transports only hand the headers down (`incoming`); the core asks `handled` to wrap each request in a SERVER
span when tracing is on (the tracer is the core's constructor parameter, wired from `awsmcp.otel`). Off, the core sets `current` from the parsed context, and
`TraceFilter` (installed on the log handlers in settings.LOGGING) copies it onto every record written
meanwhile; on, the records carry the active span's ids instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from awsmcp import otel
from mcp_gateway import outcomes
from mcp_gateway.sessions import short_id

if TYPE_CHECKING:
    from mcp_gateway.jsonrpc import Request
    from mcp_gateway.sessions import ServerSession

# version-traceid-parentid-flags, lowercase hex; version ff and all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
MAX_TRACESTATE = 512  # W3C: at most 32 list members; longer headers may be dropped
MAX_ATTRIBUTE_CHARS = 256  # client-chosen strings (tool names, URIs) put on a span are cut to this
_FIELDS = ("traceparent", "tracestate")
# OpenTelemetry semantic conventions for MCP (semantic-conventions-genai; mcp.* were in semconv 0.66b2's
# incubating attributes, gen_ai.*, jsonrpc.*, error.* and network.* still are).
METHOD = "mcp.method.name"
SESSION = "mcp.session.id"
PROTOCOL_VERSION = "mcp.protocol.version"
RESOURCE_URI = "mcp.resource.uri"
REQUEST_ID = "jsonrpc.request.id"
TOOL = "gen_ai.tool.name"
PROMPT = "gen_ai.prompt.name"
OPERATION = "gen_ai.operation.name"
ERROR_TYPE = "error.type"
STATUS_CODE = "rpc.response.status_code"
NETWORK_TRANSPORT = "network.transport"
NETWORK_PROTOCOL = "network.protocol.name"
# awsmcp's own
PARTITION = "awsmcp.partition"
TRANSPORT = "awsmcp.transport"
OUTCOME = "awsmcp.outcome"
_PROPAGATOR = TraceContextTextMapPropagator()  # the W3C parser of the API: stateless


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str
    tracestate: str | None = None


current: ContextVar[TraceContext | None] = ContextVar("mcp_trace_context", default=None)
# The trace headers of the HTTP request (or WebSocket handshake) whose messages are being handled; set by the
# transports, read by the core. A ContextVar rather than a session field: a session's requests run concurrently.
incoming: ContextVar[Mapping[str, str] | None] = ContextVar("mcp_trace_headers", default=None)


def carrier(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The trace headers among an HTTP request's (lower-case names), or None when it sent no traceparent."""
    if "traceparent" not in headers:
        return None
    return {name: headers[name] for name in _FIELDS if name in headers}


def parse(meta: Any) -> TraceContext | None:
    """The trace context in a request's `_meta` (or a header carrier), or None when absent or malformed."""
    if not isinstance(meta, Mapping):
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


def of_request(meta: Any) -> TraceContext | None:
    """The request's trace context: its `_meta`'s when well-formed, else its HTTP headers'."""
    return parse(meta) or parse(incoming.get())


class TraceFilter(logging.Filter):
    """Adds `trace_id` and `span_id` to each record (None outside a traced request) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = _active_span_context() if otel.tracer is not None else None
        trace = trace or current.get()
        record.trace_id = trace.trace_id if trace else None
        record.span_id = trace.span_id if trace else None
        record.trace = f" trace_id={trace.trace_id} span_id={trace.span_id}" if trace else ""
        return True


def _active_span_context() -> TraceContext | None:
    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return TraceContext(f"{context.trace_id:032x}", f"{context.span_id:016x}", f"{context.trace_flags:02x}")


# --- the SERVER span of one request (tracing on) -----------------------------------------------------------
Reply = dict[str, Any] | None


async def handled(
    tracer: Tracer,
    session: ServerSession,
    request: Request,
    target: str | None,
    answer: Callable[[], Awaitable[Reply]],
    *,
    link: bool = False,
) -> Reply:
    """Run `answer` inside a SERVER span continuing the client's trace (`link`: in a new trace linking to the
    client's, MCP_TRACE_CLIENT_CONTEXT=link); `target` (a tool or prompt the catalogue knows, else None) completes
    the span's name, which must stay a small set: `tools/call read_documentation`."""
    parent = _parent(request.params.get("_meta"))
    links: list[Link] = []
    if link:
        remote = get_current_span(parent).get_span_context()
        links = [Link(remote)] if remote.is_valid else []
        parent = Context()
    name = f"{request.method} {target}" if target else request.method
    with tracer.start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.SERVER,
        attributes=_request_attributes(session, request),
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            reply = await answer()
        except asyncio.CancelledError:
            span.set_attribute(OUTCOME, "cancelled")  # the client left, or the server is stopping
            raise
        except BaseException as exc:  # the core answers its own errors: this is a bug, shown as one
            _failed(span, type(exc).__qualname__, str(exc))
            span.record_exception(exc)
            raise
        _finish(span, reply)
        return reply


def _parent(meta: Any) -> Context:
    """The remote parent context: `_meta`'s trace context when well-formed, else the headers', else an empty
    context (a new trace; never whatever span happens to be current around the core)."""
    for source in (meta, incoming.get()):
        if isinstance(source, Mapping) and isinstance(source.get("traceparent"), str):
            strings = {name: source[name] for name in _FIELDS if isinstance(source.get(name), str)}
            context = _PROPAGATOR.extract(strings, context=Context())
            if get_current_span(context).get_span_context().is_valid:
                return context
    return Context()


def _request_attributes(session: ServerSession, request: Request) -> dict[str, Any]:
    method = request.method
    attributes: dict[str, Any] = {
        METHOD: method[:MAX_ATTRIBUTE_CHARS],
        SESSION: short_id(session.id),
        PARTITION: session.partition,
        TRANSPORT: session.transport,
        NETWORK_TRANSPORT: "tcp",
        NETWORK_PROTOCOL: "websocket" if session.transport == "websocket" else "http",
    }
    if request.id is not None:
        attributes[REQUEST_ID] = str(request.id)[:MAX_ATTRIBUTE_CHARS]
    if session.protocol_version:
        attributes[PROTOCOL_VERSION] = session.protocol_version
    name = request.params.get("name")
    if method == "tools/call" and isinstance(name, str):
        attributes[TOOL] = name[:MAX_ATTRIBUTE_CHARS]
        attributes[OPERATION] = "execute_tool"
    elif method == "prompts/get" and isinstance(name, str):
        attributes[PROMPT] = name[:MAX_ATTRIBUTE_CHARS]
    uri = request.params.get("uri")
    if method.startswith("resources/") and isinstance(uri, str):
        attributes[RESOURCE_URI] = uri[:MAX_ATTRIBUTE_CHARS]
    return attributes


def _finish(span: Span, reply: Reply) -> None:
    """The outcome as the metrics and the audit trail name it; JSON-RPC errors, tool errors and refusals set the
    span's status to ERROR (a result with isError, as the MCP conventions ask), with the outcome as error.type."""
    outcome = outcomes.of_reply(reply)
    span.set_attribute(OUTCOME, outcome)
    error = (reply or {}).get("error")
    if isinstance(error, dict):
        code = str(error.get("code"))
        span.set_attribute(STATUS_CODE, code)
        _failed(span, code, str(error.get("message", ""))[:MAX_ATTRIBUTE_CHARS])
    elif outcome in ("tool_error", "refused"):
        _failed(span, outcome, _first_text((reply or {})["result"]))


def _failed(span: Span, error_type: str, description: str) -> None:
    span.set_attribute(ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, description))


def _first_text(result: dict[str, Any]) -> str:
    content = result.get("content")
    first = content[0] if isinstance(content, list) and content else None
    text = first.get("text") if isinstance(first, dict) else None
    return text[:MAX_ATTRIBUTE_CHARS] if isinstance(text, str) else ""
