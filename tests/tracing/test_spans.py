"""Spans made in this process, read back from the SDK's in-memory exporter: the SERVER span of each MCP request
(names, attributes, status), whose trace it continues (`_meta`, HTTP headers, neither), and the docs app's child
spans on a cache miss and a hit, through the real core and the real docs tools against the fixture origin."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.core.cache.backends.locmem import LocMemCache
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, get_current_span
from pytest_django.fixtures import Settings

from awsmcp import background, otel
from docs_proxy.cache.layers import page_l1
from mcp_gateway import jsonrpc, tracing
from mcp_gateway.catalogue import Tool
from mcp_gateway.protocol import REFUSED_META, McpServer
from mcp_gateway.server import get_server
from mcp_gateway.sessions import ServerSession
from mcp_gateway.transports import sse
from mcp_gateway.transports.link import SessionLink
from tests.mcp_gateway.conftest import Recorder, call, initialize, make_catalogue
from tests.support.origin import OriginServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACEPARENT = f"00-{OTHER_TRACE}-b7ad6b7169203331-01"
RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"


@pytest.fixture
async def server() -> McpServer:
    return McpServer(make_catalogue(), version="test", tracer=lambda: otel.tracer)


@pytest.fixture
async def session(server: McpServer) -> ServerSession:
    session = ServerSession("session-id-0123456789", "streamable-http", "aws")
    await initialize(server, session)
    return session


def server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]


def only_server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    found = server_spans(exporter)
    assert len(found) == 1, [span.name for span in found]
    return found[0]


def hex_ids(span: ReadableSpan) -> tuple[str, str | None]:
    """The span's trace id and its parent's span id, as a traceparent writes them."""
    assert span.context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    return f"{span.context.trace_id:032x}", parent


async def test_a_tool_call_is_a_server_span_with_the_mcp_attributes(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    spans.clear()
    reply = await call(server, session, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    assert reply["result"]["content"][0]["text"] == "hi"
    span = only_server_span(spans)
    assert span.name == "tools/call echo"
    assert dict(span.attributes or {}) == {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "echo",
        "gen_ai.operation.name": "execute_tool",
        "mcp.session.id": "session-id-0",  # the start only (SHORT_ID_CHARS): the whole id is a credential
        "mcp.protocol.version": "2025-11-25",
        "jsonrpc.request.id": "1",
        "awsmcp.partition": "aws",
        "awsmcp.transport": "streamable-http",
        "network.transport": "tcp",
        "network.protocol.name": "http",
        "awsmcp.outcome": "ok",
    }
    assert span.status.status_code == StatusCode.UNSET
    assert span.resource.attributes["service.name"] == "awsmcp"
    assert span.resource.attributes["service.instance.id"]


@pytest.mark.parametrize(
    ("params", "name", "error_type", "outcome"),
    [
        ({"name": "failing"}, "tools/call failing", "tool_error", "tool_error"),
        ({"name": "echo", "arguments": {}}, "tools/call echo", "tool_error", "tool_error"),  # invalid arguments
        ({"name": "no-such-tool"}, "tools/call", "-32602", "error -32602"),  # a made-up name stays out of the name
    ],
)
async def test_failed_calls_are_error_spans_saying_what_failed(
    spans: InMemorySpanExporter,
    server: McpServer,
    session: ServerSession,
    params: dict[str, Any],
    name: str,
    error_type: str,
    outcome: str,
) -> None:
    spans.clear()
    await call(server, session, "tools/call", params)
    span = only_server_span(spans)
    assert span.name == name
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == error_type
    assert span.attributes["awsmcp.outcome"] == outcome
    assert span.attributes["gen_ai.tool.name"] == params["name"]


async def test_an_unknown_method_is_an_error_span(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    spans.clear()
    reply = await call(server, session, "no/such/method")
    assert reply["error"]["code"] == jsonrpc.METHOD_NOT_FOUND
    span = only_server_span(spans)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == str(jsonrpc.METHOD_NOT_FOUND)
    assert span.status.status_code == StatusCode.ERROR


async def test_meta_traceparent_continues_the_clients_trace(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    spans.clear()
    meta = {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}
    await call(server, session, "tools/call", {"name": "echo", "arguments": {"text": "x"}, "_meta": meta})
    span = only_server_span(spans)
    assert hex_ids(span) == (TRACE_ID, CLIENT_SPAN)
    assert span.parent is not None and span.parent.is_remote
    assert span.context is not None and span.context.trace_state.get("vendor") == "1"


async def test_http_header_traceparent_continues_the_clients_trace(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    spans.clear()
    token = tracing.incoming.set(tracing.carrier({"traceparent": TRACEPARENT, "accept": "*/*"}))
    try:
        await call(server, session, "ping")
    finally:
        tracing.incoming.reset(token)
    assert hex_ids(only_server_span(spans)) == (TRACE_ID, CLIENT_SPAN)


async def test_meta_wins_over_the_http_header(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    spans.clear()
    token = tracing.incoming.set({"traceparent": OTHER_TRACEPARENT})
    try:
        await call(server, session, "ping", {"_meta": {"traceparent": TRACEPARENT}})
        await call(server, session, "ping", {"_meta": {"traceparent": "00-not-a-traceparent"}})
    finally:
        tracing.incoming.reset(token)
    with_meta, malformed_meta = server_spans(spans)
    assert hex_ids(with_meta)[0] == TRACE_ID
    assert hex_ids(malformed_meta)[0] == OTHER_TRACE  # a malformed _meta one falls back to the header's


async def test_link_mode_starts_a_new_trace_linking_the_clients(
    spans: InMemorySpanExporter, session: ServerSession
) -> None:
    """MCP_TRACE_CLIENT_CONTEXT=link: a public server keeps its trace ids its own and still records the client's."""
    server = McpServer(make_catalogue(), version="test", tracer=lambda: otel.tracer, trace_link=True)
    spans.clear()
    await call(server, session, "ping", {"_meta": {"traceparent": TRACEPARENT}})
    await call(server, session, "ping")  # nothing to link to
    linked, alone = server_spans(spans)
    trace_id, parent = hex_ids(linked)
    assert parent is None and trace_id != TRACE_ID
    assert [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in linked.links] == [
        (TRACE_ID, CLIENT_SPAN)
    ]
    assert hex_ids(alone)[1] is None and not alone.links


async def test_a_rate_refusal_is_reported_as_refused_as_the_audit_trail_says(
    spans: InMemorySpanExporter, session: ServerSession
) -> None:
    async def refusing(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "slow down"}], "isError": True, "_meta": {REFUSED_META: "rate"}}

    catalogue = make_catalogue()
    catalogue.add_tool(Tool("refusing", "Refused", {"type": "object", "properties": {}}, refusing))
    server = McpServer(catalogue, version="test", tracer=lambda: otel.tracer)
    await initialize(server, session)
    spans.clear()
    await call(server, session, "tools/call", {"name": "refusing"})
    span = only_server_span(spans)
    assert span.attributes is not None
    assert (span.attributes["awsmcp.outcome"], span.attributes["error.type"]) == ("refused", "refused")
    assert span.status.status_code == StatusCode.ERROR


async def test_a_background_loop_started_inside_a_request_runs_outside_its_trace(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    """The loop outlives the request: it must not carry the client's span or trace context for ever."""
    seen: list[tuple[bool, Any]] = []
    ran = asyncio.Event()

    async def loop_body() -> None:
        seen.append((get_current_span().get_span_context().is_valid, tracing.current.get()))
        ran.set()
        await asyncio.Event().wait()

    async def starting(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        assert get_current_span().get_span_context().is_valid  # inside the request's SERVER span
        background.ensure("trace-free-loop")
        return {"content": []}

    background.register("trace-free-loop", loop_body)
    catalogue = make_catalogue()
    catalogue.add_tool(Tool("starting", "Starts a loop", {"type": "object", "properties": {}}, starting))
    traced = McpServer(catalogue, version="test", tracer=lambda: otel.tracer)
    await initialize(traced, session)
    token = tracing.current.set(tracing.parse({"traceparent": TRACEPARENT}))
    try:
        await call(traced, session, "tools/call", {"name": "starting", "_meta": {"traceparent": TRACEPARENT}})
        await asyncio.wait_for(ran.wait(), 10)
    finally:
        tracing.current.reset(token)
        await background.stop()
        background._loops.pop("trace-free-loop")
    assert seen == [(False, None)]


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        42,
    ],
)
async def test_a_malformed_traceparent_starts_a_new_trace(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession, traceparent: Any
) -> None:
    spans.clear()
    reply = await call(server, session, "ping", {"_meta": {"traceparent": traceparent}})
    assert reply["result"] == {}
    trace_id, parent = hex_ids(only_server_span(spans))
    assert parent is None
    assert trace_id not in (TRACE_ID, "0" * 32)


async def test_log_lines_carry_the_server_spans_ids(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession
) -> None:
    """A line logged while the request runs names the server's span (a child of the client's), not the client's."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(tracing.TraceFilter())
    logger = logging.getLogger("mcp_gateway.protocol")  # where the core logs a crashed tool
    logger.addHandler(keep)
    spans.clear()
    try:
        await call(server, session, "tools/call", {"name": "crashing", "_meta": {"traceparent": TRACEPARENT}})
        logger.warning("after the request")
    finally:
        logger.removeHandler(keep)
    span = only_server_span(spans)
    assert span.context is not None
    inside, after = records
    assert inside.trace_id == TRACE_ID  # type: ignore[attr-defined]
    assert inside.span_id == f"{span.context.span_id:016x}" != CLIENT_SPAN  # type: ignore[attr-defined]
    assert after.trace_id is None  # type: ignore[attr-defined]


class StuckExporter(SpanExporter):
    """An exporter whose first export waits until released: a collector that stopped answering."""

    def __init__(self) -> None:
        self.stuck = threading.Event()
        self.release = threading.Event()
        self.exported: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.stuck.set()
        self.release.wait(30)
        self.exported.extend(spans)
        return SpanExportResult.SUCCESS


async def test_a_full_export_queue_drops_spans_and_never_blocks_a_request(
    monkeypatch: pytest.MonkeyPatch, server: McpServer, session: ServerSession
) -> None:
    """OTEL_BSP_MAX_QUEUE_SIZE is the bound: with the exporter stuck, requests go on and the oldest spans go."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    exporter = StuckExporter()
    otel.setup(exporter)
    try:
        for _ in range(50):  # every one answered while the exporter holds the first batch
            assert (await call(server, session, "ping"))["result"] == {}
        assert exporter.stuck.wait(10), "the exporter was never called"
    finally:
        exporter.release.set()
        otel.shutdown()
    assert 1 <= len(exporter.exported) <= 4 + 2  # the queue's 4 and the batch in flight; the other 44+ dropped


# --- the docs app's child spans, through the real tools ---------------------------------------------------------
@pytest.fixture
async def docs_settings(settings: Settings, origin: OriginServer) -> AsyncIterator[None]:
    """The docs tools fetch from the fixture origin; L2 is a fresh in-memory cache, L1 starts empty; the
    background loops the tools start (housekeeping, flushers) really start, and are stopped after."""
    for name, value in origin.settings_env().items():
        setattr(settings, name, value if name != "DOCS_TRUST_ENV_PROXIES" else False)
    location = f"traces-{time.time_ns()}"
    settings.CACHES = {
        **settings.CACHES,
        "docs": {"BACKEND": f"{LocMemCache.__module__}.LocMemCache", "LOCATION": location},
    }
    settings.DOCS_INDEX_ENABLED = False
    settings.MCP_RATELIMIT_ENABLED = False  # per-tool rules are read from the database, which these tests leave shut
    page_l1().clear()
    yield
    await background.stop()


async def test_a_cold_read_has_cache_misses_an_origin_fetch_and_a_conversion_and_a_warm_one_an_l1_hit(
    spans: InMemorySpanExporter, docs_settings: None
) -> None:
    server = get_server()
    session = ServerSession("docs-session-0123456789", "sse", "aws")
    await initialize(server, session)
    read = {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 500}}

    spans.clear()
    cold = await server.handle_payload(
        session, jsonrpc.payload_from({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": read}), Recorder()
    )
    assert not cold[0]["result"].get("isError"), cold
    by_name = {span.name: span for span in spans.get_finished_spans()}
    root = by_name["tools/call read_documentation"]
    assert root.attributes is not None and root.attributes["network.protocol.name"] == "http"
    assert {"docs.cache.l1", "docs.cache.l2", "docs.origin.fetch", "docs.convert"} <= set(by_name)
    assert by_name["docs.cache.l1"].attributes == {"awsmcp.cache.entry": "page", "awsmcp.cache.hit": False}
    assert by_name["docs.cache.l2"].attributes == {"awsmcp.cache.entry": "page", "awsmcp.cache.hit": False}
    fetch = dict(by_name["docs.origin.fetch"].attributes or {})
    assert fetch["url.full"] == RDS and fetch["http.response.status_code"] == 200
    assert fetch["http.response.body.size"] > 0 and fetch["awsmcp.fetch.conditional"] is False
    convert = dict(by_name["docs.convert"].attributes or {})
    assert convert["awsmcp.convert.bytes_in"] == fetch["http.response.body.size"]
    assert convert["awsmcp.convert.markdown_chars"] > 0
    for child in ("docs.cache.l1", "docs.cache.l2", "docs.origin.fetch", "docs.convert"):  # one trace, one tree
        assert hex_ids(by_name[child])[0] == hex_ids(root)[0]
    assert root.context is not None
    assert (
        by_name["docs.cache.l1"].parent is not None and by_name["docs.cache.l1"].parent.span_id == root.context.span_id
    )

    spans.clear()
    await server.handle_payload(
        session, jsonrpc.payload_from({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": read}), Recorder()
    )
    names = [span.name for span in spans.get_finished_spans()]
    assert sorted(names) == ["docs.cache.l1", "tools/call read_documentation"]
    l1 = next(span for span in spans.get_finished_spans() if span.name == "docs.cache.l1")
    assert l1.attributes is not None and l1.attributes["awsmcp.cache.hit"] is True


async def test_a_legacy_post_forwarded_to_the_streams_process_keeps_its_trace_header(
    spans: InMemorySpanExporter, server: McpServer, session: ServerSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST landing on another process travels over the channel layer with its trace headers; the stream's
    inbox hands them to the core (here one process's real InMemoryChannelLayer stands for Redis)."""
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(sse, "get_channel_layer", lambda: layer)
    stream = sse.LegacySseStream({"type": "http", "headers": []}, None, None)
    stream.channel_name = await layer.new_channel()
    sent: list[Any] = []

    async def keep(message: Any) -> None:
        sent.append(message)

    async def close(reason: str) -> None:
        pass

    stream.link = SessionLink(server, session, keep, close)
    inbox = asyncio.create_task(stream._inbox(layer))
    spans.clear()
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    assert await sse._forward(stream.channel_name, ping, None, tracing.carrier({"traceparent": TRACEPARENT}))
    await layer.send(stream.channel_name, {"type": sse.INBOX_END})
    await inbox
    for task in list(stream.link.tasks):
        await task
    assert sent == [{"jsonrpc": "2.0", "id": 9, "result": {}}]
    assert hex_ids(only_server_span(spans)) == (TRACE_ID, CLIENT_SPAN)
