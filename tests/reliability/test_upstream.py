"""Slow and hostile upstreams against a real Daphne: hung and trickling fetches are cut on the clock, their
sockets closed, and nobody else waits for them; only gzip and deflate bodies are accepted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.reliability.slow_origin import SlowOrigin
from tests.support.clients import open_session
from tests.support.footprint import thread_count
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import request, streamable_session
from tests.support.witness import Witness

DEADLINE = 2.0  # DOCS_FETCH_DEADLINE in these tests; the read timeout (10 s) is far longer on purpose
HOSTILE = "https://docs.aws.amazon.com/hostile/"


@pytest.fixture(scope="module")
def slow_origin() -> Iterator[SlowOrigin]:
    origin = SlowOrigin().start()
    yield origin
    origin.stop()


@pytest.fixture(scope="module")
def server(slow_origin: SlowOrigin) -> Iterator[DaphneServer]:
    # No local index: the search API's own failure is what these tests see (not its fallback, which
    # tests/docs_proxy/test_search_index_tools.py tests).
    env = {"DOCS_FETCH_DEADLINE": str(DEADLINE), "DOCS_READ_TIMEOUT": "10", "DOCS_INDEX_ENABLED": "false"}
    with daphne(**slow_origin.settings_env(), **env) as srv:
        yield srv
        assert srv.alive(), srv.log()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


def threads_of(server: DaphneServer) -> int:
    return thread_count(server.proc.pid)


def tool_result(reply: httpx.Response) -> dict[str, Any]:
    """The result of a tools/call, whether it came as JSON or as one SSE event."""
    assert reply.status_code == 200, reply.text[:300]
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        datas = [line[5:].strip() for line in reply.text.splitlines() if line.startswith("data:")]
        message = next(json.loads(d) for d in reversed(datas) if d)
    else:
        message = reply.json()
    return message["result"]


async def read_page(http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str], url: str, n: int) -> float:
    """One cold read that must fail; returns how long the caller waited."""
    started = time.monotonic()
    call = request("tools/call", {"name": "read_documentation", "arguments": {"url": url}}, msg_id=n)
    result = tool_result(await http.post(server.mcp_url, json=call, headers=headers))
    assert result["isError"], result
    return time.monotonic() - started


async def test_fifty_hung_fetches_do_not_freeze_the_process(
    server: DaphneServer, slow_origin: SlowOrigin, http: httpx.AsyncClient
) -> None:
    """Hung before headers, hung mid-body and trickling: every read ends near the deadline, the origin sees
    every socket closed, the process keeps its thread count, and other clients are answered as usual."""
    kinds = ("hang-headers", "hang-body", "trickle")
    urls = [f"{HOSTILE}{kinds[i % 3]}-{i}.html" for i in range(50)]
    headers = await streamable_session(http, server.mcp_url)
    threads_before = threads_of(server)
    async with Witness(server) as witness:
        attack = [asyncio.create_task(read_page(http, server, headers, url, i + 1)) for i, url in enumerate(urls)]
        threads = [threads_of(server)]
        initialize_waits = []
        while not all(task.done() for task in attack):
            started = time.monotonic()
            async with open_session(server, "streamable-http") as session:
                initialize_waits.append(time.monotonic() - started)
                assert (await session.list_tools()).tools
            threads.append(threads_of(server))
            await asyncio.sleep(0.1)
        waits = [task.result() for task in attack]
    print(
        f"witness worst {witness.slowest:.2f}s ({witness.answered} reads), new sessions worst "
        f"{max(initialize_waits):.2f}s ({len(initialize_waits)}), hung reads worst {max(waits):.2f}s, threads "
        f"{threads_before} -> max {max(threads)}, origin sockets held at most {max(slow_origin.held_for):.2f}s"
    )
    witness.assert_unharmed(slowest=1.0)
    assert max(initialize_waits) < 2.0, initialize_waits
    assert max(waits) < 2.5 * DEADLINE, sorted(waits)[-5:]
    assert max(threads) - threads_before < 40, (threads_before, threads)
    # The server let go of every hostile connection (closed its socket), not only of the wait for it.
    for _ in range(40):
        if slow_origin.open_connections == 0:
            break
        await asyncio.sleep(0.1)
    assert slow_origin.open_connections == 0
    assert max(slow_origin.held_for) < 2.5 * DEADLINE, sorted(slow_origin.held_for)[-5:]


async def test_a_trickled_page_is_cut_at_the_deadline(server: DaphneServer) -> None:
    async with open_session(server, "streamable-http") as session:
        started = time.monotonic()
        result = await asyncio.wait_for(
            session.call_tool("read_documentation", {"url": f"{HOSTILE}trickle-alone.html"}), 30
        )
        waited = time.monotonic() - started
    assert result.is_error and "took too long" in result.content[0].text, result
    assert DEADLINE * 0.5 < waited < 2 * DEADLINE, waited


async def test_a_trickled_search_answer_is_cut_at_the_deadline(server: DaphneServer) -> None:
    async with open_session(server, "streamable-http") as session:
        started = time.monotonic()
        result = await asyncio.wait_for(session.call_tool("search_documentation", {"search_phrase": "s3"}), 30)
        waited = time.monotonic() - started
    assert result.is_error and "took too long" in result.content[0].text, result
    assert waited < 2 * DEADLINE, waited


async def test_only_gzip_and_deflate_are_accepted(server: DaphneServer, slow_origin: SlowOrigin) -> None:
    async with open_session(server, "streamable-http") as session:
        brotli = await session.call_tool("read_documentation", {"url": f"{HOSTILE}brotli.html"})
        gzipped = await session.call_tool("read_documentation", {"url": f"{HOSTILE}gzip.html"})
    assert brotli.is_error, brotli
    assert "content-encoding 'br'" in brotli.content[0].text.lower(), brotli.content[0].text
    assert not gzipped.is_error and "Compressed bodies are read" in gzipped.content[0].text, gzipped
    assert slow_origin.accept_encodings and set(slow_origin.accept_encodings) == {"gzip, deflate"}
