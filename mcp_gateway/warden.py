"""Timers that end sessions nobody will end otherwise: never initialized, idle too long, or of a credential that
ended (a revoked API key, a revoked OAuth grant, an expired token on a WebSocket).

One set of loops per process, started with its first session. Each looks only at this process's own sessions, so
every process enforces them alike; a key revoked through the admin reaches them all through the gate (ops' rule
book, which each process reloads at most every OPS_RULES_POLL seconds), and so does a revoked grant.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from mcp_gateway import directory
from mcp_gateway.closing import CloseCode
from mcp_gateway.gate import get_gate
from mcp_gateway.sessions import ServerSession, short_id

log = logging.getLogger(__name__)
STREAMABLE = "streamable-http"
WEBSOCKET = "websocket"


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


async def _close(holders: list[directory.Holder], reason: str, code: CloseCode = CloseCode.POLICY) -> int:
    for holder in holders:
        log.info("session %s (%s) closed: %s", short_id(holder.session.id), holder.session.transport, reason)
        await holder.close_session(reason, code)
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
    """Sessions whose credential no longer holds: an API key revoked, disabled or deleted; an OAuth grant revoked or
    its user disabled (the gate says which); a WebSocket whose token expired (it cannot send a fresh one). Streams
    end, sessions are forgotten. (Each HTTP request proves its credential anew, so only what stays open needs this.)"""
    held = directory.local_sessions()
    closed = await _close(await _revoked_keys(held), "API key revoked", CloseCode.CREDENTIAL_ENDED)
    ended = await _ended_grants(held)
    closed += await _close(ended, "OAuth grant revoked", CloseCode.CREDENTIAL_ENDED)
    now = time.time()
    expired = [h for h in held if h not in ended and h.session.transport == WEBSOCKET and _expired(h.session, now)]
    return closed + await _close(expired, "OAuth token expired", CloseCode.CREDENTIAL_ENDED)


def key_session(session: ServerSession) -> bool:
    """Opened with an API key. Judged by the principal this process saw, else (a session adopted from another
    process, no request here yet) by its name: API key names hold no ":", OAuth principals' always do."""
    if session.principal.kind and session.principal.name == session.key_name:
        return session.principal.kind == "key"
    return bool(session.key_name) and ":" not in session.key_name


async def _revoked_keys(held: list[directory.Holder]) -> list[directory.Holder]:
    keyed = [h for h in held if key_session(h.session)]
    if not keyed:
        return []
    valid = await get_gate().valid_keys()
    if valid is None:  # this gate does not check keys
        return []
    return [h for h in keyed if h.session.key_name not in valid]


async def _ended_grants(held: list[directory.Holder]) -> list[directory.Holder]:
    """OAuth sessions whose credential the gate says ended (a revoked grant, a disabled user)."""
    checked = [h for h in held if h.session.principal.kind == "oauth" and h.session.principal.credential]
    if not checked:
        return []
    ended = await get_gate().ended_credentials({h.session.principal.credential for h in checked})
    return [h for h in checked if h.session.principal.credential in ended]


def _expired(session: ServerSession, now: float) -> bool:
    expires = session.principal.expires
    return expires is not None and expires <= now
