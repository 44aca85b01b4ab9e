"""The official `mcp` SDK clients, opened the same way for each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.processes import DaphneServer
from tests.support.ws_client import websocket_client

TRANSPORTS = ("sse", "streamable-http", "websocket")


@asynccontextmanager
async def open_session(
    server: DaphneServer, transport: str, query: str = "", **kwargs: Any
) -> AsyncIterator[ClientSession]:
    """An initialized SDK ClientSession over the named transport."""
    suffix = f"?{query}" if query else ""
    if transport == "sse":
        opener = sse_client(server.sse_url + suffix)
    elif transport == "streamable-http":
        opener = streamable_http_client(server.mcp_url + suffix)
    elif transport == "websocket":
        opener = websocket_client(server.ws_url + suffix)
    else:
        raise ValueError(transport)
    async with opener as streams, ClientSession(streams[0], streams[1], **kwargs) as session:
        await session.initialize()
        yield session
