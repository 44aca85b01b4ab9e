"""Where sessions live: this process's live sessions, and a shared record other processes can read.

The local table answers the hot path without I/O. The shared record (Django cache, Redis when
configured) says which channel holds a stream session, carries Streamable HTTP session state
between processes, and lets the ops console list connections. Records expire unless refreshed,
so a process that dies leaves no ghosts.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from django.conf import settings

from awsmcp import background
from awsmcp.breaker import cache_call
from awsmcp.pools import run_in
from mcp_gateway.sessions import ServerSession

RECORD_PREFIX = "mcp:session:"
log = logging.getLogger(__name__)


class Holder(Protocol):
    """What a transport keeps for a session it serves in this process."""

    session: ServerSession
    channel_name: str | None

    async def close_session(self, reason: str) -> None: ...


_local: dict[str, Holder] = {}


class Listener(Protocol):
    """Told when sessions open and close here (the ops connections table); must not raise."""

    async def opened(self, holder: Holder) -> None: ...

    async def closed(self, holder: Holder) -> None: ...


listeners: list[Listener] = []


def local(session_id: str) -> Holder | None:
    return _local.get(session_id)


def adopt(holder: Holder) -> None:
    """Serve here a session that began on another process (its shared record says who it is); no
    listeners are told, since it was opened (and is counted) where it began."""
    _local[holder.session.id] = holder


def local_sessions() -> list[Holder]:
    return list(_local.values())


def local_count() -> int:
    return len(_local)


def record(holder: Holder) -> dict[str, Any]:
    data = holder.session.state()
    data["channel"] = holder.channel_name
    data["last_activity"] = holder.session.last_activity
    data["written_at"] = time.time()
    return data


def _ttl() -> int:
    return settings.MCP_SESSION_TTL


async def _shared(operation: str, *args: Any) -> Any:
    """A call on the shared cache that never fails the request: sessions of this process still work."""
    # Through the store's breaker (which retries a stale pooled connection once, and logs): None when down.
    # Patient: a record skipped because another call is slow would answer a live session 404.
    return await run_in("database", cache_call, "default", operation, *args, patient=True)


# Loops every process runs once it serves a session (registered in McpGatewayConfig.ready()).
SESSION_LOOPS = ("control-listener", "session-warden")


async def add(holder: Holder) -> None:
    for name in SESSION_LOOPS:
        background.ensure(name)
    _local[holder.session.id] = holder
    await save(holder)
    for listener in listeners:
        await listener.opened(holder)


async def save(holder: Holder) -> None:
    await _shared("set", RECORD_PREFIX + holder.session.id, record(holder), _ttl())


async def remove(session_id: str) -> None:
    holder = _local.pop(session_id, None)
    await _shared("delete", RECORD_PREFIX + session_id)
    if holder is not None:
        for listener in listeners:
            await listener.closed(holder)


async def lookup(session_id: str) -> dict[str, Any] | None:
    """The shared record of a session, wherever it lives (None when unknown, expired or unreachable)."""
    if len(session_id) > 128:
        return None
    return await _shared("get", RECORD_PREFIX + session_id)
