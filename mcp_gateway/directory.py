"""Where sessions live: this process's live sessions, and a shared record other processes can read.

The local table answers the hot path without I/O. The shared record (Django cache, Redis when
configured) says which channel holds a stream session, carries Streamable HTTP session state
between processes, and lets the ops console list connections. Records expire unless refreshed,
so a process that dies leaves no ghosts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import caches

from awsmcp import background
from awsmcp.breaker import breaker, cache_call, store_of
from awsmcp.pools import run_in
from mcp_gateway.closing import CloseCode
from mcp_gateway.sessions import ServerSession

RECORD_PREFIX = "mcp:session:"
log = logging.getLogger(__name__)


class Holder(Protocol):
    """What a transport keeps for a session it serves in this process."""

    session: ServerSession
    channel_name: str | None

    async def close_session(self, reason: str, code: CloseCode = CloseCode.POLICY) -> None: ...


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
    listeners are told, since it was opened (and is counted) where it began, which keeps its record (and its row).
    It runs the session loops from now on, the control listener among them: the session may be closed, or its
    replies routed here, from any process."""
    for name in SESSION_LOOPS:  # a process may serve only sessions that began elsewhere
        background.ensure(name)
    _local[holder.session.id] = holder
    _written[holder.session.id] = float("inf")


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


# Records this process holds, and when each was last written to the shared cache (monotonic seconds).
_written: dict[str, float] = {}
RECORD_UPKEEP = 1.0  # seconds between retries of records the shared cache did not take


async def _shared(operation: str, *args: Any) -> Any:
    """A call on the shared cache that never fails the request: sessions of this process still work."""
    # Through the store's breaker (which retries a stale pooled connection once, and logs): None when down.
    # Patient: a record skipped because another call is slow would answer a live session 404.
    return await run_in("database", cache_call, "default", operation, *args, patient=True)


# Loops every process runs once it serves a session, opened here or adopted (registered in McpGatewayConfig.ready();
# other apps append theirs: ops, the connections flusher).
CONTROL_LISTENER = "control-listener"
SESSION_LOOPS = [CONTROL_LISTENER, "session-warden", "session-records"]


async def add(holder: Holder) -> None:
    for name in SESSION_LOOPS:
        background.ensure(name)
    _local[holder.session.id] = holder
    await save(holder)
    for listener in listeners:
        await listener.opened(holder)


async def save(holder: Holder) -> bool:
    """Write the session's shared record; False when the shared cache did not take it (keep_records retries)."""
    session_id = holder.session.id
    written = await run_in("database", _set_record, session_id, record(holder), _ttl())
    if written and session_id in _local:
        _written[session_id] = time.monotonic()
    return written


def _set_record(session_id: str, data: dict[str, Any], ttl: int) -> bool:
    def write() -> bool:
        caches["default"].set(RECORD_PREFIX + session_id, data, ttl)
        return True

    return breaker(store_of("default")).call("session record", write, False, patient=True, retry=True)


async def keep_records() -> None:
    """The "session-records" loop: writes the records the shared cache did not take (it was away: until then
    other processes answer this session's requests 404), and renews records before they expire, so a stream
    open longer than MCP_SESSION_TTL stays reachable from every process."""
    while True:
        await asyncio.sleep(RECORD_UPKEEP)
        renew_before = time.monotonic() - _ttl() / 2
        for session_id, holder in list(_local.items()):
            if _written.get(session_id, float("-inf")) < renew_before:
                await save(holder)


async def remove(session_id: str) -> None:
    holder = _local.pop(session_id, None)
    _written.pop(session_id, None)
    await _shared("delete", RECORD_PREFIX + session_id)
    if holder is not None:
        for listener in listeners:
            await listener.closed(holder)


async def lookup(session_id: str) -> dict[str, Any] | None:
    """The shared record of a session, wherever it lives (None when unknown, expired or unreachable)."""
    if len(session_id) > 128:
        return None
    return await _shared("get", RECORD_PREFIX + session_id)
