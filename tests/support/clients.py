"""The official `mcp` SDK clients, opened the same way for each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.processes import Endpoints
from tests.support.ws_client import websocket_client

TRANSPORTS = ("sse", "streamable-http", "websocket")


@asynccontextmanager
async def open_session(
    server: Endpoints, transport: str, query: str = "", http_timeout: float | None = None, **kwargs: Any
) -> AsyncIterator[ClientSession]:
    """An initialized SDK ClientSession over the named transport.

    `http_timeout` replaces the SSE client's 5 s for connects and POSTs, for tests that open a burst of sessions.
    """
    suffix = f"?{query}" if query else ""
    if transport == "sse":
        opener = sse_client(server.sse_url + suffix, timeout=http_timeout or 5.0)
    elif transport == "streamable-http":
        opener = streamable_http_client(server.mcp_url + suffix)
    elif transport == "websocket":
        opener = websocket_client(server.ws_url + suffix)
    else:
        raise ValueError(transport)
    async with opener as streams, ClientSession(streams[0], streams[1], **kwargs) as session:
        await session.initialize()
        yield session
