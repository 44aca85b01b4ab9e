"""The stateless 2026-07-28 revision: `server/discover` and requests that carry their own `_meta`."""

from __future__ import annotations

from typing import Any

from mcp_gateway.jsonrpc import Payload, Request
from mcp_gateway.protocol import McpServer
from mcp_gateway.versions import STATELESS_VERSIONS


def is_stateless(payload: Payload, version_header: str | None) -> bool:
    if version_header in STATELESS_VERSIONS:
        return True
    return any(isinstance(m, Request) and m.method == "server/discover" for m in payload.messages)


async def handle(server: McpServer, payload: Payload, partition: str, remote_ip: str) -> list[dict[str, Any]]:
    raise NotImplementedError
