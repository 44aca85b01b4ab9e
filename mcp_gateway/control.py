"""Reaching sessions wherever they live: close one from any process.

A session held by this process is closed directly. Otherwise a stream session's record names the
channel of the process holding it, which gets an `mcp.close` message; every process also listens
on the `awsmcp-control` group, which reaches Streamable HTTP sessions (they have no channel of
their own) on whichever process serves them.

The same group carries a client's reply to a server-to-client request (a ping, a sampling or elicitation request)
that reached a process where nothing waits for it: a Streamable HTTP client POSTs its replies wherever the load
balancer sends them, and the process that asked resolves it (`route_reply`, then the listener).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from mcp_gateway import directory
from mcp_gateway.closing import CloseCode
from mcp_gateway.jsonrpc import Response
from mcp_gateway.sessions import PROCESS_TAG, ServerSession, short_id

log = logging.getLogger(__name__)
CONTROL_GROUP = "awsmcp-control"
CLIENT_REPLY = "mcp.client_reply"


async def listen() -> None:
    """Close sessions asked for on the control group (the "control-listener" background loop)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    while True:
        try:
            await layer.group_add(CONTROL_GROUP, channel)
            while True:
                event = await layer.receive(channel)
                if event.get("type") == "mcp.close_session":
                    holder = directory.local(event.get("session_id", ""))
                    if holder is not None:
                        await holder.close_session(event.get("reason", "closed by an operator"), close_code(event))
                elif event.get("type") == CLIENT_REPLY:
                    resolve_routed_reply(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the layer went away for a while: rejoin when it is back
            log.warning("control listener: %s: %s; retrying", exc.__class__.__name__, exc)
            await asyncio.sleep(1.0)


def close_code(event: dict[str, Any]) -> CloseCode:
    """The close code an event asks for (POLICY when it names none or one unknown here)."""
    try:
        return CloseCode(event.get("code", CloseCode.POLICY))
    except ValueError:
        return CloseCode.POLICY


async def close_everywhere(
    session_id: str, reason: str, code: CloseCode = CloseCode.POLICY, *, wait: bool = True
) -> None:
    """End a session here and on every process that adopted it (Streamable HTTP sessions move between
    processes), so that its next request gets 404 wherever it lands. `wait=False` (a client's DELETE) tells the
    other processes in the background: a stalled channel layer must not hold up the client's answer."""
    holder = directory.local(session_id)
    if holder is not None:
        await holder.close_session(reason, code)
    if wait:
        await _tell_every_process(session_id, reason, code)
        return
    task = tell_every_process_later(session_id, reason, code)
    if task is not None:  # a healthy layer tells them before the client hears back; a stalled one costs TELL_WAIT
        await asyncio.wait({task}, timeout=TELL_WAIT)


# Tells still under way, sent without waiting: bounded, so that a stalled channel layer cannot pile up tasks; past the
# bound a tell is skipped (logged), and the other processes' copies end by their idle sweep instead.
MAX_PENDING_TELLS = 256
TELL_WAIT = 0.25  # seconds a caller that does not wait still gives the tell (milliseconds on a healthy layer)
_pending_tells: set[asyncio.Task[None]] = set()


def tell_every_process_later(session_id: str, reason: str, code: CloseCode) -> asyncio.Task[None] | None:
    """Ask every process to close the session without waiting for the channel layer: the tell under way, or None
    when too many are under way already."""
    if len(_pending_tells) >= MAX_PENDING_TELLS:
        log.warning(
            "session %s: %d close messages under way; not telling other processes",
            short_id(session_id),
            len(_pending_tells),
        )
        return None
    task = asyncio.get_running_loop().create_task(_tell_every_process(session_id, reason, code))
    _pending_tells.add(task)
    task.add_done_callback(_pending_tells.discard)
    return task


async def close_session(
    session_id: str, reason: str = "closed by an operator", code: CloseCode = CloseCode.CLOSED_BY_OPERATOR
) -> bool:
    """End a session on whichever process holds it; False when nobody knows it."""
    holder = directory.local(session_id)
    if holder is not None and holder.channel_name:
        await holder.close_session(reason, code)
        return True
    if holder is not None:
        # No channel: a Streamable HTTP session, which other processes may have adopted; closing only this
        # copy would leave theirs serving it (and writing its record back).
        await close_everywhere(session_id, reason, code)
        return True
    record: dict[str, Any] | None = await directory.lookup(session_id)
    if record is not None and record.get("channel"):
        try:
            await get_channel_layer().send(
                record["channel"], {"type": "mcp.close", "reason": reason, "code": int(code)}
            )
            return True
        except Exception as exc:  # the holder's process is unreachable: ask every process, then forget the record
            log.warning(
                "closing session %s on its channel failed: %s: %s", short_id(session_id), exc.__class__.__name__, exc
            )
    await _tell_every_process(session_id, reason, code)
    if record is not None:
        await directory.remove(session_id)
        return True
    return False


async def _tell_every_process(session_id: str, reason: str, code: CloseCode) -> None:
    """Ask every process's control listener to close the session (Streamable HTTP sessions have no channel)."""
    try:
        layer = get_channel_layer()
        event = {"type": "mcp.close_session", "session_id": session_id, "reason": reason, "code": int(code)}
        await layer.group_send(CONTROL_GROUP, event)
    except Exception as exc:  # the channel layer is away: sessions held here were closed already
        log.warning("control group send failed: %s: %s", exc.__class__.__name__, exc)


async def route_reply(session: ServerSession, reply: Response) -> None:
    """Hand a client's reply nobody here waits for to the process that sent the request (McpServer's
    unmatched_reply): in a fleet, over the control group; on one process it simply came too late.

    Routed once, and only what can be waiting elsewhere: a reply in a session served here without a channel of its
    own (Streamable HTTP; the other transports carry replies to their holder already), to a request id another
    process made. The session is the one the POST authenticated, never one the reply names."""
    holder = directory.local(session.id)
    if holder is None or holder.channel_name is not None:
        return  # a throw-away stateless session, or one whose replies always reach the process that asked
    request_id = reply.id
    if not settings.REDIS_URL or not _made_elsewhere(request_id):
        log.debug("session %s: nothing waits for the reply to %r", short_id(session.id), request_id)
        return
    event: dict[str, Any] = {"type": CLIENT_REPLY, "session_id": session.id, "id": request_id}
    if reply.error is not None:
        event["error"] = reply.error
    else:
        event["result"] = reply.result
    try:
        await get_channel_layer().group_send(CONTROL_GROUP, event)
    except Exception as exc:  # the channel layer is away: the request times out where it was sent
        log.warning("routing a client reply failed: %s: %s", exc.__class__.__name__, exc)


def _made_elsewhere(request_id: object) -> bool:
    """Whether an id looks like a request of another process (ServerSession.next_request_id): this process's own
    unanswered ids have nobody waiting anywhere, and ids the server never made are not sent to every process."""
    return isinstance(request_id, str) and request_id.startswith("s") and not request_id.startswith(PROCESS_TAG + "-")


def resolve_routed_reply(event: dict[str, Any]) -> bool:
    """Resolve a reply routed on the control group if this process sent its request (its id starts with this
    process's tag) in the session the event names; resolving never routes it again."""
    request_id = event.get("id")
    if not isinstance(request_id, str) or not request_id.startswith(PROCESS_TAG + "-"):
        return False
    holder = directory.local(str(event.get("session_id", "")))
    if holder is None:
        return False
    error = event.get("error")
    return holder.session.resolve(request_id, event.get("result"), error if isinstance(error, dict) else None)
