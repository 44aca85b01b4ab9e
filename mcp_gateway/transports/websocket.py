"""WebSocket transport at `/mcp/ws`: subprotocol `mcp`, one JSON-RPC message (or batch) per text frame.

The credential is proven once, at the handshake (a refused one is a refused handshake, which cannot carry a
challenge: WebSocket clients need a token beforehand). A frame needing a scope the principal lacks is answered with
-32003 (`mcp_gateway.scopes.INSUFFICIENT_SCOPE`); the warden closes the connection when its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qsl

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from mcp_gateway import directory, jsonrpc, scopes
from mcp_gateway.closing import CloseCode
from mcp_gateway.gate import get_gate
from mcp_gateway.server import get_server
from mcp_gateway.sessions import ServerSession, new_session_id, short_id
from mcp_gateway.transports.entrance import Caller, check_entrance, claim_stream, insufficient
from mcp_gateway.transports.link import SessionLink
from mcp_gateway.transports.security import client_ip

log = logging.getLogger(__name__)
TRANSPORT = "websocket"
SUBPROTOCOL = "mcp"


class McpWebsocketConsumer(AsyncWebsocketConsumer):
    session: ServerSession | None = None
    headers: dict[str, str]

    async def connect(self) -> None:
        headers = self.headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope.get("headers", ())
        }
        query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        caller = Caller(headers, client_ip(self.scope, headers), query)
        entry = await check_entrance(caller, TRANSPORT, partition=True)
        session_id = new_session_id()
        refused = entry.denied or await claim_stream(caller.client_ip, session_id, TRANSPORT)
        if refused is not None or entry.partition is None:
            await self.close()  # before accept: every refusal (401, 403, 421, 429, 503) is a refused handshake (403)
            return
        self.session = ServerSession(
            session_id,
            TRANSPORT,
            entry.partition,
            remote_ip=caller.client_ip,
            key_name=entry.key_name,
            principal=entry.principal,
        )
        self.link = SessionLink(get_server(), self.session, self._emit, self.close_session)
        subprotocols = self.scope.get("subprotocols") or []
        await self.accept(SUBPROTOCOL if SUBPROTOCOL in subprotocols else None)
        await directory.add(self)
        self.pinger = asyncio.create_task(self.link.keepalive())

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As Channels' own, without its `close_old_connections()` hop to the sync thread before every
        frame (an eighth of the WebSocket path's CPU, per py-spy): these handlers hold no database
        connection on the event loop; what touches the database runs in worker threads."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _emit(self, message: Any) -> None:
        data = jsonrpc.dumps(message)
        if self.session is not None:
            self.session.bytes_out += len(data)
        await self.send(text_data=data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        raw = text_data if text_data is not None else bytes_data or b""
        if len(raw) > settings.MCP_MAX_BODY_BYTES:
            error = jsonrpc.JsonRpcError(
                jsonrpc.INVALID_REQUEST, "Request too large: frames over the body limit are refused"
            )
            self.link.feed_invalid(error)
            return
        try:
            obj = jsonrpc.decode(raw)
        except jsonrpc.JsonRpcError as exc:
            self.link.feed_invalid(exc)
            return
        denied = await get_gate().check_rate(self.session.remote_ip, self.session.key_name, TRANSPORT)
        if denied is not None:
            self.link.refuse(obj, denied.message)  # the connection stays up
            return
        if self.refused_scopes(self.session, obj):
            return
        # The handshake's traceparent is not handed down: it would parent every message for hours (per-message
        # `_meta.traceparent` works).
        self.link.feed(obj)

    def refused_scopes(self, session: ServerSession, obj: Any) -> bool:
        """A frame needing a scope the connection's principal lacks: each request in it is answered with
        INSUFFICIENT_SCOPE naming every scope the frame needs (a WebSocket has no 403 to carry it); True then."""
        needed = scopes.frame_scopes(scopes.messages_of(obj), session.partition)
        refusal = insufficient(session.principal, needed, self.headers)
        if refusal is None:
            return False
        self.link.refuse(obj, refusal.message, scopes.INSUFFICIENT_SCOPE, {"requiredScopes": sorted(needed)})
        return True

    async def disconnect(self, code: int) -> None:
        if self.session is None:
            return
        await get_gate().release_stream(self.session.remote_ip, self.session.id)
        self.pinger.cancel()
        with contextlib.suppress(BaseException):
            await self.pinger
        await self.link.stop()
        await directory.remove(self.session.id)

    async def close_session(self, reason: str, code: CloseCode = CloseCode.POLICY) -> None:
        """Close with the code saying why (mcp_gateway.closing); the reason goes to the log, since Daphne sends
        none. Our disconnect() runs when the client's close frame comes back, which un-counts the session."""
        if self.session is not None:
            log.info("websocket session %s closed (%d): %s", short_id(self.session.id), code, reason)
        # Daphne drops the reason; other ASGI servers send it, within the frame's 123 bytes.
        await self.close(code=int(code), reason=reason.encode()[:120].decode(errors="ignore"))

    # Channel-layer events (close requested by the ops console, messages routed from elsewhere).
    async def mcp_close(self, event: dict[str, Any]) -> None:
        await self.close_session(event.get("reason", "closed by the server"), _close_code(event))

    async def mcp_message(self, event: dict[str, Any]) -> None:
        if self.session is not None:
            self.link.feed(event["payload"])


def _close_code(event: dict[str, Any]) -> CloseCode:
    try:
        return CloseCode(event.get("code", CloseCode.POLICY))
    except ValueError:
        return CloseCode.POLICY
