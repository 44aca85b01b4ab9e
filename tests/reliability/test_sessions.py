"""Sessions and streams are bounded: uninitialized streams are reaped, live sessions are capped (per process, per
IP) with the oldest idle one evicted first, and idle sessions are swept on a timer, each leaving the connections table."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, base_env, daphne, migrate
from tests.support.raw import ACCEPT_BOTH, initialize_request, request, streamable_session
from tests.support.witness import Witness, while_witnessed

INIT_TIMEOUT = 1.0
# Streams are checked every INIT_TIMEOUT / 4: one not initialized is closed well within this.
REAPED_WITHIN = INIT_TIMEOUT + 3.0


def registry_state(server: DaphneServer, session_id: str) -> str | None:
    """The connections table's state of a session (written behind by 0.2 s)."""
    with contextlib.closing(sqlite3.connect(server.env["SQLITE_PATH"], timeout=10)) as db:
        row = db.execute("select state from ops_connection where session_id = ?", (session_id,)).fetchone()
    return row[0] if row else None


async def wait_for_state(server: DaphneServer, session_id: str, state: str, within: float = 5.0) -> str | None:
    deadline = time.monotonic() + within
    seen = registry_state(server, session_id)
    while seen != state and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        seen = registry_state(server, session_id)
    return seen


async def call(http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str]) -> int:
    """A tools/list on a session: 200 while it lives, 404 once it is gone."""
    reply = await http.post(server.mcp_url, json=request("tools/list", msg_id=7), headers=headers)
    return reply.status_code


# --- streams that never initialize ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reaping(origin: OriginServer) -> Iterator[DaphneServer]:
    # Four stream slots: the witness's GET stream and three for the attack. Sessions idle for 2 s are swept too
    # (the witness never is: it reads all the time and holds its GET stream).
    with daphne(
        **origin.settings_env(),
        MCP_INIT_TIMEOUT=str(INIT_TIMEOUT),
        MCP_MAX_CONNECTIONS="4",
        MCP_SESSION_TTL="2",
        MCP_SESSION_IDLE_SWEEP="0.5",
    ) as srv:
        yield srv


@contextlib.asynccontextmanager
async def silent_sse(http: httpx.AsyncClient, server: DaphneServer) -> AsyncIterator[httpx.Response]:
    """A legacy SSE stream whose client never sends initialize."""
    async with http.stream("GET", server.sse_url, headers={"accept": "text/event-stream"}) as response:
        yield response


async def ended_after(response: httpx.Response, bound: float) -> float:
    """Seconds until the server ends the stream (TimeoutError past `bound`)."""
    started = time.monotonic()

    async def drain() -> None:
        with contextlib.suppress(httpx.HTTPError):
            async for _line in response.aiter_lines():
                pass

    await asyncio.wait_for(drain(), bound)
    return time.monotonic() - started


async def test_streams_that_never_initialize_are_closed_and_free_their_slots(reaping: DaphneServer) -> None:
    async with Witness(reaping) as witness, httpx.AsyncClient(timeout=15) as http:
        async with (
            silent_sse(http, reaping) as one,
            silent_sse(http, reaping) as two,
            silent_sse(http, reaping) as three,
        ):
            for stream in (one, two, three):
                assert stream.status_code == 200
            locked_out = await http.get(reaping.sse_url, headers={"accept": "text/event-stream"})
            assert locked_out.status_code == 503  # every slot is held by a stream that never initialized
            waits = await asyncio.gather(*(ended_after(s, REAPED_WITHIN) for s in (one, two, three)))
        assert max(waits) < REAPED_WITHIN, waits
        # The slots are free again: a real client gets in.
        async with silent_sse(http, reaping) as fresh:
            assert fresh.status_code == 200
            await ended_after(fresh, REAPED_WITHIN)
        # A WebSocket connection that never initializes is closed alike (code 4008; Daphne sends no reason text).
        started = time.monotonic()
        async with connect(reaping.ws_url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), REAPED_WITHIN)
        assert time.monotonic() - started < REAPED_WITHIN
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        await while_witnessed(witness)
    witness.assert_unharmed()
    assert reaping.alive()


# --- the process cap: the oldest idle session is evicted --------------------------------------------------------
@pytest.fixture(scope="module")
def capped(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(**origin.settings_env(), MCP_MAX_SESSIONS="5") as srv:
        yield srv


async def test_the_process_cap_evicts_the_oldest_idle_session(capped: DaphneServer) -> None:
    async with Witness(capped) as witness, httpx.AsyncClient(timeout=15) as http:
        sessions = []
        for _ in range(4):  # with the witness's, the process holds its 5
            sessions.append(await streamable_session(http, capped.mcp_url))
            await asyncio.sleep(0.05)
        assert await call(http, capped, sessions[0]) == 200  # the first is now the second oldest
        newcomers = [await streamable_session(http, capped.mcp_url) for _ in range(3)]
        # The oldest idle ones went, in order of last activity; the witness (busy, its GET stream open) stayed.
        statuses = [await call(http, capped, headers) for headers in sessions + newcomers]
        assert statuses == [200, 404, 404, 404, 200, 200, 200], statuses
        for evicted in sessions[1:]:
            assert await wait_for_state(capped, evicted["mcp-session-id"], "closed") == "closed"
        assert registry_state(capped, sessions[0]["mcp-session-id"]) == "active"

        # Sessions that are all busy (a GET stream open each) are not evicted: the newcomer is refused.
        async with contextlib.AsyncExitStack() as streams:
            for headers in [sessions[0], *newcomers]:
                stream = await streams.enter_async_context(
                    http.stream("GET", capped.mcp_url, headers={**headers, "accept": "text/event-stream"})
                )
                assert stream.status_code == 200
            refused = await http.post(capped.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
            assert refused.status_code == 503
            assert "maximum of 5 sessions" in refused.json()["error"]["message"]
            await while_witnessed(witness)
    witness.assert_unharmed()


# --- the per-IP rule ----------------------------------------------------------------------------------------------
ATTACKER = {"x-forwarded-for": "203.0.113.7"}


@pytest.fixture(scope="module")
def per_ip(origin: OriginServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    db = Path(tmp_path_factory.mktemp("sessions-per-ip")) / "db.sqlite3"
    env = base_env(SQLITE_PATH=str(db))
    migrate(db, env)
    with contextlib.closing(sqlite3.connect(db)) as conn:  # the default rule, set to 3 before the server starts
        changed = conn.execute("update ops_ratelimitrule set rate = '3/h' where scope = 'sessions_per_ip'").rowcount
        conn.commit()
    assert changed == 1, "the default sessions-per-ip rule is missing"
    with daphne(db_path=db, **origin.settings_env(), TRUSTED_PROXIES="127.0.0.1") as srv:
        yield srv


async def test_sessions_per_ip_evict_the_clients_own_oldest_idle_then_refuse(per_ip: DaphneServer) -> None:
    async with Witness(per_ip) as witness, httpx.AsyncClient(timeout=15, headers=ATTACKER) as http:
        first = [await streamable_session(http, per_ip.mcp_url) for _ in range(3)]
        later = [await streamable_session(http, per_ip.mcp_url) for _ in range(2)]
        statuses = [await call(http, per_ip, headers) for headers in first + later]
        assert statuses == [404, 404, 200, 200, 200], statuses  # its own oldest went; other clients' stayed
        async with contextlib.AsyncExitStack() as streams:
            for headers in [first[2], *later]:
                await streams.enter_async_context(
                    http.stream("GET", per_ip.mcp_url, headers={**headers, "accept": "text/event-stream"})
                )
            refused = await http.post(per_ip.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
            assert refused.status_code == 429
            body = refused.json()
            assert body["error"]["code"] == -32029 and "3 live sessions per IP" in body["error"]["message"]
            assert refused.headers["retry-after"] == "5"
            # Another IP is not affected by this one's cap.
            other = await http.post(
                per_ip.mcp_url,
                json=initialize_request(),
                headers={"accept": ACCEPT_BOTH, "x-forwarded-for": "198.51.100.9"},
            )
            assert other.status_code == 200
            await while_witnessed(witness)
    witness.assert_unharmed()


# --- idle sessions are swept on a timer ---------------------------------------------------------------------------
async def test_idle_sessions_are_swept_without_a_new_session_arriving(reaping: DaphneServer) -> None:
    sweeping = reaping  # MCP_SESSION_TTL=2, MCP_SESSION_IDLE_SWEEP=0.5
    async with httpx.AsyncClient(timeout=15) as http:
        idle = await streamable_session(http, sweeping.mcp_url)
        session_id = idle["mcp-session-id"]
        assert await wait_for_state(sweeping, session_id, "active") == "active"
        # No request and no new session from here on: only a timer can end it.
        assert await wait_for_state(sweeping, session_id, "closed", within=6.0) == "closed"
        assert await call(http, sweeping, idle) == 404
