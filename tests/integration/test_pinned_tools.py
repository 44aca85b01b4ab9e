"""Pins for what the tools promise, against a real Daphne: one conversion for many concurrent cold reads (the
in-process single-flight), at most DOCS_MAX_CONCURRENT_FETCHES fetches at the origin at once, the recommendations
API asked with the page URL encoded, annotations and output schemas of every tool (structured results validate),
a batch read's pages fetched concurrently within that cap, a cancelled call stopped on the server, and the bound on the events a stream keeps for replay."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from docs_proxy.addresses import parse_doc_url
from tests.support.clients import open_session
from tests.support.counting_origin import SLOW_PREFIX, CountingOrigin
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import initialize_request, request, sse_events, streamable_session

PUBLIC = "https://docs.aws.amazon.com"
RDS_PATH = "/AmazonRDS/latest/UserGuide/Welcome.html"
RDS = PUBLIC + RDS_PATH
FETCH_LIMIT = 2
REPLAY = 2
DOCS_TOOLS = {"read_documentation", "read_sections", "search_table", "search_documentation", "recommend"}
STRUCTURED = {"search_table", "search_documentation", "recommend"}


@pytest.fixture(scope="module")
def counting() -> Iterator[CountingOrigin]:
    origin = CountingOrigin()
    origin.start()
    yield origin
    origin.stop()


@pytest.fixture(scope="module")
def server(counting: CountingOrigin) -> Iterator[DaphneServer]:
    with daphne(
        **counting.settings_env(),
        DOCS_MAX_CONCURRENT_FETCHES=str(FETCH_LIMIT),
        DOCS_STATS_FLUSH="0.2",
        MCP_CONFORMANCE_FIXTURES="1",
        MCP_EVENT_REPLAY=str(REPLAY),
    ) as srv:
        yield srv
        assert srv.alive(), srv.log()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def cache_events(http: httpx.AsyncClient, server: DaphneServer) -> dict[str, float]:
    """The docs cache's counters from /metrics, once the last flush (every 0.2 s here) has landed."""
    await asyncio.sleep(0.8)
    text = (await http.get(f"{server.base}/metrics")).text
    found = re.findall(r'awsmcp_docs_cache_events_total\{event="(\w+)"\} ([0-9.e+]+)', text)
    return {name: float(value) for name, value in found}


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


# --- one conversion, a bounded number of fetches ------------------------------------------------------
async def test_concurrent_cold_reads_of_one_page_convert_it_once(
    server: DaphneServer, counting: CountingOrigin, http: httpx.AsyncClient
) -> None:
    """Eight sessions read one cold page at once: one fetch, one conversion, one look at the shared layer (the
    others wait in the process, not on the shared layer's lock)."""
    path = f"{SLOW_PREFIX}single{RDS_PATH}"
    before = await cache_events(http, server)

    async def read() -> str:
        async with open_session(server, "streamable-http") as session:
            result = await session.call_tool("read_documentation", {"url": PUBLIC + path, "max_length": 200})
            assert not result.is_error, text_of(result)
            return text_of(result)

    texts = await asyncio.gather(*(read() for _ in range(8)))
    assert len(set(texts)) == 1
    after = await cache_events(http, server)
    assert counting.hits(path) == 1
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in ("conversions", "l2_misses", "origin_fetches")}
    assert delta == {"conversions": 1, "l2_misses": 1, "origin_fetches": 1}, delta


async def test_cold_reads_beyond_the_fetch_limit_wait_their_turn(
    server: DaphneServer, counting: CountingOrigin
) -> None:
    counting.reset_concurrency()
    pages = [f"{PUBLIC}{SLOW_PREFIX}limit{n}{RDS_PATH}" for n in range(3 * FETCH_LIMIT)]
    async with open_session(server, "streamable-http") as session:
        results = await asyncio.gather(
            *(session.call_tool("read_documentation", {"url": url, "max_length": 100}) for url in pages)
        )
    assert not any(result.is_error for result in results)
    assert counting.state.most_in_flight == FETCH_LIMIT  # reached, never passed


async def test_a_batch_read_fetches_its_pages_concurrently_within_the_fetch_limit(
    server: DaphneServer, counting: CountingOrigin
) -> None:
    counting.reset_concurrency()
    pages = [f"{PUBLIC}{SLOW_PREFIX}batch{n}{RDS_PATH}" for n in range(3 * FETCH_LIMIT)]
    async with open_session(server, "streamable-http") as session:
        result = await session.call_tool(
            "read_documentation_batch", {"requests": [{"url": url, "max_length": 100} for url in pages]}
        )
    assert not result.is_error, text_of(result)
    assert [page["status"] for page in result.structured_content["pages"]] == ["ok"] * len(pages)
    assert counting.state.most_in_flight == FETCH_LIMIT  # concurrent, and never past the cap


# --- paging ------------------------------------------------------------------------------------------------
async def test_following_the_hints_of_later_chunks_reads_the_page_in_order(server: DaphneServer) -> None:
    """Each chunk's hint names the start of the next (the second and third too), and the chunks join up exactly.

    A chunk ends at a block boundary in the last fifth of max_length, so each hint lies 560 to 700 past the last.
    """
    header = re.compile(
        rf"AWS Documentation from {re.escape(RDS)}:\n(?:<e>Relative links resolve against \S+</e>\n)?\n"
    )
    async with open_session(server, "streamable-http") as session:
        whole = text_of(await session.call_tool("read_documentation", {"url": RDS, "max_length": 30_000}))
        start, hints, joined = 0, [], ""
        for _chunk in range(3):
            text = text_of(
                await session.call_tool("read_documentation", {"url": RDS, "max_length": 700, "start_index": start})
            )
            top = header.match(text)
            found = re.search(
                r"\n\n<e>Content truncated. Call the read_documentation tool with start_index=(\d+) ", text
            )
            assert top is not None and found is not None, text[-300:]
            joined += text[top.end() : found.start()]
            assert 560 <= int(found.group(1)) - start <= 700
            start = int(found.group(1))
            hints.append(start)
    assert hints == sorted(hints) and len(joined) == hints[-1]
    whole_top = header.match(whole)
    assert whole_top is not None and whole[whole_top.end() :].startswith(joined)


# --- look-alike hosts -------------------------------------------------------------------------------------
LOOK_ALIKES = [
    f"https://evil-docs.aws.amazon.com{RDS_PATH}",
    f"https://xdocs.aws.amazon.com{RDS_PATH}",
    f"https://docs.aws.amazon.com.evil.com{RDS_PATH}",
    f"https://docs.aws.amazon.com@evil.com{RDS_PATH}",
    f"https://evil.com#@docs.aws.amazon.com{RDS_PATH}",
]


async def test_the_read_tool_refuses_look_alike_hosts_without_fetching(
    server: DaphneServer, counting: CountingOrigin
) -> None:
    seen = len(counting.state.requests)
    async with open_session(server, "streamable-http") as session:
        for url in LOOK_ALIKES:
            result = await session.call_tool("read_documentation", {"url": url})
            assert result.is_error, url
            assert "is not an AWS documentation host" in text_of(result) or "user names" in text_of(result), url
        china = await session.call_tool("read_documentation", {"url": "https://xdocs.amazonaws.cn/en_us/a.html"})
        assert china.is_error
    assert counting.state.requests[seen:] == []  # nothing was fetched for any of them


# --- recommend ----------------------------------------------------------------------------------------
async def test_recommend_sends_the_page_url_encoded(server: DaphneServer, counting: CountingOrigin) -> None:
    url = f"{PUBLIC}/AmazonRDS/latest/UserGuide/a&b=c+d%20e;f.html#frag"
    canonical = parse_doc_url(url, "aws").url
    seen = len(counting.requested("/v1/recommendations"))
    async with open_session(server, "streamable-http") as session:
        result = await session.call_tool("recommend", {"url": url})
    assert not result.is_error, text_of(result)
    (target,) = counting.requested("/v1/recommendations")[seen:]
    assert parse_qs(urlsplit(target).query, keep_blank_values=True) == {"path": [canonical]}, target


# --- annotations and output schemas -----------------------------------------------------------------
async def test_every_tool_is_annotated_and_structured_results_match_their_schema(server: DaphneServer) -> None:
    async with open_session(server, "streamable-http") as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert DOCS_TOOLS <= set(listed)
        for name in DOCS_TOOLS:
            hints = listed[name].annotations
            assert hints is not None, name
            assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
                True,
                False,
                True,
                True,
            ), name
            assert (listed[name].output_schema is not None) == (name in STRUCTURED), name
        calls: dict[str, dict[str, Any]] = {
            "search_table": {"url": RDS, "query": "backup"},
            "search_documentation": {"search_phrase": "rds", "limit": 3},
            "recommend": {"url": RDS},
        }
        for name, arguments in calls.items():
            result = await session.call_tool(name, arguments)
            assert not result.is_error, text_of(result)
            assert result.structured_content is not None, name
            schema = listed[name].output_schema
            assert schema is not None
            jsonschema.validate(result.structured_content, schema)


async def test_the_china_partition_tools_are_annotated(server: DaphneServer) -> None:
    async with open_session(server, "streamable-http", query="partition=aws-cn") as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    for name in ("read_documentation", "get_available_services", "search_documentation"):
        hints = listed[name].annotations
        assert hints is not None and hints.read_only_hint is True and hints.open_world_hint is True, name


# --- cancellation -------------------------------------------------------------------------------------
async def _ws_call(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def cancelled_calls(http: httpx.AsyncClient, server: DaphneServer) -> float:
    text = (await http.get(f"{server.base}/metrics")).text
    found = re.search(r'awsmcp_mcp_requests_total\{method="tools/call",outcome="cancelled"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


async def test_a_cancelled_call_is_stopped_on_the_server(server: DaphneServer, http: httpx.AsyncClient) -> None:
    """The handler is cancelled (its outcome is counted at once, not when its sleep would end) and never answers."""
    before = await cancelled_calls(http, server)
    async with connect(server.ws_url, subprotocols=[Subprotocol("mcp")]) as ws:
        await _ws_call(ws, initialize_request())
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        slow = request("tools/call", {"name": "awsmcp_test_sleep", "arguments": {"seconds": 3}}, msg_id=5)
        await ws.send(json.dumps(slow))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5, "reason": "t"}}
        await ws.send(json.dumps(cancel))
        assert await _ws_call(ws, request("ping", msg_id=6)) == {"jsonrpc": "2.0", "id": 6, "result": {}}
        while await cancelled_calls(http, server) < before + 1:
            assert time.monotonic() - started < 1.5, "the cancelled handler was not stopped"
            await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):  # past the end of the sleep: still no answer to id 5
            await asyncio.wait_for(ws.recv(), 3.5)


# --- the replay bound ---------------------------------------------------------------------------------
async def test_a_stream_keeps_only_the_newest_events_for_replay(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    call = request("tools/call", {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": 1}})
    ids = []
    async with http.stream("POST", server.mcp_url, json=call, headers=headers) as answer:
        async for event in sse_events(answer):
            if "id" in event:
                ids.append(event["id"])
    assert len(ids) > REPLAY + 1, ids
    replayed = []
    resume = {**headers, "accept": "text/event-stream", "last-event-id": ids[0]}
    async with http.stream("GET", server.mcp_url, headers=resume) as again:
        assert again.status_code == 200
        async for event in sse_events(again):
            if "id" in event:
                replayed.append(event["id"])
    assert replayed == ids[-REPLAY:], (ids, replayed)  # the newest MCP_EVENT_REPLAY only, in order
