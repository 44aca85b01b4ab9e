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

from mcp_gateway import directory, jsonrpc, scopes, tracing
from mcp_gateway.closing import CloseCode
from mcp_gateway.gate import Principal, get_gate
from mcp_gateway.server import get_server
from mcp_gateway.sessions import ServerSession, new_session_id, short_id
from mcp_gateway.transports.common import admit, claim_stream, release_stream, send_denied
from mcp_gateway.transports.entrance import insufficient, refuse_scopes
from mcp_gateway.transports.http import HttpEndpoint
from mcp_gateway.transports.link import SessionLink

TRANSPORT = "sse"
INBOX_END = "mcp.inbox_end"
INBOX_END_WAIT = 5.0  # seconds a closing stream waits for its inbox to take the end message
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
        entry = await admit(self, TRANSPORT, partition=True)
        if entry is None or entry.partition is None:
            return
        if await self.refused_partition(entry.principal, entry.partition):
            return
        session_id = new_session_id()
        if not await claim_stream(self, session_id, TRANSPORT):
            return
        layer = get_channel_layer()
        self.channel_name = await layer.new_channel()
        self.session = ServerSession(
            session_id,
            TRANSPORT,
            entry.partition,
            remote_ip=self.client_ip,
            key_name=entry.key_name,
            principal=entry.principal,
        )
        self.link = SessionLink(get_server(), self.session, self._emit, self.close_session)
        self.closing = asyncio.Event()
        await self.start_stream()
        # Registered before the client learns the endpoint: its first POST may land on another process,
        # which must already find the session's record.
        await directory.add(self)
        await self.send_event(f"/mcp/message?session_id={self.session.id}", event="endpoint")
        inbox = asyncio.create_task(self._inbox(layer))
        loops = [asyncio.create_task(self.keepalive_comments()), asyncio.create_task(self.link.keepalive())]
        try:
            await self.closing.wait()
        finally:
            for task in loops:
                task.cancel()
            await self._end_inbox(layer, inbox)
            for task in loops:
                with contextlib.suppress(BaseException):
                    await task
        await self.finish()

    async def refused_partition(self, principal: Principal, partition: str) -> bool:
        """A partition restricted to a scope the principal lacks is refused before the stream opens (403 with the
        challenge); True after answering."""
        refusal = insufficient(principal, scopes.partition_scopes(partition), self.headers)
        if refusal is not None:
            await send_denied(self, refusal)
        return refusal is not None

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
            if kind == INBOX_END:
                return
            if kind == "mcp.message" and event.get("refuse"):
                self.link.refuse(event["payload"], event["refuse"])
            elif kind == "mcp.message":
                trace = tracing.incoming.set(event.get("trace"))  # the POST's trace headers, from its process
                self.link.feed(event["payload"])
                tracing.incoming.reset(trace)
            elif kind == "mcp.close":
                await self.close_session(event.get("reason", "closed by the server"))

    async def _end_inbox(self, layer: Any, inbox: asyncio.Task[None]) -> None:
        """End the inbox with a message of its own rather than by cancelling it: the process's streams share
        one Redis pop (channels-redis), and a receive cancelled while it pops loses a message meant for another
        stream of this process. Cancelled only if the end message cannot come through in time."""
        try:
            await layer.send(self.channel_name, {"type": INBOX_END})
            await asyncio.wait_for(asyncio.shield(inbox), INBOX_END_WAIT)
            return
        except asyncio.CancelledError:
            inbox.cancel()
            raise
        except Exception as exc:  # the layer is away or slow: nothing can be lost through it now
            log.info("stream %s inbox ended by cancel: %s", short_id(self.session.id), exc.__class__.__name__)
        inbox.cancel()
        with contextlib.suppress(BaseException):
            await inbox

    async def close_session(self, reason: str, code: CloseCode = CloseCode.POLICY) -> None:
        """End the stream (no close code on SSE: the reason is logged); on_close un-counts the session."""
        log.info("sse session %s closed: %s", short_id(self.session.id), reason)
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
        entry = await admit(self, TRANSPORT, rate=False)
        if entry is None:
            return
        located = await self.find_stream(entry.key_name)
        if located is None:
            return
        found, partition = located
        try:
            payload = jsonrpc.decode(body)
        except jsonrpc.JsonRpcError as exc:
            await self.send_json(400, jsonrpc.error_message(None, exc))
            return
        # Counted here rather than at the entrance: a refusal is answered on the stream, which stays up.
        denied = await get_gate().check_rate(self.client_ip, entry.key_name, TRANSPORT)
        refusal = denied.message if denied is not None else None
        # Scopes are the POST's own credential's: a 403 here, nothing reaches the stream.
        scope_refusal = refuse_scopes(entry.principal, scopes.messages_of(payload), partition, self.headers)
        if scope_refusal is not None:
            await send_denied(self, scope_refusal)
            return
        if isinstance(found, LegacySseStream):
            found.session.principal = entry.principal
        trace = tracing.carrier(self.headers)
        if isinstance(found, LegacySseStream):
            tracing.incoming.set(trace)  # the task feed() starts for the message copies it
            _deliver(found, payload, refusal)  # the stream is in this process: no trip through the channel layer
        elif not await _forward(found, payload, refusal, trace):
            await self.send_error(503, "Service Unavailable: cannot reach the process holding this session")
            return
        await self.send_response(202, [("content-type", "text/plain")], b"Accepted")

    async def find_stream(self, key_name: str) -> tuple[LegacySseStream | str, str] | None:
        """The session's stream when it is in this process, else the channel of the process holding it, with the
        session's partition; None after answering 400 (no session_id) or 404 (no such session of this principal)."""
        session_id = self.query.get("session_id", "")
        if not session_id:
            await self.send_error(400, "Bad Request: session_id query parameter is required")
            return None
        holder = directory.local(session_id)
        if holder is None:
            found = await directory.lookup(session_id)
            channel = found.get("channel") if found and found.get("transport") == TRANSPORT else None
            if channel and found is not None and found.get("key_name", "") == key_name:
                return str(channel), str(found.get("partition", ""))
        elif isinstance(holder, LegacySseStream) and holder.session.key_name == key_name:
            return holder, holder.session.partition
        await self.send_error(404, "Not Found: no such session (it may have ended)")
        return None


def _deliver(stream: LegacySseStream, payload: Any, refusal: str | None) -> None:
    if refusal is not None:
        stream.link.refuse(payload, refusal)  # an error on the stream; the stream stays up
    else:
        stream.link.feed(payload)


async def _forward(channel: str, payload: Any, refusal: str | None, trace: dict[str, str] | None = None) -> bool:
    """Send a message to the process holding the stream (with the POST's trace headers); False when the channel
    layer cannot be reached."""
    message: dict[str, Any] = {"type": "mcp.message", "payload": payload}
    if refusal is not None:
        message["refuse"] = refusal
    if trace is not None:
        message["trace"] = trace
    try:
        layer = get_channel_layer()
        try:
            await layer.send(channel, message)
        except Exception:
            await layer.send(channel, message)  # once more, on a fresh connection
    except Exception as exc:  # the layer is down: say so, the client may retry
        log.warning("channel layer send failed: %s", exc.__class__.__name__)
        return False
    return True
