"""The official `mcp` SDK against a real Daphne, over every transport."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from tests.support.clients import TRANSPORTS, open_session
from tests.support.processes import DaphneServer


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_initialize_list_call_ping(server: DaphneServer, transport: str) -> None:
    async with open_session(server, transport) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert "test_simple_text" in names
        result = await session.call_tool("test_simple_text", {})
        assert not result.is_error
        assert result.content[0].text == "This is a simple text response for testing."
        await session.send_ping()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancel_stops_a_running_call_and_the_session_goes_on(server: DaphneServer, transport: str) -> None:
    async with open_session(server, transport) as session:
        with anyio.move_on_after(0.5) as scope:
            await session.call_tool("awsmcp_test_sleep", {"seconds": 30})
        assert scope.cancelled_caught
        result = await session.call_tool("test_simple_text", {})
        assert result.content[0].text.startswith("This is a simple text")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_progress_notifications_reach_the_caller(server: DaphneServer, transport: str) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with open_session(server, transport) as session:
        result = await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert not result.is_error
    assert seen == [0, 50, 100]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_partition_is_chosen_per_connection(server: DaphneServer, transport: str) -> None:
    async with open_session(server, transport, query="partition=aws-cn") as session:
        info = await session.initialize()
        assert info.instructions is not None and "docs.amazonaws.cn" in info.instructions
    async with open_session(server, transport) as session:
        info = await session.initialize()
        assert info.instructions is not None and "docs.aws.amazon.com" in info.instructions


async def test_client_default_mode_gets_the_stateless_revision(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_info is not None and client.server_info.name == "awsmcp"
        tools = await client.list_tools()
        assert "test_simple_text" in {t.name for t in tools.tools}
        result = await client.call_tool("test_simple_text", {})
        assert result.content[0].text.startswith("This is a simple text")


async def test_client_legacy_mode_over_streamable_http(server: DaphneServer) -> None:
    async with Client(server.mcp_url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        result = await client.call_tool("test_simple_text", {})
        assert result.content[0].text.startswith("This is a simple text")


async def test_unknown_tool_is_an_error_the_client_sees(server: DaphneServer) -> None:
    async with open_session(server, "streamable-http") as session:
        with pytest.raises(MCPError) as info:
            await session.call_tool("no_such_tool", {})
        assert info.value.error.code == -32602


async def test_sessions_are_independent(server: DaphneServer) -> None:
    """A session that vanishes mid-call leaves the others working."""
    async with open_session(server, "sse") as survivor:
        with anyio.move_on_after(0.5):
            async with open_session(server, "sse") as doomed:
                await doomed.call_tool("awsmcp_test_sleep", {"seconds": 30})
        result = await survivor.call_tool("test_simple_text", {})
        assert not result.is_error
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.base}/healthz")).status_code == 200
