"""WebSocket transport at `/mcp/ws`: subprotocol `mcp`, one JSON-RPC message (or batch) per text frame."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qsl

from channels.generic.websocket import AsyncWebsocketConsumer

from mcp_gateway import directory, jsonrpc
from mcp_gateway.server import get_server
from mcp_gateway.sessions import ServerSession, new_session_id
from mcp_gateway.transports.common import choose_partition
from mcp_gateway.transports.link import SessionLink
from mcp_gateway.transports.security import entrance_refusal

TRANSPORT = "websocket"
SUBPROTOCOL = "mcp"
CLOSE_POLICY = 1008


class McpWebsocketConsumer(AsyncWebsocketConsumer):
    session: ServerSession | None = None

    async def connect(self) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope.get("headers", ())}
        query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        partition = choose_partition(query)
        if entrance_refusal(headers) is not None or partition is None:
            await self.close()  # before accept: the handshake is refused with 403
            return
        client = self.scope.get("client")
        self.session = ServerSession(new_session_id(), TRANSPORT, partition, remote_ip=client[0] if client else "")
        self.link = SessionLink(get_server(), self.session, self._emit, self.close_session)
        subprotocols = self.scope.get("subprotocols") or []
        await self.accept(SUBPROTOCOL if SUBPROTOCOL in subprotocols else None)
        await directory.add(self)
        self.pinger = asyncio.create_task(self.link.keepalive())

    async def _emit(self, message: Any) -> None:
        data = jsonrpc.dumps(message)
        if self.session is not None:
            self.session.bytes_out += len(data)
        await self.send(text_data=data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        raw = text_data if text_data is not None else bytes_data or b""
        try:
            obj = jsonrpc.decode(raw)
        except jsonrpc.JsonRpcError as exc:
            self.link.feed_invalid(exc)
            return
        self.link.feed(obj)

    async def disconnect(self, code: int) -> None:
        if self.session is None:
            return
        self.pinger.cancel()
        with contextlib.suppress(BaseException):
            await self.pinger
        await self.link.stop()
        await directory.remove(self.session.id)

    async def close_session(self, reason: str) -> None:
        await self.close(code=CLOSE_POLICY, reason=reason[:120])

    # Channel-layer events (close requested by the ops console, messages routed from elsewhere).
    async def mcp_close(self, event: dict[str, Any]) -> None:
        await self.close_session(event.get("reason", "closed by the server"))

    async def mcp_message(self, event: dict[str, Any]) -> None:
        if self.session is not None:
            self.link.feed(event["payload"])
