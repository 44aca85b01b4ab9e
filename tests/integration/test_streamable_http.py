"""Streamable HTTP at /mcp with hand-made requests: status codes, headers, sessions, resumption, bad input."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.processes import DaphneServer
from tests.support.raw import ACCEPT_BOTH, initialize_request, request, sse_events, sse_messages, streamable_session


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_initialize_returns_a_long_random_session_id(server: DaphneServer, http: httpx.AsyncClient) -> None:
    first = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
    second = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
    ids = {first.headers["mcp-session-id"], second.headers["mcp-session-id"]}
    assert len(ids) == 2 and all(len(i) >= 32 for i in ids)
    assert first.json()["result"]["protocolVersion"] == "2025-11-25"


async def test_malformed_json_is_400_parse_error(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    reply = await http.post(server.mcp_url, content=b'{"jsonrpc": "2.0", "id": 1, "meth', headers=headers)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == -32700


async def test_batch_is_refused_after_2025_03_26(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url, "2025-06-18")
    batch = [request("ping", msg_id=1), request("ping", msg_id=2)]
    reply = await http.post(server.mcp_url, json=batch, headers=headers)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == -32600


async def test_batch_is_answered_in_2025_03_26(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url, "2025-03-26")
    batch = [request("ping", msg_id=1), request("tools/list", msg_id=2)]
    reply = await http.post(server.mcp_url, json=batch, headers={**headers, "accept": "application/json"})
    assert reply.status_code == 200
    answers = {item["id"]: item for item in reply.json()}
    assert answers[1]["result"] == {} and "tools" in answers[2]["result"]


async def test_missing_jsonrpc_unknown_method_and_bad_params(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    no_version = await http.post(server.mcp_url, json={"id": 5, "method": "ping"}, headers=headers)
    assert no_version.status_code == 400 and no_version.json()["error"]["code"] == -32600
    unknown = await http.post(server.mcp_url, json=request("tools/explode"), headers=headers)
    assert unknown.json()["error"]["code"] == -32601
    json_only = {**headers, "accept": "application/json"}
    wrong = await http.post(server.mcp_url, json=request("tools/call", {"name": ["x"]}), headers=json_only)
    assert wrong.json()["error"]["code"] == -32602


async def test_session_header_rules(server: DaphneServer, http: httpx.AsyncClient) -> None:
    missing = await http.post(server.mcp_url, json=request("tools/list"), headers={"accept": ACCEPT_BOTH})
    assert missing.status_code == 400
    unknown = await http.post(
        server.mcp_url, json=request("tools/list"), headers={"accept": ACCEPT_BOTH, "mcp-session-id": "nope"}
    )
    assert unknown.status_code == 404


async def test_deleted_session_is_gone(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    assert (await http.delete(server.mcp_url, headers=headers)).status_code == 204
    after = await http.post(server.mcp_url, json=request("tools/list"), headers=headers)
    assert after.status_code == 404
    assert (await http.delete(server.mcp_url, headers=headers)).status_code == 404


async def test_protocol_version_header(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    bad = await http.post(
        server.mcp_url, json=request("ping"), headers={**headers, "mcp-protocol-version": "1999-01-01"}
    )
    assert bad.status_code == 400
    older = await http.post(
        server.mcp_url, json=request("ping"), headers={**headers, "mcp-protocol-version": "2025-03-26"}
    )
    assert older.status_code == 200  # every known version is accepted in the header


async def test_foreign_origin_is_403_and_loopback_passes(server: DaphneServer, http: httpx.AsyncClient) -> None:
    evil = await http.post(
        server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, "origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    local = await http.post(
        server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, "origin": "http://localhost:3000"}
    )
    assert local.status_code == 200
    rebound = await http.post(
        server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, "host": "attacker.example"}
    )
    assert rebound.status_code in (400, 403, 421)


async def test_oversized_body_is_413(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    huge = request("tools/call", {"name": "test_simple_text", "arguments": {"pad": "x" * 200_000}})
    reply = await http.post(server.mcp_url, content=json.dumps(huge), headers=headers)
    assert reply.status_code == 413
    still = await http.post(server.mcp_url, json=request("ping"), headers=headers)
    assert still.status_code == 200


async def test_get_stream_needs_event_stream_and_a_session(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)
    assert (await http.get(server.mcp_url, headers={**headers, "accept": "application/json"})).status_code == 406
    no_session = {"accept": "text/event-stream"}
    assert (await http.get(server.mcp_url, headers=no_session)).status_code == 400
    async with http.stream("GET", server.mcp_url, headers={**headers, "accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        second = await http.get(server.mcp_url, headers={**headers, "accept": "text/event-stream"})
        assert second.status_code == 409


async def test_progress_arrives_on_the_post_stream_before_the_reply(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    headers = await streamable_session(http, server.mcp_url)
    call = request("tools/call", {"name": "test_tool_with_progress", "_meta": {"progressToken": "p1"}}, msg_id=7)
    async with http.stream("POST", server.mcp_url, json=call, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = [m async for m in sse_messages(response)]
    progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
    assert progress == [0, 50, 100]
    assert messages[-1]["id"] == 7 and "result" in messages[-1]


async def test_a_dropped_stream_is_resumed_with_last_event_id(server: DaphneServer, http: httpx.AsyncClient) -> None:
    """test_reconnection hangs up mid-call; the reply is fetched with GET and Last-Event-ID."""
    headers = await streamable_session(http, server.mcp_url)
    call = request("tools/call", {"name": "test_reconnection"}, msg_id=11)
    async with http.stream("POST", server.mcp_url, json=call, headers=headers) as response:
        events = [e async for e in sse_events(response)]
    assert events[0]["data"] == "" and "retry" in events[0]  # the priming event
    assert all('"id":11' not in e.get("data", "") for e in events)
    last_id = events[-1]["id"]
    resume = {**headers, "accept": "text/event-stream", "last-event-id": last_id}
    async with http.stream("GET", server.mcp_url, headers=resume) as response:
        messages = [m async for m in sse_messages(response)]
    assert messages[-1]["id"] == 11
    assert messages[-1]["result"]["content"][0]["text"] == "Reconnection test completed successfully"


async def test_stateless_discover_over_http(server: DaphneServer, http: httpx.AsyncClient) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    reply = await http.post(
        server.mcp_url,
        json=request("server/discover", {"_meta": meta}),
        headers={"accept": ACCEPT_BOTH, "mcp-protocol-version": "2026-07-28", "mcp-method": "server/discover"},
    )
    assert reply.status_code == 200 and "mcp-session-id" not in reply.headers
    assert "2026-07-28" in reply.json()["result"]["supportedVersions"]
    mismatch = await http.post(
        server.mcp_url,
        json=request("tools/list", {"_meta": meta}),
        headers={"accept": ACCEPT_BOTH, "mcp-protocol-version": "2025-11-25"},
    )
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == -32020


async def test_quiet_tool_calls_are_answered_as_json_and_talking_ones_as_sse(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    """read_documentation sends nothing before its result, so a client listing JSON first gets plain JSON
    (with a Content-Length); a tool that logs during the call still gets an SSE stream, and so does a
    client that lists text/event-stream first."""
    headers = await streamable_session(http, server.mcp_url)
    quiet = request("tools/call", {"name": "read_documentation", "arguments": {"url": "https://example.com/a.html"}}, 7)
    reply = await http.post(server.mcp_url, json=quiet, headers=headers)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["content-length"] == str(len(reply.content))
    body = reply.json()
    assert body["id"] == 7 and body["result"]["isError"] is True  # not an AWS host: a tool error, as JSON

    talking = request("tools/call", {"name": "test_tool_with_logging", "arguments": {}}, 8)
    async with http.stream("POST", server.mcp_url, json=talking, headers=headers) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        methods = [m.get("method") async for m in sse_messages(streamed)]
    assert "notifications/message" in methods

    prefers_sse = {**headers, "accept": "text/event-stream, application/json"}
    async with http.stream("POST", server.mcp_url, json=quiet, headers=prefers_sse) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        answers = [m async for m in sse_messages(streamed)]
    assert [a["id"] for a in answers] == [7]
