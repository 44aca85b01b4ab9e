"""Streamable HTTP transport at `/mcp` (protocol 2025-03-26 and later, and the stateless 2026-07-28).

POST carries client messages and is answered with one JSON body or a `text/event-stream` of
in-call messages ending with the reply; GET opens the session's server-to-client stream; DELETE
ends the session. Every SSE event has an id, and a stream outlives its connection for a while, so
a client can resume with `Last-Event-ID`.

A 2026-07-28 request (its MCP-Protocol-Version header or its `_meta` envelope says so) has no session:
its headers are checked against its body (`mcp_headers`), its errors map onto HTTP statuses even when
the answer could have been a stream (the stream is begun only once there is something to send before
the reply), GET and DELETE are 405, `Mcp-Session-Id` and `Last-Event-ID` are ignored, and
`subscriptions/listen` keeps its POST's stream open.

Every request proves its credential anew (a session belongs to the principal that opened it, 404 to any other),
and a body needing a scope its principal lacks is answered 403 with the gate's challenge (`mcp_gateway.scopes`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from mcp_gateway import control, directory, events, jsonrpc, quota, replay, stateless, tracing
from mcp_gateway.catalogue import ToolError
from mcp_gateway.closing import CloseCode
from mcp_gateway.events import EventStream, StreamSet, parse_event_id
from mcp_gateway.gate import ANONYMOUS, Principal, get_gate
from mcp_gateway.jsonrpc import JsonRpcError, Payload, Request
from mcp_gateway.keepalive import ping_until_silent
from mcp_gateway.server import get_server
from mcp_gateway.sessions import ServerSession, new_session_id, short_id
from mcp_gateway.transports import mcp_headers
from mcp_gateway.transports.common import admit, claim_stream, release_stream, send_denied
from mcp_gateway.transports.entrance import INTERNAL_ERROR, choose_partition, denied, refuse_scopes
from mcp_gateway.transports.http import ClientGone, HttpEndpoint
from mcp_gateway.versions import KNOWN_VERSIONS, STATELESS_VERSIONS, is_version_at_least

log = logging.getLogger(__name__)
TRANSPORT = "streamable-http"
RULE_ENDPOINT = "streamable"  # this transport in admin rules' endpoints (rates, stream caps, session caps)
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
# Calls that may send progress, logs or server-to-client requests: answered as SSE when allowed.
STREAMED_METHODS = frozenset(
    {"tools/call", "resources/read", "prompts/get", "completion/complete", "subscriptions/listen"}
)
LISTEN = "subscriptions/listen"  # answered with a stream that stays open (2026-07-28)
STATE_METHODS = frozenset({"initialize", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})
RETRY_MS = 1000  # how long a client waits before resuming a stream we closed


class StreamableSession:
    """A Streamable HTTP session served by this process (see mcp_gateway.directory.Holder)."""

    channel_name: str | None = None

    def __init__(self, session: ServerSession) -> None:
        self.session = session
        self.streams = StreamSet(
            settings.MCP_EVENT_REPLAY, owner=(session.id, session.key_name), budget=settings.MCP_EVENT_REPLAY_BYTES
        )
        self.standalone: EventStream | None = None
        self.work: set[asyncio.Task[Any]] = set()
        self.saved_at = 0.0
        self.ephemeral = False
        self.held = False  # counted against its IP's and key's session caps (see mcp_gateway.quota)

    @property
    def idle(self) -> bool:
        """Nothing running and no GET stream open: ending it now costs its client only a re-initialize."""
        return not self.work and not self.session.running and (self.standalone is None or self.standalone.closed)

    async def close_session(self, reason: str, code: CloseCode = CloseCode.POLICY) -> None:
        """End the session: its work cancelled, its streams ended (their slots freed as they close), un-counted."""
        log.debug("streamable session %s closed: %s", short_id(self.session.id), reason)  # DELETEs are routine
        self.session.close()
        for task in list(self.work):
            task.cancel()
        self.streams.close_all()
        await self.release()
        await directory.remove(self.session.id)

    async def release(self) -> None:
        """Stop counting it against its client's session caps."""
        if self.held:
            self.held = False
            await get_gate().release_session(self.session)

    async def emit_standalone(self, message: dict[str, Any]) -> None:
        if self.standalone is None or self.standalone.closed:
            raise ClientGone
        self.session.messages_out += 1
        self.standalone.publish(message)


async def find_session(session_id: str) -> StreamableSession | None:
    holder = directory.local(session_id)
    if isinstance(holder, StreamableSession):
        return holder
    if holder is not None:
        return None
    found = await directory.lookup(session_id)
    if not found or found.get("transport") != TRANSPORT:
        return None
    # The session began on another process: adopt its state here.
    adopted = StreamableSession(ServerSession.from_state(found))
    directory.adopt(adopted)
    return adopted


class StreamableEndpoint(HttpEndpoint):
    kind = "streamable-http"
    holder: StreamableSession | None = None
    key_name = ""
    principal: Principal = ANONYMOUS

    initializing = False  # the POST carries an initialize (decided once, in post)

    async def handle(self, body: bytes) -> None:
        entry = await admit(self, RULE_ENDPOINT)
        if entry is None:
            return
        self.key_name, self.principal = entry.key_name, entry.principal
        version = self.headers.get(VERSION_HEADER)
        if version is not None and version not in KNOWN_VERSIONS:
            await self.refuse_version(body, version)
            return
        if self.method in ("GET", "DELETE") and version in STATELESS_VERSIONS:
            # That revision has no GET stream and no session to end (its Mcp-Session-Id is ignored).
            await self.send_error(405, "Method Not Allowed: 2026-07-28 requests are POSTs", headers=[("allow", "POST")])
            return
        if self.method == "POST":
            await self.post(body)
        elif self.method == "GET":
            await self.get()
        elif self.method == "DELETE":
            await self.delete()
        else:
            await self.send_error(405, "Method Not Allowed", headers=[("allow", "GET, POST, DELETE")])

    async def session_from_header(self) -> StreamableSession | None:
        """The session named by Mcp-Session-Id, or None after answering 400 (none) or 404 (unknown)."""
        session_id = self.headers.get(SESSION_HEADER)
        if not session_id:
            await self.send_error(400, "Bad Request: Mcp-Session-Id header is required")
            return None
        holder = await find_session(session_id)
        if holder is None or holder.session.key_name != self.key_name:  # another principal's session is not yours
            await self.send_error(404, "Not Found: session not found or ended; initialize a new one")
            return None
        holder.session.principal = self.principal  # the latest proof of who holds it (the warden reads it)
        return holder

    async def refuse_version(self, body: bytes, version: str) -> None:
        """400 with UNSUPPORTED_PROTOCOL_VERSION, echoing the request id when the body has one."""
        request_id = None
        try:
            first = jsonrpc.parse_payload(body).messages[0] if body else None
            request_id = first.id if isinstance(first, Request) else None
        except JsonRpcError:
            pass
        await self.send_json(400, jsonrpc.error_message(request_id, stateless.unsupported(version)))

    # --- POST --------------------------------------------------------------------------------
    async def post(self, body: bytes) -> None:
        tracing.incoming.set(tracing.carrier(self.headers))  # this request's task, and the tasks it starts
        accepts = Accepts.of(self.headers.get("accept", "*/*"))
        if not (accepts.sse or accepts.json):
            await self.send_error(406, "Not Acceptable: accept application/json or text/event-stream")
            return
        if "json" not in self.headers.get("content-type", "application/json"):
            await self.send_error(415, "Unsupported Media Type: send application/json")
            return
        try:
            payload = jsonrpc.parse_payload(body)
        except JsonRpcError as exc:
            await self.send_json(400, jsonrpc.error_message(None, exc))
            return
        holder = await self.resolve_session(payload)
        if holder is None:
            return
        self.holder = holder
        refusal = get_server().batch_refusal(holder.session, payload)
        scope_refusal = refuse_scopes(self.principal, payload.messages, holder.session.partition, self.headers)
        if refusal is not None:
            await self.send_json(400, refusal)
        elif scope_refusal is not None:  # a well-formed body needing a scope this principal lacks
            await send_denied(self, scope_refusal)
        elif not any(isinstance(m, Request) for m in payload.messages):
            await self.accept_only(holder, payload)
        else:
            await self.respond(holder, payload, accepts)

    async def resolve_session(self, payload: Payload) -> StreamableSession | None:
        """The session a POST belongs to: a throw-away one (stateless), a new one (initialize) or the one named by
        Mcp-Session-Id; None after answering the refusal."""
        requests = [m for m in payload.messages if isinstance(m, Request)]
        if stateless.is_stateless(payload, self.headers.get(VERSION_HEADER)):
            return await self.stateless_holder(payload, requests)
        self.initializing = any(r.method == "initialize" for r in requests)
        if self.initializing:
            return await self.begin_session(payload)
        return await self.session_from_header()

    async def respond(self, holder: StreamableSession, payload: Payload, accepts: Accepts) -> None:
        """Answer the requests as one JSON body, or as a stream when they may talk back (or the client prefers it)."""
        requests = [m for m in payload.messages if isinstance(m, Request)]
        streamed = any(_may_talk_back(holder.session.partition, r) for r in requests)
        sse = accepts.sse and (streamed or not accepts.json or accepts.prefers_sse)
        if holder.ephemeral:
            await self.respond_stateless(holder, payload, accepts, sse)
        elif sse:
            await self.answer_stream(holder, payload, detached=True)
        else:
            await self.answer_json(holder, payload)

    async def respond_stateless(self, holder: StreamableSession, payload: Payload, accepts: Accepts, sse: bool) -> None:
        """A 2026-07-28 POST. A subscriptions/listen stream counts with the client's other streams.

        Its notifications are sent as they come: a send only adds to the transport's output, so the listener's
        queue (MCP_LISTEN_MAX_QUEUED) holds only what arrives between two wakeups of the sender and is, over
        HTTP, practically never full. What bounds a client that stops reading is the transport's unsent output,
        MCP_STREAM_BUFFER_BYTES, past which the connection is cut (awsmcp.compat)."""
        listen = any(isinstance(m, Request) and m.method == LISTEN for m in payload.messages)
        if listen:
            if not accepts.sse:
                await self.send_error(406, "Not Acceptable: subscriptions/listen is answered with a text/event-stream")
                return
            claimed = await claim_stream(self, f"listen:{holder.session.id}", RULE_ENDPOINT)
            if not claimed:
                return  # claim_stream has answered 429 or 503: the client holds its share of streams
        if sse:
            await self.answer_deferred(holder, payload, json_ok=accepts.json)
        else:
            await self.answer_json(holder, payload)

    async def stateless_holder(self, payload: Payload, requests: list[Request]) -> StreamableSession | None:
        """A throw-away session for one stateless (2026-07-28) POST, never registered; None after refusing
        a request whose headers disagree with its body."""
        partition = choose_partition(self.query)
        if partition is None:
            await self.send_error(400, "Bad Request: unknown partition")
            return None
        if not payload.is_batch:  # a batch is refused whole right after (this revision has none)
            for request in requests:
                try:
                    self.check_headers(request, partition)
                except JsonRpcError as exc:
                    status = stateless.HTTP_STATUS.get(exc.code, 400)
                    await self.send_json(status, jsonrpc.error_message(request.id, exc))
                    return None
        session = ServerSession(
            new_session_id(),
            TRANSPORT,
            partition,
            remote_ip=self.client_ip,
            key_name=self.key_name,
            principal=self.principal,
        )
        holder = StreamableSession(session)
        holder.ephemeral = True
        return holder

    def check_headers(self, request: Request, partition: str) -> None:
        """The envelope (-32602), then every mirrored header against the body (-32020), in the order the
        spec's validation runs, so that a client told about one fault is not told about the next."""
        stateless.check_version_header(request, self.headers.get(VERSION_HEADER))
        twice = mcp_headers.duplicated(self.scope.get("headers", ()))
        if twice is not None:
            raise mcp_headers.mismatch(f"the {twice} header is sent more than once")
        name = request.params.get("name")
        tool = get_server().catalogue.tool(name, partition) if isinstance(name, str) else None
        mcp_headers.check(request, self.headers, tool)

    async def begin_session(self, payload: Payload) -> StreamableSession | None:
        if payload.is_batch:
            await self.send_error(400, "Invalid Request: initialize must not be part of a batch")
            return None
        partition = choose_partition(self.query)
        if partition is None:
            await self.send_error(400, "Bad Request: unknown partition")
            return None
        session = ServerSession(
            new_session_id(),
            TRANSPORT,
            partition,
            remote_ip=self.client_ip,
            key_name=self.key_name,
            principal=self.principal,
        )
        holder = StreamableSession(session)
        holder.held = True
        # Known to on_close before the await: a client that leaves during it must not stay counted (and leased).
        self.holder = holder
        # Counted before the caps are checked, so that initializes arriving together (here or on other processes)
        # see each other instead of all finding room under the cap.
        await get_gate().hold_session(session)
        refused = await quota.admit(self.client_ip, self.key_name, TRANSPORT)
        if refused is not None:
            await holder.release()
            await send_denied(self, denied(refused, INTERNAL_ERROR))
            return None
        return holder

    def session_headers(self, holder: StreamableSession) -> list[tuple[str, str]]:
        return [] if holder.ephemeral else [("mcp-session-id", holder.session.id)]

    async def accept_only(self, holder: StreamableSession, payload: Payload) -> None:
        """Notifications and responses: handled here, answered 202 with no body."""
        replies = await get_server().handle_payload(holder.session, payload)
        if replies:  # invalid messages among them
            await self.send_json(400, replies if payload.is_batch else replies[0])
            return
        await self.send_response(202, self.session_headers(holder))

    async def _after(self, holder: StreamableSession, payload: Payload, replies: list[dict[str, Any]]) -> None:
        """Register a new session and save state that changed, so other processes see it."""
        if holder.ephemeral:
            return
        if self.initializing:
            if replies and "result" in replies[0]:
                await directory.add(holder)
            return
        methods = {m.method for m in payload.messages if isinstance(m, Request)}
        now = time.time()
        if methods & STATE_METHODS or now - holder.saved_at > settings.MCP_SESSION_TTL / 4:
            holder.saved_at = now
            await directory.save(holder)

    async def answer_json(self, holder: StreamableSession, payload: Payload) -> None:
        replies = await get_server().handle_payload(holder.session, payload, _refuse_client_requests)
        await self._after(holder, payload, replies)
        holder.session.messages_out += len(replies)
        if not replies:  # every request was cancelled meanwhile: nothing to answer
            await self.send_response(202, self.session_headers(holder))
            return
        if self.initializing and "result" not in replies[0]:
            await self.send_json(200, replies[0])
            return
        await self.send_replies(holder, payload, replies)

    async def send_replies(self, holder: StreamableSession, payload: Payload, replies: list[dict[str, Any]]) -> None:
        body: Any = replies if payload.is_batch else replies[0]
        status = 200
        if holder.ephemeral and not payload.is_batch and "error" in body:
            # The stateless revision maps request errors onto HTTP statuses (SEP-2575).
            status = stateless.HTTP_STATUS.get(body["error"]["code"], 200)
        holder.session.bytes_out += await self.send_json(status, body, self.session_headers(holder))

    async def answer_deferred(self, holder: StreamableSession, payload: Payload, json_ok: bool) -> None:
        """A stateless answer that may stream: begun as SSE only when the work sends something before its
        reply, so that a request refused at once still gets its HTTP status (404, 400) in plain JSON. Not
        resumable (the revision has no Last-Event-ID); the client closing the stream cancels the work."""
        stream = EventStream(settings.MCP_EVENT_REPLAY)
        talked = asyncio.Event()

        async def emit(message: Any) -> None:
            holder.session.messages_out += 1
            stream.publish(message)
            talked.set()

        work = asyncio.create_task(get_server().handle_payload(holder.session, payload, emit))
        waiter = asyncio.ensure_future(talked.wait())
        try:
            await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if work.done() and not talked.is_set() and json_ok:
                replies = work.result()
                if replies:
                    holder.session.messages_out += len(replies)
                    await self.send_replies(holder, payload, replies)
                else:
                    await self.send_response(202, [])
                return
            await self.start_stream((), b": stream\n\n")
            ender = asyncio.create_task(self._end_with_reply(work, stream, payload.is_batch))
            keepalive = asyncio.create_task(self.keepalive_comments())
            try:
                await self.pump(stream, 0, ids=False)
            finally:
                ender.cancel()
                keepalive.cancel()
        finally:
            waiter.cancel()
            work.cancel()

    @staticmethod
    async def _end_with_reply(work: asyncio.Task[list[dict[str, Any]]], stream: EventStream, batch: bool) -> None:
        try:
            replies = await work
            if replies:
                reply: Any = replies if batch else replies[0]
                stream.publish(reply)
        finally:
            stream.close()

    async def answer_stream(self, holder: StreamableSession, payload: Payload, detached: bool) -> None:
        stream = holder.streams.open()
        hangup = asyncio.Event()

        async def emit(message: Any) -> None:  # one message, or the replies to a batch
            holder.session.messages_out += 1
            stream.publish(message)

        async def work() -> None:
            try:
                replies = await get_server().handle_payload(
                    holder.session, payload, emit, hangup.set if detached else None
                )
                await self._after(holder, payload, replies)
                if replies:
                    await emit(replies if payload.is_batch else replies[0])
            finally:
                stream.close()

        # In a session the work is the session's, not the connection's: a client that drops the
        # connection can resume with Last-Event-ID and still get the reply. A stateless request
        # has nothing to resume, so its connection closing cancels it (that is how it is cancelled).
        task = asyncio.create_task(work())
        holder.work.add(task)
        task.add_done_callback(holder.work.discard)
        try:
            await self.start_stream(self.session_headers(holder), self.priming_event(holder, stream))
            await self.pump(stream, 0, hangup)
        finally:
            if not detached:
                task.cancel()

    def priming_event(self, holder: StreamableSession, stream: EventStream) -> bytes:
        """An event with an id and no data, so the client can resume even before the first message.

        Sent to clients of 2025-11-25 and later only (SEP-1699); older clients get a comment instead.
        """
        if is_version_at_least(holder.session.protocol_version or "", "2025-11-25"):
            return f"id: {stream.event_id(0)}\nretry: {RETRY_MS}\ndata: \n\n".encode()
        return b": connected\n\n"

    async def pump(
        self, stream: EventStream, after: int, hangup: asyncio.Event | None = None, ids: bool = True
    ) -> None:
        """Copy the stream's events to the response until it closes (or the call hangs up on us)."""
        copy = asyncio.ensure_future(self._copy(stream, after, ids))
        if hangup is None:
            await copy
        else:
            waiter = asyncio.ensure_future(hangup.wait())
            try:
                await asyncio.wait({copy, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (copy, waiter):
                    task.cancel()
        await self.finish()

    async def _copy(self, stream: EventStream, after: int, ids: bool = True) -> None:
        async for event_id, message in stream.read(after):
            data = jsonrpc.dumps(message)
            if self.holder is not None:
                self.holder.session.bytes_out += len(data)
            # The stream's final event ends the response in the same write.
            last = stream.closed and event_id == stream.event_id(stream.seq)
            await self.send_event(data, event_id=event_id if ids else None, last=last)

    # --- GET ---------------------------------------------------------------------------------
    async def get(self) -> None:
        if "text/event-stream" not in self.headers.get("accept", ""):
            await self.send_error(406, "Not Acceptable: GET opens a text/event-stream")
            return
        holder = self.holder = await self.session_from_header()
        if holder is None:
            return
        last = parse_event_id(self.headers.get("last-event-id", ""))
        if last is not None and holder.streams.get(last[0]) is None:
            elsewhere = await self.held_elsewhere(holder, last[0])
            if elsewhere is None:
                return
            if elsewhere:
                await self.resume_remote(holder, *last)
                return
            last = None  # expired everywhere: a fresh GET stream
        stream = holder.streams.get(last[0]) if last is not None else None
        if last is not None and stream is not None:
            await self.resume_local(holder, stream, last[1])
        else:
            await self.open_standalone(holder)

    async def held_elsewhere(self, holder: StreamableSession, stream_id: str) -> bool | None:
        """Whether a stream this process lacks is kept for replay by another; None after answering 404 when it
        is another session's (never replayed)."""
        mine = (holder.session.id, holder.session.key_name)
        here = events.owner_of(stream_id)
        kept = await replay.owner(stream_id) if here is None else None
        if (here or kept or mine) != mine:
            await self.send_error(404, "Not Found: no such stream in this session")
            return None
        return kept is not None

    async def resume_remote(self, holder: StreamableSession, stream_id: str, after: int) -> None:
        """The stream is held by another process: replay it from Redis and follow it to its end."""
        if not await claim_stream(self, f"{holder.session.id}:{stream_id}", RULE_ENDPOINT):
            return
        await self.start_stream(self.session_headers(holder))
        async for seq, message in replay.follow(stream_id, after):
            await self.send_event(jsonrpc.dumps(message), event_id=f"{stream_id}_{seq}")
        await self.finish()

    async def resume_local(self, holder: StreamableSession, stream: EventStream, after: int) -> None:
        if not await claim_stream(self, f"{holder.session.id}:{stream.id}", RULE_ENDPOINT):
            return
        await self.start_stream(self.session_headers(holder))
        # The session's GET stream resumed is pinged as when it was opened.
        await self.pump_with_keepalive(holder, stream, after, ping=stream is holder.standalone)

    async def open_standalone(self, holder: StreamableSession) -> None:
        """The session's own server-to-client stream (one at a time)."""
        if holder.standalone is not None and not holder.standalone.closed:
            await self.send_error(409, "Conflict: this session already has a GET stream open")
            return
        if not await claim_stream(self, f"{holder.session.id}:get", RULE_ENDPOINT):
            return
        stream = holder.standalone = holder.streams.open()
        self.standalone_of = holder
        await self.start_stream(self.session_headers(holder), self.priming_event(holder, stream))
        await self.pump_with_keepalive(holder, stream, 0, ping=True)

    async def pump_with_keepalive(
        self, holder: StreamableSession, stream: EventStream, after: int, ping: bool = False
    ) -> None:
        loops = [asyncio.create_task(self.keepalive_comments())]
        if ping:
            loops.append(asyncio.create_task(self._pings(holder)))
        try:
            await self.pump(stream, after)
        finally:
            for task in loops:
                task.cancel()

    async def _pings(self, holder: StreamableSession) -> None:
        """Pings on the GET stream; a client that stops answering loses this stream, not its session.

        Its replies are POSTs, which in a fleet may land on another process (nothing routes them back here), so
        silence seen here does not prove the client gone: ending the stream frees its slot, the session goes
        idle and the idle sweep ends it if the client really left (legacy SSE and WebSocket replies come back
        on the same connection, so those transports end the session)."""
        await ping_until_silent(holder.session, holder.emit_standalone)
        log.info("session %s: GET stream closed, its pings went unanswered", short_id(holder.session.id))
        if holder.standalone is not None:
            holder.standalone.close()

    async def on_close(self) -> None:
        await release_stream(self)
        if self.holder is not None and self.holder.held and directory.local(self.holder.session.id) is None:
            await self.holder.release()  # its initialize failed or was abandoned: it never became a session
        holder = getattr(self, "standalone_of", None)
        if holder is not None and holder.standalone is not None:
            holder.standalone.close()
            holder.standalone = None

    # --- DELETE ------------------------------------------------------------------------------
    async def delete(self) -> None:
        holder = await self.session_from_header()
        if holder is None:
            return
        # Everywhere: another process may have adopted it, and would otherwise keep serving it.
        await control.close_everywhere(holder.session.id, "deleted by the client", wait=False)
        await self.send_response(204, [])


def _may_talk_back(partition: str, request: Request) -> bool:
    """Whether answering this request may send the client something first (progress, logs, requests).

    Calls of quiet tools never do, so they can be answered as plain JSON when the client accepts it."""
    if request.method not in STREAMED_METHODS:
        return False
    if request.method == "tools/call":
        params = request.params if isinstance(request.params, dict) else {}
        tool = get_server().catalogue.tool(str(params.get("name")), partition)
        return tool is None or not tool.quiet
    return True


@dataclass(frozen=True, slots=True)
class Accepts:
    """What a POST's Accept header allows, and which the client listed first."""

    sse: bool
    json: bool
    prefers_sse: bool

    @classmethod
    def of(cls, accept: str) -> Accepts:
        anything = "*/*" in accept
        sse_at, json_at = accept.find("text/event-stream"), accept.find("application/json")
        return cls(
            sse=sse_at != -1 or anything,
            json=json_at != -1 or anything,
            prefers_sse=sse_at != -1 and (json_at == -1 or sse_at < json_at),  # honour the client's order
        )


async def _refuse_client_requests(message: dict[str, Any]) -> None:
    """Emit for JSON answers: notifications are dropped, requests to the client cannot be made."""
    if "id" in message:
        raise ToolError(
            "This call needs to ask the client, which requires a text/event-stream answer: "
            "send Accept: application/json, text/event-stream"
        )
