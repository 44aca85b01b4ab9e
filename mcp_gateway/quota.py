"""Caps on live Streamable HTTP sessions: per process (MCP_MAX_SESSIONS) and per IP or API key (admin rules).

A session costs memory and a connections-table row until it ends, and many clients never send DELETE. A new session over a
cap first evicts the oldest idle session that the cap counts (nothing running, no GET stream open): for a client at
its own cap that is its own forgotten session, which costs it only a re-initialize; a cap held entirely by busy
sessions refuses the new one instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings

from mcp_gateway import control, directory
from mcp_gateway.gate import Refusal, get_gate
from mcp_gateway.sessions import ServerSession, short_id

log = logging.getLogger(__name__)


class Counted(Protocol):
    """A Streamable HTTP session as the caps see it (mcp_gateway.transports.streamable.StreamableSession)."""

    session: ServerSession
    held: bool  # counted against its IP's and key's caps (it began here)

    @property
    def idle(self) -> bool: ...


def _oldest_idle(candidates: Iterable[Counted]) -> Counted | None:
    idle = [holder for holder in candidates if holder.idle]
    return min(idle, key=lambda holder: holder.session.last_activity, default=None)


def _live(transport: str) -> list[Counted]:
    return [h for h in directory.local_sessions() if h.session.transport == transport]  # type: ignore[misc]


async def _evict(holder: Counted, reason: str) -> None:
    log.info("session %s evicted: %s", short_id(holder.session.id), reason)
    await control.close_everywhere(holder.session.id, f"evicted: {reason}")


async def admit(ip: str, key_name: str, transport: str) -> Refusal | None:
    """Make room for one more session of this client, or say why not (503: process full of busy sessions;
    429: the client's cap is held by its busy sessions).

    The caller has counted the new session already (the gate's hold_session) and releases it on a refusal: counted
    before the check, concurrent initializes cannot all find room under a cap."""
    # Counted only near the cap: a scan of every session costs about 1 ms per 10,000.
    live = _live(transport) if directory.local_count() >= settings.MCP_MAX_SESSIONS else []
    if len(live) >= settings.MCP_MAX_SESSIONS:
        victim = _oldest_idle(live)
        if victim is None:
            return Refusal(
                503,
                f"Service Unavailable: this process holds its maximum of {settings.MCP_MAX_SESSIONS} sessions",
                [("retry-after", "5")],
            )
        await _evict(victim, f"the process holds its maximum of {settings.MCP_MAX_SESSIONS} sessions")
    gate = get_gate()
    for cap in await gate.session_caps(ip, key_name):
        if await gate.sessions_held(cap.group) <= cap.cap:  # the new session is counted already (hold_session)
            continue
        mine = [h for h in _live(transport) if h.held and cap.group in gate.session_groups(h.session)]
        victim = _oldest_idle(mine)
        if victim is None:
            return Refusal(
                429,
                f"Too Many Requests: {cap.cap} live sessions per {cap.noun} (rule {cap.rule_name}); "
                "end one with DELETE first",
                [("retry-after", "5")],
            )
        await _evict(victim, f"{cap.cap} live sessions per {cap.noun}")
    return None
