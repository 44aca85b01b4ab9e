"""Reaching sessions wherever they live: close one from any process.

A session held by this process is closed directly. Otherwise a stream session's record names the
channel of the process holding it, which gets an `mcp.close` message; every process also listens
on the `awsmcp-control` group, which reaches Streamable HTTP sessions (they have no channel of
their own) on whichever process serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.layers import get_channel_layer

from mcp_gateway import directory

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
                        await holder.close_session(event.get("reason", "closed by an operator"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the layer went away for a while: rejoin when it is back
            log.warning("control listener: %s: %s; retrying", exc.__class__.__name__, exc)
            await asyncio.sleep(1.0)


async def close_everywhere(session_id: str, reason: str) -> None:
    """End a session here and on every process that adopted it (Streamable HTTP sessions move between
    processes), so that its next request gets 404 wherever it lands."""
    holder = directory.local(session_id)
    if holder is not None:
        await holder.close_session(reason)
    with contextlib.suppress(Exception):
        layer = get_channel_layer()
        await layer.group_send(CONTROL_GROUP, {"type": "mcp.close_session", "session_id": session_id, "reason": reason})


async def close_session(session_id: str, reason: str = "closed by an operator") -> bool:
    """End a session on whichever process holds it; False when nobody knows it."""
    holder = directory.local(session_id)
    if holder is not None:
        await holder.close_session(reason)
        return True
    record: dict[str, Any] | None = await directory.lookup(session_id)
    layer = get_channel_layer()
    if record is not None and record.get("channel"):
        with contextlib.suppress(Exception):
            await layer.send(record["channel"], {"type": "mcp.close", "reason": reason})
            return True
    with contextlib.suppress(Exception):
        await layer.group_send(CONTROL_GROUP, {"type": "mcp.close_session", "session_id": session_id, "reason": reason})
    if record is not None:
        await directory.remove(session_id)
        return True
    return False
