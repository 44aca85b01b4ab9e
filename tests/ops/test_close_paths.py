"""Both ways the server ends a session, on every transport, against a real Daphne: an operator's "Close connection"
in the admin (over HTTP, as a browser posts it) and the keep-alive giving up on a client that never answers pings.

Each must really end the session: the client's stream or socket ends (a WebSocket with the close code saying why,
mcp_gateway.closing), the Connection row turns closed, the open-connections gauge comes back down, and the stream
slot is freed (the last test fills every slot, has them closed, and opens as many streams again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mcp_types as types
import pytest
from redis import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from mcp_gateway.closing import CloseCode
from tests.support.admin import close_from_admin, staff_client, staff_cookies
from tests.support.clients import TRANSPORTS, open_session
from tests.support.processes import DaphneServer, daphne, redis_server
from tests.support.raw import ACCEPT_BOTH, LegacySse, request

MAX_STREAMS = 3  # MCP_MAX_CONNECTIONS of the module's server: a leaked slot shows in the last test
WAIT = 20.0  # seconds any awaited outcome may take before the test fails


@pytest.fixture(scope="module")
def server() -> Iterator[DaphneServer]:
    db = Path(tempfile.mkdtemp(prefix="awsmcp-close-")) / "db.sqlite3"
    with daphne(
        db_path=db,
        OPS_ACTIVITY_FLUSH="0.2",
        MCP_PING_INTERVAL="0.3",
        MCP_PONG_TIMEOUT="0.3",
        MCP_PING_MISSES_BEFORE_CLOSE="2",
        MCP_MAX_CONNECTIONS=str(MAX_STREAMS),
    ) as srv:
        yield srv


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a condition the server reaches on its own (a batch flush, a close), failing after WAIT s."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def gauge(http: httpx.AsyncClient, transport: str) -> float:
    """The open-connections gauge of one transport, from /metrics."""
    text = (await http.get("/metrics")).text
    found = re.search(rf'awsmcp_open_connections\{{partition="aws",transport="{transport}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def row_keys(admin: httpx.AsyncClient, client: str, state: str) -> list[str]:
    """The admin's Connection rows of this client name in this state."""
    page = await admin.get("/admin/ops/connection/", params={"state__exact": state, "q": client})
    assert page.status_code == 200, page.text[:300]
    return re.findall(r'name="_selected_action" value="(\d+)"', page.text)


async def ended(admin: httpx.AsyncClient, client: str, transport: str, before: float) -> None:
    """What every close must leave: the row closed, no row of it active, the gauge back where it was."""

    async def closed_row() -> bool:
        return bool(await row_keys(admin, client, "closed")) and not await row_keys(admin, client, "active")

    await eventually(closed_row, f"{client}'s Connection row to close")
    await eventually(lambda: _equals(gauge(admin, transport), before), f"the {transport} gauge to come back down")


async def _equals(value: Awaitable[float], expected: float) -> bool:
    return await value == expected


# --- the operator's close ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_closing_from_the_admin_ends_the_session(
    server: DaphneServer, admin: httpx.AsyncClient, transport: str
) -> None:
    client = f"kicked-{transport}-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, transport)
    info = types.Implementation(name=client, version="1")
    async with open_session(server, transport, client_info=info) as session:
        await eventually(lambda: _listed(admin, client), f"{client} to be listed")
        assert await gauge(admin, transport) == before + 1
        reply = await close_from_admin(admin, await row_keys(admin, client, "active"))
        assert reply.status_code == 200 and "Asked 1 session(s) to close" in reply.text
        await ended(admin, client, transport, before)
        # The client is cut off too: its next request fails instead of reaching a session.
        with pytest.raises(Exception):  # noqa: B017 (each SDK transport reports the loss its own way)
            await asyncio.wait_for(session.send_ping(), WAIT)


async def _listed(admin: httpx.AsyncClient, client: str) -> bool:
    return bool(await row_keys(admin, client, "active"))


async def _open_row(admin: httpx.AsyncClient, client: str) -> bool:
    """Listed in any state but closed."""
    return any([await row_keys(admin, client, state) for state in ("active", "idle", "stale")])


# --- the keep-alive ---------------------------------------------------------------------------------------------


def initialize(client: str, version: str = "2025-11-25") -> dict[str, object]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": client, "version": "1"}}
    return request("initialize", params, 0)


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


async def initialize_ws(ws: object, client: str) -> None:
    await ws.send(json.dumps(initialize(client)))  # type: ignore[attr-defined]
    assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["id"] == 0  # type: ignore[attr-defined]
    await ws.send(json.dumps(INITIALIZED))  # type: ignore[attr-defined]


async def close_code(ws: object) -> int:
    """Read (and ignore: pings stay unanswered) until the server closes; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)  # type: ignore[attr-defined]
    assert closed.value.rcvd is not None, "the server did not send a close frame"
    return closed.value.rcvd.code


async def answer_pings_until_closed(ws: object) -> int:
    """Answer the server's pings, as a live client does, until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = json.loads(await ws.recv())  # type: ignore[attr-defined]
            if message.get("method") == "ping":
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {}}))  # type: ignore[attr-defined]
    assert closed.value.rcvd is not None, "the server did not send a close frame"
    return closed.value.rcvd.code


async def test_a_websocket_client_that_never_answers_pings_is_disconnected(
    server: DaphneServer, admin: httpx.AsyncClient
) -> None:
    client = f"silent-ws-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, "websocket")
    async with connect(server.ws_url, subprotocols=[Subprotocol("mcp")]) as ws:
        await initialize_ws(ws, client)
        assert await close_code(ws) == CloseCode.PING_TIMEOUT
    await ended(admin, client, "websocket", before)


async def test_a_legacy_sse_client_that_never_answers_pings_is_disconnected(
    server: DaphneServer, admin: httpx.AsyncClient
) -> None:
    client = f"silent-sse-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, "sse")
    async with httpx.AsyncClient(timeout=WAIT) as http, LegacySse(http, server.sse_url) as sse:
        assert (await sse.post(initialize(client, "2024-11-05"))).status_code == 202
        assert (await sse.next_message())["id"] == 0
        await sse.post(INITIALIZED)
        await sse.until_closed(WAIT)  # pings arrive and go unanswered, then the stream ends
        assert (await sse.post(request("ping", None, 5))).status_code == 404  # the session is gone
    await ended(admin, client, "sse", before)


async def streamable_on(server: DaphneServer, http: httpx.AsyncClient, client: str) -> dict[str, str]:
    """Initialize a Streamable HTTP session on one process; the headers its later requests carry."""
    reply = await http.post(server.mcp_url, json=initialize(client), headers={"accept": ACCEPT_BOTH})
    assert reply.status_code == 200, reply.text
    headers = {
        "accept": ACCEPT_BOTH,
        "mcp-session-id": reply.headers["mcp-session-id"],
        "mcp-protocol-version": "2025-11-25",
    }
    assert (await http.post(server.mcp_url, json=INITIALIZED, headers=headers)).status_code == 202
    return headers


async def test_a_streamable_http_client_that_never_answers_pings_loses_its_get_stream_only(
    server: DaphneServer, admin: httpx.AsyncClient
) -> None:
    """Its answers are POSTs, which in a fleet may reach another process: silence here ends the stream (freeing its
    slot), not the session; the idle sweep ends the session if the client really left."""
    client = f"silent-http-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, "streamable-http")
    async with httpx.AsyncClient(timeout=WAIT) as http:
        headers = await streamable_on(server, http, client)
        get = {**headers, "accept": "text/event-stream"}
        async with http.stream("GET", server.mcp_url, headers=get) as stream:
            assert stream.status_code == 200
            pings = [line async for line in stream.aiter_lines() if '"method":"ping"' in line]
        assert pings, "the server sent no ping before giving up"
        alive = await http.post(server.mcp_url, json=request("ping", None, 5), headers=headers)
        assert alive.status_code == 200, alive.text  # the session still answers
        assert not await row_keys(admin, client, "closed")
        await eventually(lambda: _open_row(admin, client), f"{client}'s Connection row (still open)")
        await eventually(lambda: _equals(gauge(admin, "streamable-http"), before + 1), "the gauge to count it still")
        assert (await http.delete(server.mcp_url, headers=headers)).status_code == 204
    await ended(admin, client, "streamable-http", before)


# --- across processes ------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """Two processes on one Redis (channel layer, caches, leases) and one database: a client's requests and an
    operator's click land on either, as behind nginx's least_conn (deploy/nginx: not sticky)."""

    a: DaphneServer
    b: DaphneServer
    redis_url: str


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    db = Path(tempfile.mkdtemp(prefix="awsmcp-close-pair-")) / "db.sqlite3"
    fast_pings = {"MCP_PING_INTERVAL": "0.3", "MCP_PONG_TIMEOUT": "0.3", "MCP_PING_MISSES_BEFORE_CLOSE": "2"}
    with (
        redis_server() as redis,
        daphne(db_path=db, REDIS_URL=redis.url, OPS_ACTIVITY_FLUSH="0.2", **fast_pings) as a,
        daphne(db_path=db, REDIS_URL=redis.url, OPS_ACTIVITY_FLUSH="0.2", **fast_pings) as b,
    ):
        yield Pair(a, b, redis.url)


@pytest.fixture(scope="module")
def pair_cookies(pair: Pair) -> httpx.Cookies:
    return staff_cookies(pair.b)


async def test_an_operator_on_another_process_closes_a_websocket(pair: Pair, pair_cookies: httpx.Cookies) -> None:
    """B's admin closes a WebSocket held by A: the close travels on A's channel (channels-redis) to the consumer."""
    a, b = pair.a, pair.b
    client = f"kicked-far-{uuid.uuid4().hex[:8]}"
    async with staff_client(b, pair_cookies) as admin:
        before = await gauge_of(a, "websocket")
        async with connect(a.ws_url, subprotocols=[Subprotocol("mcp")]) as ws:
            await initialize_ws(ws, client)
            closing = asyncio.create_task(answer_pings_until_closed(ws))
            await eventually(lambda: _listed(admin, client), f"{client} to be listed")
            reply = await close_from_admin(admin, await row_keys(admin, client, "active"))
            assert "Asked 1 session(s) to close" in reply.text
            assert await asyncio.wait_for(closing, WAIT) == CloseCode.CLOSED_BY_OPERATOR

        async def closed_row() -> bool:
            return bool(await row_keys(admin, client, "closed")) and not await row_keys(admin, client, "active")

        await eventually(closed_row, f"{client}'s Connection row to close")
        await eventually(lambda: _equals(gauge_of(a, "websocket"), before), "A's websocket gauge to come back down")


async def test_pings_answered_through_another_process_keep_the_session(pair: Pair) -> None:
    """The GET stream is on A, the client's answers reach B (nothing routes them to A): A may end the stream, never
    the session, which keeps answering on both processes."""
    async with httpx.AsyncClient(timeout=WAIT) as http:
        headers = await streamable_on(pair.a, http, f"fleet-{uuid.uuid4().hex[:8]}")
        answered = 0
        get = {**headers, "accept": "text/event-stream"}
        async with http.stream("GET", pair.a.mcp_url, headers=get) as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("data: {") and '"method":"ping"' in line:
                    ping = json.loads(line[6:])
                    reply = {"jsonrpc": "2.0", "id": ping["id"], "result": {}}
                    assert (await http.post(pair.b.mcp_url, json=reply, headers=headers)).status_code == 202
                    answered += 1
                    if answered == 4:  # more than MCP_PING_MISSES_BEFORE_CLOSE: enough to have ended it
                        break
        for server in (pair.a, pair.b):
            alive = await http.post(server.mcp_url, json=request("ping", None, 7), headers=headers)
            assert alive.status_code == 200, alive.text
        assert (await http.delete(pair.b.mcp_url, headers=headers)).status_code == 204


def leased(redis_url: str, session_id: str) -> bool:
    """Whether any session-cap lease set in Redis (ops.leases) still counts the session."""
    client = Redis.from_url(redis_url)
    try:
        return any(client.zscore(key, session_id) is not None for key in client.scan_iter("awsmcp:sessions:*"))
    finally:
        client.close()


@pytest.mark.parametrize("ender", ["admin", "delete"])
async def test_a_streamable_session_adopted_elsewhere_ends_everywhere(
    pair: Pair, pair_cookies: httpx.Cookies, ender: str
) -> None:
    """Begun on A, adopted by B, ended on B (the admin's Disconnect served by B, or the client's DELETE): A's copy
    ends too, so the session gets 404 on both, is uncounted, and its cap lease is given back."""
    a, b = pair.a, pair.b
    client = f"adopted-{ender}-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=WAIT) as http, staff_client(b, pair_cookies) as admin:
        before = await gauge_of(a, "streamable-http")
        headers = await streamable_on(a, http, client)
        session_id = headers["mcp-session-id"]
        assert (await http.post(b.mcp_url, json=request("ping", None, 1), headers=headers)).status_code == 200
        assert await asyncio.to_thread(leased, pair.redis_url, session_id)
        await eventually(lambda: _listed(admin, client), f"{client} to be listed")
        if ender == "admin":
            reply = await close_from_admin(admin, await row_keys(admin, client, "active"))
            assert "Asked 1 session(s) to close" in reply.text
        else:
            assert (await http.delete(b.mcp_url, headers=headers)).status_code == 204

        async def gone_on(server: DaphneServer) -> bool:
            reply = await http.post(server.mcp_url, json=request("ping", None, 2), headers=headers)
            return reply.status_code == 404

        await eventually(lambda: gone_on(a), "A to forget the session")
        assert await gone_on(b)
        assert not await asyncio.to_thread(leased, pair.redis_url, session_id)
        await eventually(lambda: _equals(gauge_of(a, "streamable-http"), before), "A's gauge to come back down")
        assert await gauge_of(b, "streamable-http") == 0
        await eventually(lambda: _closed_only(admin, client), f"{client}'s Connection row to close")


async def _closed_only(admin: httpx.AsyncClient, client: str) -> bool:
    return bool(await row_keys(admin, client, "closed")) and not await _open_row(admin, client)


async def gauge_of(server: DaphneServer, transport: str) -> float:
    async with httpx.AsyncClient(base_url=server.base, timeout=WAIT) as http:
        return await gauge(http, transport)


# --- what is left afterwards ------------------------------------------------------------------------------------


async def test_every_closed_session_gave_back_its_stream_slot(server: DaphneServer, admin: httpx.AsyncClient) -> None:
    """Fill every stream slot (MCP_MAX_CONNECTIONS), have all of them closed (the operator's close heard as 4000 by
    a socket that answers its pings, the others 4000 or the keep-alive's 4001), then the process still opens all
    its streams again, and refuses one more."""
    client = f"slot-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, "websocket")
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(MAX_STREAMS):
            ws = await stack.enter_async_context(connect(server.ws_url, subprotocols=[Subprotocol("mcp")]))
            await initialize_ws(ws, client)
            sockets.append(ws)
        answering = asyncio.create_task(answer_pings_until_closed(sockets[0]))
        await eventually(lambda: _listed(admin, client), f"{client} to be listed")
        await close_from_admin(admin, await row_keys(admin, client, "active"))
        assert await asyncio.wait_for(answering, WAIT) == CloseCode.CLOSED_BY_OPERATOR
        for ws in sockets[1:]:
            assert await close_code(ws) in (CloseCode.PING_TIMEOUT, CloseCode.CLOSED_BY_OPERATOR)
    await ended(admin, client, "websocket", before)  # un-counted after its slot was given back (disconnect())
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(MAX_STREAMS):
            ws = await stack.enter_async_context(connect(server.ws_url, subprotocols=[Subprotocol("mcp")]))
            await initialize_ws(ws, "slot-probe")
            answering = asyncio.create_task(answer_pings_until_closed(ws))  # kept open while the cap is tried
            stack.callback(answering.cancel)
        with pytest.raises(InvalidStatus):  # and the cap holds: one more is refused
            await stack.enter_async_context(connect(server.ws_url, subprotocols=[Subprotocol("mcp")]))
