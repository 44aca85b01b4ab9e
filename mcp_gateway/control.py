"""Reaching sessions wherever they live: close one from any process.

A session held by this process is closed directly. Otherwise a stream session's record names the
channel of the process holding it, which gets an `mcp.close` message; every process also listens
on the `awsmcp-control` group, which reaches Streamable HTTP sessions (they have no channel of
their own) on whichever process serves them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

from mcp_gateway import directory
from mcp_gateway.closing import CloseCode
from mcp_gateway.sessions import short_id

log = logging.getLogger(__name__)
CONTROL_GROUP = "awsmcp-control"


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
                        await holder.close_session(event.get("reason", "closed by an operator"), _code(event))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the layer went away for a while: rejoin when it is back
            log.warning("control listener: %s: %s; retrying", exc.__class__.__name__, exc)
            await asyncio.sleep(1.0)


def _code(event: dict[str, Any]) -> CloseCode:
    """The close code an event asks for (POLICY when it names none or one unknown here)."""
    try:
        return CloseCode(event.get("code", CloseCode.POLICY))
    except ValueError:
        return CloseCode.POLICY


async def close_everywhere(session_id: str, reason: str, code: CloseCode = CloseCode.POLICY) -> None:
    """End a session here and on every process that adopted it (Streamable HTTP sessions move between
    processes), so that its next request gets 404 wherever it lands."""
    holder = directory.local(session_id)
    if holder is not None:
        await holder.close_session(reason, code)
    await _tell_every_process(session_id, reason, code)


async def close_session(
    session_id: str, reason: str = "closed by an operator", code: CloseCode = CloseCode.CLOSED_BY_OPERATOR
) -> bool:
    """End a session on whichever process holds it; False when nobody knows it."""
    holder = directory.local(session_id)
    if holder is not None:
        await holder.close_session(reason, code)
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
