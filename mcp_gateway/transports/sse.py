"""Legacy HTTP+SSE transport (protocol 2024-11-05): `GET /mcp/sse` holds the stream, `POST /mcp/message` feeds it.

The POST may land on any process: when the stream is elsewhere it is forwarded over the channel layer to the
channel of the process holding it, which runs the session; the reply travels on that stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.layers import get_channel_layer

from mcp_gateway import directory, jsonrpc
from mcp_gateway.server import get_server
from mcp_gateway.sessions import ServerSession, new_session_id
from mcp_gateway.transports.common import admit, claim_stream, partition_from, release_stream
from mcp_gateway.transports.http import HttpEndpoint
from mcp_gateway.transports.link import SessionLink
from ops import limits

TRANSPORT = "sse"
log = logging.getLogger(__name__)


class LegacySseStream(HttpEndpoint):
    """GET /mcp/sse: one session per stream."""

    kind = "sse"
    channel_name: str | None = None
    session: ServerSession

    async def handle(self, body: bytes) -> None:
        if self.method != "GET":
            await self.send_error(405, "Method Not Allowed: open the stream with GET", headers=[("allow", "GET")])
            return
        key_name = await admit(self, TRANSPORT)
        if key_name is None:
            return
        partition = await partition_from(self)
        if partition is None:
            return
        session_id = new_session_id()
        if not await claim_stream(self, session_id, TRANSPORT):
            return
        layer = get_channel_layer()
        self.channel_name = await layer.new_channel()
        self.session = ServerSession(session_id, TRANSPORT, partition, remote_ip=self.client_ip, key_name=key_name)
        self.link = SessionLink(get_server(), self.session, self._emit, self.close_session)
        self.closing = asyncio.Event()
        self.close_reason = ""
        await self.start_stream()
        # Registered before the client learns the endpoint: its first POST may land on another process,
        # which must already find the session's record.
        await directory.add(self)
        await self.send_event(f"/mcp/message?session_id={self.session.id}", event="endpoint")
        loops = [
            asyncio.create_task(self._inbox(layer)),
            asyncio.create_task(self.keepalive_comments()),
            asyncio.create_task(self.link.keepalive()),
        ]
        try:
            await self.closing.wait()
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with contextlib.suppress(BaseException):
                    await task
        await self.finish()

    async def _emit(self, message: Any) -> None:
        data = jsonrpc.dumps(message)
        self.session.bytes_out += len(data)
        await self.send_event(data, event="message")

    async def _inbox(self, layer: Any) -> None:
        """Messages routed here from other processes; survives a channel layer that is down for a while."""
        while True:
            try:
                event = await layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("channel layer receive failed (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(1.0)
                continue
            kind = event.get("type")
            if kind == "mcp.message" and event.get("refuse"):
                self.link.refuse(event["payload"], event["refuse"])
            elif kind == "mcp.message":
                self.link.feed(event["payload"])
            elif kind == "mcp.close":
                await self.close_session(event.get("reason", "closed by the server"))

    async def close_session(self, reason: str) -> None:
        self.close_reason = reason
        self.closing.set()

    async def on_close(self) -> None:
        await release_stream(self)
        if self.channel_name is None:
            return
        await self.link.stop()
        await directory.remove(self.session.id)


class LegacyMessageEndpoint(HttpEndpoint):
    """POST /mcp/message?session_id=…: one client message, answered 202; the reply goes on the stream."""

    kind = "sse"

    async def handle(self, body: bytes) -> None:
        if self.method != "POST":
            await self.send_error(405, "Method Not Allowed: send messages with POST", headers=[("allow", "POST")])
            return
        key_name = await admit(self, TRANSPORT, rate=False)
        if key_name is None:
            return
        session_id = self.query.get("session_id", "")
        if not session_id:
            await self.send_error(400, "Bad Request: session_id query parameter is required")
            return
        holder = directory.local(session_id)
        channel = None
        if holder is None:
            found = await directory.lookup(session_id)
            channel = found.get("channel") if found and found.get("transport") == TRANSPORT else None
            if not channel or found.get("key_name", "") != key_name:
                await self.send_error(404, "Not Found: no such session (it may have ended)")
                return
        elif not isinstance(holder, LegacySseStream) or holder.session.key_name != key_name:
            await self.send_error(404, "Not Found: no such session (it may have ended)")
            return
        try:
            payload = jsonrpc.decode(body)
        except jsonrpc.JsonRpcError as exc:
            await self.send_json(400, jsonrpc.error_message(None, exc))
            return
        denied = await limits.check_rate(self.client_ip, key_name, TRANSPORT)
        if holder is not None:
            if denied is not None:
                holder.link.refuse(payload, denied.message)  # an error on the stream; the stream stays up
            else:
                holder.link.feed(payload)  # the stream is in this process: no trip through the channel layer
        else:
            try:
                message = {"type": "mcp.message", "payload": payload}
                if denied is not None:
                    message["refuse"] = denied.message
                layer = get_channel_layer()
                try:
                    await layer.send(channel, message)
                except Exception:
                    await layer.send(channel, message)  # once more, on a fresh connection
            except Exception as exc:  # the layer is down: say so, the client may retry
                log.warning("channel layer send failed: %s", exc.__class__.__name__)
                await self.send_error(503, "Service Unavailable: cannot reach the process holding this session")
                return
        await self.send_response(202, [("content-type", "text/plain")], b"Accepted")
