"""Legacy HTTP+SSE (/mcp/sse + /mcp/message) with hand-made traffic: bad input never breaks the stream."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.processes import DaphneServer
from tests.support.raw import LegacySse, request


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_endpoint_event_then_replies_on_the_stream(server: DaphneServer, http: httpx.AsyncClient) -> None:
    async with LegacySse(http, server.sse_url) as sse:
        assert "/mcp/message?session_id=" in sse.post_url
        reply = await sse.initialize()
        assert reply["result"]["protocolVersion"] == "2024-11-05"
        assert (await sse.post(request("tools/list", msg_id=2))).status_code == 202
        listed = await sse.next_message()
        assert listed["id"] == 2 and listed["result"]["tools"]


async def test_request_before_initialize_is_refused_on_the_stream(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    async with LegacySse(http, server.sse_url) as sse:
        await sse.post(request("tools/list", msg_id=1))
        reply = await sse.next_message()
        assert reply["error"]["code"] == -32600


async def test_non_json_is_400_and_the_stream_stays_up(server: DaphneServer, http: httpx.AsyncClient) -> None:
    async with LegacySse(http, server.sse_url) as sse:
        await sse.initialize()
        bad = await sse.post(b"this is not json")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
        await sse.post(request("ping", msg_id=3))
        assert (await sse.next_message())["id"] == 3


async def test_invalid_messages_get_errors_on_the_stream(server: DaphneServer, http: httpx.AsyncClient) -> None:
    async with LegacySse(http, server.sse_url) as sse:
        await sse.initialize()
        await sse.post({"id": 4, "method": "ping"})  # no "jsonrpc"
        assert (await sse.next_message())["error"]["code"] == -32600
        await sse.post([request("ping", msg_id=5), request("ping", msg_id=6)])  # no batches in 2024-11-05
        assert (await sse.next_message())["error"]["code"] == -32600
        await sse.post(request("resources/read", {"uri": 7}, msg_id=7))
        assert (await sse.next_message())["error"]["code"] == -32602
        await sse.post(request("ping", msg_id=8))
        assert (await sse.next_message())["id"] == 8


async def test_unknown_session_and_missing_id_are_refused(server: DaphneServer, http: httpx.AsyncClient) -> None:
    unknown = await http.post(f"{server.base}/mcp/message?session_id=not-a-session", json=request("ping"))
    assert unknown.status_code == 404
    missing = await http.post(f"{server.base}/mcp/message", json=request("ping"))
    assert missing.status_code == 400


async def test_oversized_post_is_413(server: DaphneServer, http: httpx.AsyncClient) -> None:
    async with LegacySse(http, server.sse_url) as sse:
        await sse.initialize()
        huge = request("ping", {"pad": "x" * 100_000}, msg_id=9)
        assert (await sse.post(huge)).status_code == 413
        await sse.post(request("ping", msg_id=10))
        assert (await sse.next_message())["id"] == 10


async def test_a_vanished_client_frees_its_session(server: DaphneServer, http: httpx.AsyncClient) -> None:
    """The client leaves mid-call: within seconds its session is gone and the server carries on."""
    async with LegacySse(http, server.sse_url) as sse:
        await sse.initialize()
        await sse.post(request("tools/call", {"name": "awsmcp_test_sleep", "arguments": {"seconds": 30}}, msg_id=2))
        post_url = sse.post_url
    for _ in range(50):
        if (await http.post(post_url, json=request("ping"))).status_code == 404:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the session outlived its stream")
    async with LegacySse(http, server.sse_url) as other:
        assert "result" in await other.initialize()
