"""Runs a session whose every server message travels on one long-lived link (legacy SSE, WebSocket).

Each incoming payload is handled in its own task, so a long tool call never delays a ping or a
cancel; replies and in-call messages go out on the link in the order they are made. The keep-alive
loop pings the client and closes the link after repeated unanswered pings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from mcp_gateway import jsonrpc
from mcp_gateway.closing import CloseCode
from mcp_gateway.keepalive import ping_until_silent
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import Emit, ServerSession


class SessionLink:
    def __init__(
        self,
        server: McpServer,
        session: ServerSession,
        send: Emit,
        close: Callable[[str, CloseCode], Awaitable[None]],
    ) -> None:
        self.server = server
        self.session = session
        self._send = send
        self._close = close
        self.tasks: set[asyncio.Task[Any]] = set()

    async def send(self, message: Any) -> None:
        self.session.messages_out += 1
        await self._send(message)

    def feed(self, obj: Any) -> None:
        """Take one decoded JSON frame from the client; its handling runs in a task of its own."""
        try:
            payload = jsonrpc.payload_from(obj)
        except jsonrpc.JsonRpcError as exc:
            self._spawn(self.send(jsonrpc.error_message(None, exc)))
            return
        self._spawn(self._handle(payload))

    def refuse(self, obj: Any, message: str, code: int = jsonrpc.RATE_LIMITED, data: Any = None) -> None:
        """Answer every request in a frame with an error (a rate limit unless told); notifications are dropped."""
        items = obj if isinstance(obj, list) else [obj]
        error = jsonrpc.JsonRpcError(code, message, data)
        for item in items:
            if isinstance(item, dict) and "method" in item and "id" in item:
                self._spawn(self.send(jsonrpc.error_message(item.get("id"), error)))

    def feed_invalid(self, error: jsonrpc.JsonRpcError) -> None:
        self._spawn(self.send(jsonrpc.error_message(None, error)))

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, payload: jsonrpc.Payload) -> None:
        refusal = self.server.batch_refusal(self.session, payload)
        if refusal is not None:
            await self.send(refusal)
            return
        replies = await self.server.handle_payload(self.session, payload, self.send)
        if replies:
            await self.send(replies if payload.is_batch else replies[0])

    async def keepalive(self) -> None:
        """Ping the client; close the link once it stops answering."""
        await ping_until_silent(self.session, self.send)
        await self._close("client stopped answering pings", CloseCode.PING_TIMEOUT)

    async def stop(self) -> None:
        """The link is gone: cancel every call in flight and wait for them to unwind."""
        self.session.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
