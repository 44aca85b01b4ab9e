"""The protocol core, driven directly: lifecycle, dispatch, errors, cancel, progress, logging."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcp_gateway import jsonrpc
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession
from tests.mcp_gateway.conftest import Recorder, call, initialize

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
}


async def test_requests_before_initialize_are_refused(server: McpServer, session: ServerSession) -> None:
    reply = await call(server, session, "tools/list")
    assert reply["error"]["code"] == jsonrpc.INVALID_REQUEST
    assert "not initialized" in reply["error"]["message"]
    # ping is allowed before initialization
    assert (await call(server, session, "ping"))["result"] == {}


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
async def test_initialize_accepts_every_released_version(
    server: McpServer, session: ServerSession, version: str
) -> None:
    reply = await initialize(server, session, version)
    result = reply["result"]
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "awsmcp"
    assert result["instructions"] == "instructions for aws"
    assert "tools" in result["capabilities"]
    assert session.client_info == {"name": "pytest", "version": "1"}


async def test_initialize_offers_latest_for_an_unknown_version(server: McpServer, session: ServerSession) -> None:
    reply = await initialize(server, session, "1999-01-01")
    assert reply["result"]["protocolVersion"] == "2025-11-25"


async def test_initialize_without_version_is_bad_params(server: McpServer, session: ServerSession) -> None:
    reply = await call(server, session, "initialize", {"capabilities": {}})
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert not session.initialized


async def test_unknown_method(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    reply = await call(server, session, "tools/explode")
    assert reply["error"]["code"] == jsonrpc.METHOD_NOT_FOUND
    assert reply["id"] == 1


async def test_tools_list_is_per_partition(server: McpServer) -> None:
    aws, china = ServerSession("a", "test", "aws"), ServerSession("b", "test", "aws-cn")
    for s in (aws, china):
        await initialize(server, s)
    aws_names = {t["name"] for t in (await call(server, aws, "tools/list"))["result"]["tools"]}
    cn_names = {t["name"] for t in (await call(server, china, "tools/list"))["result"]["tools"]}
    assert "china_only" in cn_names and "china_only" not in aws_names
    unknown = await call(server, aws, "tools/call", {"name": "china_only", "arguments": {"text": "x"}})
    assert unknown["error"]["code"] == jsonrpc.INVALID_PARAMS


async def test_tools_call_and_its_errors(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    ok = await call(server, session, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    assert ok["result"]["content"][0]["text"] == "hi"
    not_a_name = await call(server, session, "tools/call", {"name": 5})
    assert not_a_name["error"]["code"] == jsonrpc.INVALID_PARAMS
    not_an_object = await call(server, session, "tools/call", {"name": "echo", "arguments": [1]})
    assert not_an_object["error"]["code"] == jsonrpc.INVALID_PARAMS
    wrong_type = await call(server, session, "tools/call", {"name": "echo", "arguments": {"text": 3}})
    assert wrong_type["result"]["isError"] is True
    assert "text" in wrong_type["result"]["content"][0]["text"]
    failing = await call(server, session, "tools/call", {"name": "failing"})
    assert failing["result"] == {
        "content": [{"type": "text", "text": "the page does not exist; check the URL"}],
        "isError": True,
    }
    crashing = await call(server, session, "tools/call", {"name": "crashing"})
    assert crashing["result"]["isError"] is True
    assert "secret" not in crashing["result"]["content"][0]["text"]


async def test_batches_only_in_2025_03_26(server: McpServer) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in (1, 2)]
    newer = ServerSession("n", "test", "aws")
    await initialize(server, newer, "2025-06-18")
    refused = await server.handle_payload(newer, jsonrpc.payload_from(batch))
    assert len(refused) == 1 and refused[0]["error"]["code"] == jsonrpc.INVALID_REQUEST
    older = ServerSession("o", "test", "aws")
    await initialize(server, older, "2025-03-26")
    replies = await server.handle_payload(older, jsonrpc.payload_from(batch))
    assert sorted(r["id"] for r in replies) == [1, 2]
    assert all(r["result"] == {} for r in replies)


async def test_cancel_stops_the_call_and_sends_no_reply(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    emit = Recorder()
    request = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "slow"}}
    running = asyncio.create_task(server.handle_payload(session, jsonrpc.payload_from(request), emit))
    await asyncio.wait_for(server.catalogue.slow_started.wait(), 5)
    assert 9 in session.running
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    assert await server.handle_payload(session, jsonrpc.payload_from(cancel)) == []
    assert await asyncio.wait_for(running, 5) == []
    assert session.running == {}


async def test_progress_and_logging_follow_token_and_level(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    assert (await call(server, session, "logging/setLevel", {"level": "warning"}))["result"] == {}
    emit = Recorder()
    params: dict[str, Any] = {"name": "chatty", "_meta": {"progressToken": "tok"}}
    reply = await call(server, session, "tools/call", params, emit)
    assert reply["result"]["content"][0]["text"] == "done"
    progress = [m["params"] for m in emit.sent if m["method"] == "notifications/progress"]
    assert progress == [
        {"progressToken": "tok", "progress": 1, "total": 2, "message": "half"},
        {"progressToken": "tok", "progress": 2, "total": 2},
    ]
    logs = [m["params"]["data"] for m in emit.sent if m["method"] == "notifications/message"]
    assert logs == ["an error line"]  # info is below the level the client set
    bad_level = await call(server, session, "logging/setLevel", {"level": "loud"})
    assert bad_level["error"]["code"] == jsonrpc.INVALID_PARAMS


async def test_server_to_client_request_gets_the_client_reply(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    emit = Recorder()
    request = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "asker"}}
    task = asyncio.create_task(server.handle_payload(session, jsonrpc.payload_from(request), emit))
    for _ in range(100):
        if emit.sent:
            break
        await asyncio.sleep(0.01)
    asked = emit.sent[0]
    assert asked["method"] == "elicitation/create"
    answer = {"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"name": "Ada"}}}
    assert await server.handle_payload(session, jsonrpc.payload_from(answer)) == []
    replies = await asyncio.wait_for(task, 5)
    assert replies[0]["result"]["content"][0]["text"] == "got Ada"


async def test_resources_prompts_and_completion(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    read = await call(server, session, "resources/read", {"uri": "test://static"})
    assert read["result"]["contents"][0]["text"] == "static"
    missing = await call(server, session, "resources/read", {"uri": "test://nothing"})
    assert missing["error"]["code"] == jsonrpc.RESOURCE_NOT_FOUND
    prompt = await call(server, session, "prompts/get", {"name": "greet", "arguments": {"who": "Ada"}})
    assert prompt["result"]["messages"][0]["content"]["text"] == "Hello Ada"
    no_args = await call(server, session, "prompts/get", {"name": "greet"})
    assert no_args["error"]["code"] == jsonrpc.INVALID_PARAMS
    completion = await call(
        server,
        session,
        "completion/complete",
        {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "who", "value": "al"}},
    )
    assert completion["result"]["completion"] == {"values": ["alice", "albert"], "total": 2, "hasMore": False}
    bad_cursor = await call(server, session, "tools/list", {"cursor": "bogus"})
    assert bad_cursor["error"]["code"] == jsonrpc.INVALID_PARAMS


async def test_stateless_discover_and_enveloped_requests(server: McpServer, session: ServerSession) -> None:
    discover = await call(server, session, "server/discover", {"_meta": MODERN_META})
    result = discover["result"]
    assert "2026-07-28" in result["supportedVersions"]
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "awsmcp"
    fresh = ServerSession("fresh", "test", "aws")
    listed = await call(server, fresh, "tools/list", {"_meta": MODERN_META})
    assert listed["result"]["resultType"] == "complete"
    assert listed["result"]["ttlMs"] >= 0 and listed["result"]["cacheScope"] in ("public", "private")
    removed = await call(server, ServerSession("x", "test", "aws"), "ping", {"_meta": MODERN_META})
    assert removed["error"]["code"] == jsonrpc.METHOD_NOT_FOUND
    future = {**MODERN_META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    unsupported = await call(server, ServerSession("y", "test", "aws"), "tools/list", {"_meta": future})
    assert unsupported["error"]["code"] == -32022
    assert "2026-07-28" in unsupported["error"]["data"]["supported"]


def test_schemas_with_keywords_newer_than_draft_7_skip_the_compiled_check() -> None:
    from mcp_gateway.catalogue import Tool

    async def handler(arguments: dict, ctx: object) -> dict:
        return {}

    plain = Tool("plain", "", {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}, handler)
    tuple_ = Tool("tuple", "", {"type": "object", "properties": {"p": {"prefixItems": [{"type": "string"}]}}}, handler)
    assert plain.accepts is not None and tuple_.accepts is None  # draft-07 would ignore prefixItems
    assert plain.argument_errors({"n": 2}) == [] and plain.argument_errors({"n": 0})
    assert tuple_.argument_errors({"p": [1]})  # refused, as Draft 2020-12 says
    assert tuple_.argument_errors({"p": ["a"]}) == []
