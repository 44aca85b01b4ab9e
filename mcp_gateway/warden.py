"""Timers that end sessions nobody will end otherwise: never initialized, idle too long, or of a revoked API key.

One set of loops per process, started with its first session. Each looks only at this process's own sessions, so
every process enforces them alike; a key revoked through the admin reaches them all through the gate (ops' rule
book, which each process reloads at most every OPS_RULES_POLL seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from mcp_gateway import directory
from mcp_gateway.gate import get_gate

log = logging.getLogger(__name__)
STREAMABLE = "streamable-http"


async def run() -> None:
    """The three timers, for as long as the process serves (the "session-warden" background loop)."""
    init_every = max(0.05, min(settings.MCP_INIT_TIMEOUT / 4, 5.0))
    await asyncio.gather(
        _every(init_every, close_uninitialized),
        _every(settings.MCP_SESSION_IDLE_SWEEP, sweep_idle),
        _every(settings.MCP_KEY_REVOCATION_POLL, close_revoked),
    )


async def _every(seconds: float, job: Callable[[], Awaitable[int]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed round (database or Redis away) must not end the timer; next round retries
            log.warning("session warden: %s failed: %s: %s", job.__name__, exc.__class__.__name__, exc)


async def _close(holders: list[directory.Holder], reason: str) -> int:
    for holder in holders:
        log.info("session %s (%s) closed: %s", holder.session.id[:8], holder.session.transport, reason)
        await holder.close_session(reason)
    return len(holders)


async def close_uninitialized() -> int:
    """Streams and connections that never sent initialize within MCP_INIT_TIMEOUT: each holds a connection slot.

    (A Streamable HTTP session exists only once initialize succeeded, so this is legacy SSE and WebSocket.)"""
    limit = time.time() - settings.MCP_INIT_TIMEOUT
    late = [h for h in directory.local_sessions() if not h.session.initialized and h.session.opened_at < limit]
    return await _close(late, f"not initialized within {settings.MCP_INIT_TIMEOUT:g} s")


async def sweep_idle() -> int:
    """Streamable HTTP sessions idle for MCP_SESSION_TTL (stream sessions end with their connection)."""
    limit = time.time() - settings.MCP_SESSION_TTL
    idle = [
        h
        for h in directory.local_sessions()
        if h.session.transport == STREAMABLE and h.session.last_activity < limit and getattr(h, "idle", True)
    ]
    return await _close(idle, f"idle for {settings.MCP_SESSION_TTL} s")


async def close_revoked() -> int:
    """Sessions of an API key that is revoked, disabled or deleted: streams end, sessions are forgotten."""
    valid = await get_gate().valid_keys()
    if valid is None:  # this gate does not check keys
        return 0
    revoked = [h for h in directory.local_sessions() if h.session.key_name and h.session.key_name not in valid]
    return await _close(revoked, "API key revoked")
