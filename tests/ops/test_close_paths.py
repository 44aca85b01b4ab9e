"""Both ways the server ends a session, on every transport, against a real Daphne: an operator's "Close connection"
in the admin (over HTTP, as a browser posts it) and the keep-alive giving up on a client that never answers pings.

Each must really end the session: the client's stream or socket ends (a WebSocket with the close code saying why,
mcp_gateway.closing), the Connection row turns closed, the open-connections gauge comes back down, and the stream
slot is freed (the last test opens as many streams at once as the process allows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import mcp_types as types
import pytest
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


async def test_a_websocket_closed_from_the_admin_hears_why(server: DaphneServer, admin: httpx.AsyncClient) -> None:
    client = f"kicked-raw-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, "websocket")
    async with connect(server.ws_url, subprotocols=[Subprotocol("mcp")]) as ws:
        await initialize_ws(ws, client)
        await eventually(lambda: _listed(admin, client), f"{client} to be listed")
        await close_from_admin(admin, await row_keys(admin, client, "active"))
        assert await close_code(ws) == CloseCode.CLOSED_BY_OPERATOR
    await ended(admin, client, "websocket", before)


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


async def test_a_streamable_http_client_that_never_answers_pings_loses_its_session(
    server: DaphneServer, admin: httpx.AsyncClient
) -> None:
    client = f"silent-http-{uuid.uuid4().hex[:8]}"
    before = await gauge(admin, "streamable-http")
    async with httpx.AsyncClient(timeout=WAIT) as http:
        reply = await http.post(server.mcp_url, json=initialize(client), headers={"accept": ACCEPT_BOTH})
        assert reply.status_code == 200, reply.text
        headers = {
            "accept": ACCEPT_BOTH,
            "mcp-session-id": reply.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        assert (await http.post(server.mcp_url, json=INITIALIZED, headers=headers)).status_code == 202
        get = {**headers, "accept": "text/event-stream"}
        async with http.stream("GET", server.mcp_url, headers=get) as stream:
            assert stream.status_code == 200
            pings = [line async for line in stream.aiter_lines() if '"method":"ping"' in line]
        assert pings, "the server sent no ping before giving up"
        gone = await http.post(server.mcp_url, json=request("ping", None, 5), headers=headers)
        assert gone.status_code == 404
    await ended(admin, client, "streamable-http", before)


# --- across processes ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two processes on one Redis (channel layer, caches) and one database: an operator's click lands on either."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-close-pair-")) / "db.sqlite3"
    with (
        redis_server() as redis,
        daphne(db_path=db, REDIS_URL=redis.url, OPS_ACTIVITY_FLUSH="0.2") as a,
        daphne(db_path=db, REDIS_URL=redis.url, OPS_ACTIVITY_FLUSH="0.2") as b,
    ):
        yield a, b


async def test_an_operator_on_another_process_closes_a_websocket(pair: tuple[DaphneServer, DaphneServer]) -> None:
    """B's admin closes a WebSocket held by A: the close travels on A's channel (channels-redis) to the consumer."""
    a, b = pair
    client = f"kicked-far-{uuid.uuid4().hex[:8]}"
    async with staff_client(b, await asyncio.to_thread(staff_cookies, b)) as admin:
        before = await gauge_of(a, "websocket")
        async with connect(a.ws_url, subprotocols=[Subprotocol("mcp")]) as ws:
            await initialize_ws(ws, client)
            await eventually(lambda: _listed(admin, client), f"{client} to be listed")
            reply = await close_from_admin(admin, await row_keys(admin, client, "active"))
            assert "Asked 1 session(s) to close" in reply.text
            assert await close_code(ws) == CloseCode.CLOSED_BY_OPERATOR

        async def closed_row() -> bool:
            return bool(await row_keys(admin, client, "closed")) and not await row_keys(admin, client, "active")

        await eventually(closed_row, f"{client}'s Connection row to close")
        await eventually(lambda: _equals(gauge_of(a, "websocket"), before), "A's websocket gauge to come back down")


async def gauge_of(server: DaphneServer, transport: str) -> float:
    async with httpx.AsyncClient(base_url=server.base, timeout=WAIT) as http:
        return await gauge(http, transport)


# --- what is left afterwards ------------------------------------------------------------------------------------


async def test_every_closed_session_gave_back_its_stream_slot(server: DaphneServer) -> None:
    """Run last: the closes above freed their slots, so the process still opens all MCP_MAX_CONNECTIONS streams."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(MAX_STREAMS):
            ws = await stack.enter_async_context(connect(server.ws_url, subprotocols=[Subprotocol("mcp")]))
            await initialize_ws(ws, "slot-probe")
        with pytest.raises(InvalidStatus):  # and the cap holds: one more is refused
            await stack.enter_async_context(connect(server.ws_url, subprotocols=[Subprotocol("mcp")]))
