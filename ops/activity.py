"""Whether a live session counts as open: one rule for the connections table and the /metrics gauges.

A Streamable HTTP session outlives its client (a client that exits without DELETE leaves it until the idle sweep,
MCP_SESSION_TTL): with no stream open, nothing running and no message for OPS_ACTIVE_WINDOW seconds it is "idle",
not open. Legacy SSE and WebSocket sessions end with their connection, so they are open while they exist.

A Streamable HTTP session moves between processes (a fleet's balancer is not sticky): the one that opened it (its
owner, the row's `process`) may see no stream while another holds its GET stream. Each process judges only its own
copy; ops.connections reconciles the copies through the row (see `connections.flush_activity`).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

ACTIVE, IDLE, STALE = "active", "idle", "stale"  # the values of ops.models.Connection.State (closed aside)


def holds_stream(holder: Any) -> bool:
    """This process holds a stream of the session (or runs work for it): SSE and WebSocket holders always do,
    Streamable HTTP holders unless `idle`."""
    return not getattr(holder, "idle", False)


def streamable(holder: Any) -> bool:
    """Only Streamable HTTP holders have `idle`: their sessions can be idle, and can be held by several processes."""
    return hasattr(holder, "idle")


def states_of(holders: list[Any], now: float) -> dict[str, str]:
    """Every holder's state at one instant: one batch writes and counts the same states."""
    return {holder.session.id: state_of(holder, now) for holder in holders}


def state_of(holder: Any, now: float | None = None) -> str:
    """ "stale" (pings unanswered), "idle" (see the module's docstring) or "active"."""
    session = holder.session
    if session.stale:
        return STALE
    # Only Streamable HTTP holders have `idle` (no GET stream, no work running); the others hold a stream.
    quiet = (now if now is not None else time.time()) - session.last_activity >= settings.OPS_ACTIVE_WINDOW
    if not holds_stream(holder) and quiet:
        return IDLE
    return ACTIVE
