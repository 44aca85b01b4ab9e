"""Keep-alive: SSE comments, server pings on every stream, and closing clients that stop answering."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.support.clients import TRANSPORTS, open_session
from tests.support.processes import DaphneServer
from tests.support.raw import initialize_request, request, streamable_session


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_silent_legacy_client_gets_pinged_then_closed(
    pinging_server: DaphneServer, http: httpx.AsyncClient
) -> None:
    lines: list[str] = []
    started = time.monotonic()
    async with http.stream("GET", pinging_server.sse_url) as response:
        post_url = None
        async for line in response.aiter_lines():
            lines.append(line)
            if post_url is None and line.startswith("data: /mcp/message"):
                post_url = f"{pinging_server.base}{line[6:]}"
                await http.post(post_url, json=initialize_request("2024-11-05"))
        # the loop ends when the server closes the stream
    elapsed = time.monotonic() - started
    pings = [json.loads(line[6:]) for line in lines if line.startswith("data: {") and '"ping"' in line]
    assert len(pings) >= 2 and all(p["method"] == "ping" for p in pings)
    assert ": keepalive" in lines
    assert elapsed < 10
    assert (await http.post(post_url, json=request("ping"))).status_code == 404


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_answering_clients_stay_connected(pinging_server: DaphneServer, transport: str) -> None:
    async with open_session(pinging_server, transport) as session:
        await asyncio.sleep(2.0)  # several ping rounds, each answered by the SDK
        result = await session.call_tool("test_simple_text", {})
        assert not result.is_error


async def get_stream_pings(
    http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str], answer: int = 0
) -> int:
    """Read the session's GET stream until the server ends it, or until `answer` pings were answered (by POST,
    as a client does); how many pings came."""
    pings = 0
    async with http.stream("GET", server.mcp_url, headers={**headers, "accept": "text/event-stream"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"ping"' in line:
                pings += 1
                if answer:
                    reply = {"jsonrpc": "2.0", "id": json.loads(line[6:])["id"], "result": {}}
                    assert (await http.post(server.mcp_url, json=reply, headers=headers)).status_code == 202
                    if pings == answer:
                        break
    return pings


async def test_streamable_get_stream_is_pinged_and_closed_when_silent(
    pinging_server: DaphneServer, http: httpx.AsyncClient
) -> None:
    headers = await streamable_session(http, pinging_server.mcp_url)
    assert await get_stream_pings(http, pinging_server, headers) >= 2
    # Only the stream ends: the answers are POSTs, which in a fleet may reach another process, so the silence seen
    # here does not prove the client gone (the idle sweep ends a session whose client left).
    reply = await http.post(pinging_server.mcp_url, json=request("ping"), headers=headers)
    assert reply.status_code == 200, reply.text
    assert (await http.delete(pinging_server.mcp_url, headers=headers)).status_code == 204


async def test_streamable_get_stream_stays_open_while_pings_are_answered(
    pinging_server: DaphneServer, http: httpx.AsyncClient
) -> None:
    """More pings on one GET stream than MCP_PING_MISSES_BEFORE_CLOSE allows unanswered: each answered by POST."""
    headers = await streamable_session(http, pinging_server.mcp_url)
    answered = await get_stream_pings(http, pinging_server, headers, answer=5)
    assert answered == 5, "the GET stream ended although every ping was answered"
    reply = await http.post(pinging_server.mcp_url, json=request("ping"), headers=headers)
    assert reply.status_code == 200, reply.text
    assert (await http.delete(pinging_server.mcp_url, headers=headers)).status_code == 204
