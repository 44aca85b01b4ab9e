"""A client's replies to server-to-client requests, POSTed to another process than the one that asked: two Daphne
processes sharing a real redis-server, addressed directly (no nginx) so the test chooses where each leg lands, as
least_conn may choose in production.

The process that asked learns the answer over the control group (mcp_gateway.control.route_reply): pings on a GET
stream are counted as answered, a sampling request of a streamed tools/call completes, and a reply in one session
never resolves another session's request.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import DaphneServer, RedisServer, daphne, redis_server
from tests.support.raw import ACCEPT_BOTH, request, sse_messages

VERSION = "2025-11-25"
PINGS = 6  # pings answered before the stream is known to live: 3 s, while two missed pongs close it within 2 s
FLEET_ENV = {
    "MCP_PING_INTERVAL": "0.5",
    "MCP_PONG_TIMEOUT": "0.5",
    "MCP_PING_MISSES_BEFORE_CLOSE": "2",
    "MCP_CONFORMANCE_FIXTURES": "1",  # test_sampling: a tool that asks the client
}
GUARD = 30.0  # seconds: only so a broken server fails the test instead of hanging it


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def fleet(redis: RedisServer) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Processes A and B: one Redis (channel layer, session records), one database file."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-replies-fleet-")) / "db.sqlite3"
    env = {**FLEET_ENV, "REDIS_URL": redis.url}
    with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
        yield a, b
        assert a.alive(), a.log()
        assert b.alive(), b.log()


async def open_session(http: httpx.AsyncClient, server: DaphneServer) -> dict[str, str]:
    """A 2025-11-25 session begun on `server`, declaring sampling; the headers its requests carry."""
    hello = request(
        "initialize",
        {
            "protocolVersion": VERSION,
            "capabilities": {"sampling": {}},
            "clientInfo": {"name": "replies-fleet", "version": "1"},
        },
        msg_id=0,
    )
    reply = await http.post(server.mcp_url, json=hello, headers={"accept": ACCEPT_BOTH})
    assert reply.status_code == 200, reply.text
    headers = {
        "accept": ACCEPT_BOTH,
        "mcp-session-id": reply.headers["mcp-session-id"],
        "mcp-protocol-version": VERSION,
    }
    note = await http.post(
        server.mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert note.status_code == 202, note.text
    return headers


async def answer(http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str], reply: dict[str, Any]) -> None:
    """POST a client's reply to `server`: accepted (202) wherever it lands."""
    posted = await http.post(server.mcp_url, json={"jsonrpc": "2.0", **reply}, headers=headers)
    assert posted.status_code == 202, posted.text


@asynccontextmanager
async def get_stream(
    http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str]
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The session's GET stream on `server`, as its messages."""
    async with http.stream("GET", server.mcp_url, headers={**headers, "accept": "text/event-stream"}) as response:
        assert response.status_code == 200, await response.aread()
        yield sse_messages(response)


async def pong_elsewhere(
    http: httpx.AsyncClient, messages: AsyncIterator[dict[str, Any]], to: DaphneServer | None, headers: dict[str, str]
) -> list[str]:
    """Read pings off a GET stream, answering each on `to` (or nowhere), until PINGS or the stream ends; their ids."""
    ids: list[str] = []
    async for message in messages:
        assert message.get("method") == "ping", message
        ids.append(message["id"])
        if to is not None:
            await answer(http, to, headers, {"id": message["id"], "result": {}})
        if len(ids) == PINGS:
            break
    return ids


async def session_works(http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str]) -> None:
    reply = await http.post(server.mcp_url, json=request("ping", msg_id=7), headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}


async def test_pongs_posted_to_the_other_process_keep_the_get_stream_open(
    fleet: tuple[DaphneServer, DaphneServer],
) -> None:
    a, b = fleet
    async with httpx.AsyncClient(timeout=10) as http:
        headers = await open_session(http, a)
        async with get_stream(http, a, headers) as messages:
            ids = await asyncio.wait_for(pong_elsewhere(http, messages, b, headers), GUARD)
            assert len(ids) == PINGS  # two missed pongs would have ended the stream after the second
            await session_works(http, a, headers)
            await session_works(http, b, headers)


async def test_unanswered_pings_still_close_it(fleet: tuple[DaphneServer, DaphneServer]) -> None:
    """The control case: the same stream, its pings answered nowhere, ends after MCP_PING_MISSES_BEFORE_CLOSE."""
    a, _ = fleet
    async with httpx.AsyncClient(timeout=10) as http:
        headers = await open_session(http, a)
        async with get_stream(http, a, headers) as messages:
            ids = await asyncio.wait_for(pong_elsewhere(http, messages, None, headers), GUARD)
    assert len(ids) == 2


async def test_two_processes_pinging_one_session_each_get_their_own_pongs(
    fleet: tuple[DaphneServer, DaphneServer],
) -> None:
    """A GET stream on each process (each serves the session): their request ids never collide, so each reply,
    routed across, resolves the ping it answers and both streams live on."""
    a, b = fleet
    async with httpx.AsyncClient(timeout=10) as http:
        headers = await open_session(http, a)
        async with get_stream(http, a, headers) as on_a, get_stream(http, b, headers) as on_b:
            ids_a, ids_b = await asyncio.wait_for(
                asyncio.gather(pong_elsewhere(http, on_a, b, headers), pong_elsewhere(http, on_b, a, headers)), GUARD
            )
    assert len(ids_a) == len(ids_b) == PINGS
    assert not set(ids_a) & set(ids_b)


async def sampling_call(
    http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str], reply_to: DaphneServer, text: str
) -> list[dict[str, Any]]:
    """A streamed tools/call of test_sampling on `server`, its sampling request answered `text` on `reply_to`;
    the messages of its stream."""
    call = request("tools/call", {"name": "test_sampling", "arguments": {"prompt": "hello"}}, msg_id=3)
    seen: list[dict[str, Any]] = []
    async with http.stream("POST", server.mcp_url, json=call, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for message in sse_messages(response):
            seen.append(message)
            if message.get("method") == "sampling/createMessage":
                sample = {"role": "assistant", "content": {"type": "text", "text": text}, "model": "m"}
                await answer(http, reply_to, headers, {"id": message["id"], "result": sample})
    return seen


async def test_a_sampling_answer_posted_to_the_other_process_completes_the_call(
    fleet: tuple[DaphneServer, DaphneServer],
) -> None:
    a, b = fleet
    async with httpx.AsyncClient(timeout=10) as http:
        headers = await open_session(http, a)
        seen = await asyncio.wait_for(sampling_call(http, a, headers, b, "from B"), GUARD)
    assert seen[-1]["id"] == 3
    assert seen[-1]["result"]["content"] == [{"type": "text", "text": "LLM response: from B"}]


async def test_a_reply_in_another_session_resolves_nothing(fleet: tuple[DaphneServer, DaphneServer]) -> None:
    """A client answering another session's request id, in its own session, leaves that request waiting."""
    a, b = fleet
    async with httpx.AsyncClient(timeout=10) as http:
        victim = await open_session(http, a)
        intruder = await open_session(http, b)
        call = request("tools/call", {"name": "test_sampling", "arguments": {"prompt": "hello"}}, msg_id=3)
        async with http.stream("POST", a.mcp_url, json=call, headers=victim) as response:
            messages = sse_messages(response)
            asked = await asyncio.wait_for(anext(messages), GUARD)
            assert asked["method"] == "sampling/createMessage"
            forged = {"role": "assistant", "content": {"type": "text", "text": "forged"}, "model": "m"}
            for server in (a, b):  # wherever the intruder's reply lands
                await answer(http, server, intruder, {"id": asked["id"], "result": forged})
            genuine = {"role": "assistant", "content": {"type": "text", "text": "genuine"}, "model": "m"}
            await answer(http, b, victim, {"id": asked["id"], "result": genuine})
            final = await asyncio.wait_for(anext(messages), GUARD)
    assert final["result"]["content"] == [{"type": "text", "text": "LLM response: genuine"}]
