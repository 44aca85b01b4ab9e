"""Whether a live session counts as open: one rule for the connections table and the /metrics gauges.

A Streamable HTTP session outlives its client (a client that exits without DELETE leaves it until the idle sweep,
MCP_SESSION_TTL): with no stream open, nothing running and no message for OPS_ACTIVE_WINDOW seconds it is "idle",
not open. Legacy SSE and WebSocket sessions end with their connection, so they are open while they exist.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

ACTIVE, IDLE, STALE = "active", "idle", "stale"  # the values of ops.models.Connection.State (closed aside)


def state_of(holder: Any, now: float | None = None) -> str:
    """ "stale" (pings unanswered), "idle" (see the module's docstring) or "active"."""
    session = holder.session
    if session.stale:
        return STALE
    # Only Streamable HTTP holders have `idle` (no GET stream, no work running); the others hold a stream.
    quiet = (now if now is not None else time.time()) - session.last_activity >= settings.OPS_ACTIVE_WINDOW
    if getattr(holder, "idle", False) and quiet:
        return IDLE
    return ACTIVE
