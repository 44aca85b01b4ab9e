"""Spans over OTLP/HTTP from a real server: Daphne with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a test receiver,
real SDK clients sending a `traceparent` header on each transport; and a server with tracing off sending nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.support.origin import OriginServer
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import DaphneServer, daphne, stop
from tests.support.ws_client import websocket_client

RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
CLIENT_SPAN = "00f067aa0ba902b7"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER


def traceparent(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01", "tracestate": "client=1"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def traced(receiver: OtlpReceiver, origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        **origin.settings_env(),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.base,
        OTEL_BSP_SCHEDULE_DELAY="50",  # milliseconds: the spans leave at once rather than every 5 s
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
    ) as server:
        yield server


@asynccontextmanager
async def traced_session(server: DaphneServer, transport: str, trace_id: str) -> AsyncIterator[ClientSession]:
    """An initialized SDK session whose every HTTP request (or WebSocket handshake) carries the client's
    traceparent header for `trace_id`."""
    headers = traceparent(trace_id)
    async with AsyncExitStack() as stack:
        if transport == "streamable-http":
            client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            opener = streamable_http_client(server.mcp_url, http_client=client)
        elif transport == "sse":
            opener = sse_client(server.sse_url, headers=headers)
        else:
            opener = websocket_client(server.ws_url, headers=headers)
        streams = await stack.enter_async_context(opener)
        session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
        await session.initialize()
        yield session


def server_span(receiver: OtlpReceiver, trace_id: str, name: str) -> ReceivedSpan:
    return receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == name and s.kind == SERVER_KIND)


async def test_a_streamable_http_call_continues_the_clients_trace_at_the_collector(
    traced: DaphneServer, receiver: OtlpReceiver
) -> None:
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4736"
    async with traced_session(traced, "streamable-http", trace_id) as session:
        result = await session.call_tool("read_documentation", {"url": RDS, "max_length": 300})
        assert not result.is_error
    span = server_span(receiver, trace_id, "tools/call read_documentation")
    assert span.parent_span_id == CLIENT_SPAN
    assert span.attributes["gen_ai.tool.name"] == "read_documentation"
    assert span.attributes["awsmcp.transport"] == "streamable-http"
    assert span.attributes["awsmcp.outcome"] == "ok"
    assert span.resource["service.name"] == "awsmcp"
    assert span.resource["service.instance.id"]
    assert span.resource["deployment.environment.name"] == "test"
    lookup = receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == "docs.cache.l1")
    assert lookup.parent_span_id == span.span_id


async def test_legacy_sse_posts_hand_their_traceparent_down(traced: DaphneServer, receiver: OtlpReceiver) -> None:
    trace_id = "6bf92f3577b34da6a3ce929d0e0e4736"
    async with traced_session(traced, "sse", trace_id) as session:
        await session.list_tools()
    span = server_span(receiver, trace_id, "tools/list")
    assert span.parent_span_id == CLIENT_SPAN
    assert span.attributes["awsmcp.transport"] == "sse"
    assert span.attributes["network.protocol.name"] == "http"


async def test_a_websocket_message_follows_its_meta_never_the_handshakes_traceparent(
    traced: DaphneServer, receiver: OtlpReceiver
) -> None:
    """The handshake's header would parent every message of a connection that lasts hours: only `_meta` counts."""
    handshake, message = "7bf92f3577b34da6a3ce929d0e0e4736", "9bf92f3577b34da6a3ce929d0e0e4736"
    async with traced_session(traced, "websocket", handshake) as session:
        meta = {"traceparent": f"00-{message}-{CLIENT_SPAN}-01"}
        result = await session.call_tool("read_documentation", {"url": RDS, "max_length": 300}, meta=meta)  # type: ignore[arg-type]
        assert not result.is_error
        await session.list_tools()
    called = server_span(receiver, message, "tools/call read_documentation")
    assert called.parent_span_id == CLIENT_SPAN
    assert called.attributes["network.protocol.name"] == "websocket"
    listed = receiver.wait_for(
        lambda s: s.name == "tools/list" and s.kind == SERVER_KIND and s.attributes["awsmcp.transport"] == "websocket"
    )
    assert listed.trace_id not in (handshake, message) and not listed.parent_span_id
    assert receiver.of_trace(handshake) == []


async def test_with_tracing_off_nothing_reaches_the_collector(receiver: OtlpReceiver) -> None:
    """OTEL_TRACES_EXPORTER=none overrides a configured endpoint; the server exits (where it would flush its
    queue) and the receiver holds no span of the client's trace."""
    trace_id = "8bf92f3577b34da6a3ce929d0e0e4736"
    with daphne(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.base, OTEL_TRACES_EXPORTER="none") as server:
        async with traced_session(server, "streamable-http", trace_id) as session:
            await session.list_tools()
        stop(server.proc)
        assert server.proc.returncode == 0, server.log()
    assert receiver.of_trace(trace_id) == []
