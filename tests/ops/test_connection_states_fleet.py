"""A Streamable HTTP session held by two processes: initialized on A, its GET stream on B (a balancer that is not
sticky does this). The connections row stays active while B holds the stream, however long A's copy is quiet, and
the fleet's gauges count it once; once the stream is gone and OPS_ACTIVE_WINDOW has passed, it is idle, once.

Two Daphnes share Redis (the session records that let B adopt the session) and one SQLite file (the table); the
test talks to each directly.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.test_connection_states import gauge, until
from tests.support.processes import DaphneServer, daphne, redis_server
from tests.support.raw import streamable_session

WINDOW = 2.0  # OPS_ACTIVE_WINDOW: ten batches long, short for the test's wait
FLUSH = 0.2  # OPS_ACTIVITY_FLUSH


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[DaphneServer, DaphneServer, Path]]:
    db = Path(tempfile.mkdtemp(prefix="awsmcp-states-fleet-")) / "db.sqlite3"
    with redis_server() as redis:
        env = {"REDIS_URL": redis.url, "OPS_ACTIVITY_FLUSH": str(FLUSH), "OPS_ACTIVE_WINDOW": str(WINDOW)}
        with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
            yield a, b, db


def state_of(db: Path, session_id: str) -> str | None:
    """The row's state, as every process's admin reads it."""
    with sqlite3.connect(db, timeout=10) as table:
        found = table.execute("SELECT state FROM ops_connection WHERE session_id = ?", (session_id,)).fetchone()
    return found[0] if found else None


async def fleet_gauges(http: httpx.AsyncClient, *servers: DaphneServer) -> tuple[float, float]:
    """awsmcp_open_connections and awsmcp_idle_sessions (Streamable HTTP, aws) added up over the processes."""
    texts = [(await http.get(server.base + "/metrics")).text for server in servers]
    return (
        sum(gauge(text, "awsmcp_open_connections") for text in texts),
        sum(gauge(text, "awsmcp_idle_sessions") for text in texts),
    )


async def test_a_stream_held_by_another_process_keeps_the_session_active_and_counted_once(
    fleet: tuple[DaphneServer, DaphneServer, Path],
) -> None:
    a, b, db = fleet
    async with httpx.AsyncClient(timeout=15) as http:
        session = await streamable_session(http, a.mcp_url)  # opened on A: A's row, A's copy
        session_id = session["mcp-session-id"]
        listen = {**session, "accept": "text/event-stream"}
        async with http.stream("GET", b.mcp_url, headers=listen) as stream:  # B adopts it and holds its stream
            assert stream.status_code == 200

            async def counted_by_b() -> bool:  # B counts the stream it holds; A leaves it to B
                written = state_of(db, session_id) == "active"
                return written and await fleet_gauges(http, b) == (1, 0) and await fleet_gauges(http, a) == (0, 0)

            await until(counted_by_b)
            # Past the window A's copy has heard nothing: A tries to write it idle every batch, and must not.
            quiet_until = time.monotonic() + WINDOW + 5 * FLUSH
            while time.monotonic() < quiet_until:
                assert state_of(db, session_id) == "active"
                await asyncio.sleep(FLUSH / 2)
            assert await fleet_gauges(http, a, b) == (1, 0)  # B counts its stream; A does not count it again
            assert state_of(db, session_id) == "active"

        # The stream is gone: once the window has passed with no activity anywhere, idle, and counted once.
        async def idle_once() -> bool:
            return state_of(db, session_id) == "idle" and await fleet_gauges(http, a, b) == (0, 1)

        await until(idle_once)
