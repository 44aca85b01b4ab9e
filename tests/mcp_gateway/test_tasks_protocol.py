"""The tasks extension on the protocol core: negotiation, tools/call answering a task, the tasks methods' errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_gateway import jsonrpc, tasks
from mcp_gateway.catalogue import Catalogue, Tool
from mcp_gateway.context import RequestContext
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession
from mcp_gateway.tasks.manager import TaskLimits, TaskManager
from mcp_gateway.tasks.store import MemoryStore
from tests.mcp_gateway.conftest import call, initialize

EXTENSIONS = {"extensions": {tasks.EXTENSION: {}}}


def meta(capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": EXTENSIONS if capabilities is None else capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
    }


@pytest.fixture
def installed(server: McpServer, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> TaskManager:
    """The extension on the test core: `slow` and `echo` may run as tasks, `chatty` only as one."""
    monkeypatch.setattr(tasks, "_manager", None)
    monkeypatch.setattr(tasks, "offers", {})
    tasks.offer("slow", inline=0)
    tasks.offer("echo", inline=0)
    tasks.offer("chatty", "required", inline=0)
    return tasks.install(server, TaskLimits(max_tasks=2), MemoryStore())


async def modern(server: McpServer, method: str, params: dict[str, Any], caps: Any = None) -> Any:
    """One stateless (2026-07-28) request, on a throw-away session as the HTTP transport makes them."""
    session = ServerSession("throwaway", "test", "aws", remote_ip="192.0.2.7")
    return await call(server, session, method, {**params, "_meta": meta(caps)})


async def test_the_extension_is_advertised(installed: TaskManager, server: McpServer, session: ServerSession) -> None:
    discovered = (await modern(server, "server/discover", {}))["result"]
    assert discovered["capabilities"]["extensions"] == {tasks.EXTENSION: {}}
    assert "tasks" not in discovered["capabilities"]
    # The extension is for 2026-07-28: initialize (the stateful revisions) advertises what it did before.
    assert "extensions" not in (await initialize(server, session))["result"]["capabilities"]


async def test_a_stateful_session_has_no_tasks(
    installed: TaskManager, server: McpServer, session: ServerSession
) -> None:
    """Even a 2025-11-25 client that declares the extension: the tasks methods do not exist there (-32601, as
    before the extension) and a tool offered for tasks answers the call itself."""
    hello = {
        "protocolVersion": "2025-11-25",
        "capabilities": EXTENSIONS,
        "clientInfo": {"name": "pytest", "version": "1"},
    }
    assert "result" in await call(server, session, "initialize", hello)
    for method in ("tasks/get", "tasks/update", "tasks/cancel"):
        params = {"taskId": "t", "inputResponses": {}}
        assert (await call(server, session, method, params))["error"]["code"] == jsonrpc.METHOD_NOT_FOUND
    direct = (await call(server, session, "tools/call", {"name": "echo", "arguments": {"text": "x"}}))["result"]
    assert direct["content"] == [{"type": "text", "text": "x"}] and "taskId" not in direct


async def test_a_declaring_request_gets_a_task_and_can_follow_it(installed: TaskManager, server: McpServer) -> None:
    created = (await modern(server, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}))["result"]
    assert created["resultType"] == "task" and created["status"] == "working"
    task_id = created["taskId"]
    for _ in range(1000):
        got = (await modern(server, "tasks/get", {"taskId": task_id}))["result"]
        if got["status"] != "working":
            break
        await asyncio.sleep(0.005)
    assert got["resultType"] == "complete" and got["status"] == "completed"
    assert got["result"]["content"] == [{"type": "text", "text": "hi"}]
    ack = (await modern(server, "tasks/cancel", {"taskId": task_id}))["result"]
    assert ack == {"resultType": "complete"}


async def test_without_the_extension_an_optional_tool_answers_directly(
    installed: TaskManager, server: McpServer
) -> None:
    reply = await modern(server, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, caps={})
    assert reply["result"] == {"content": [{"type": "text", "text": "hi"}], "resultType": "complete"}


async def test_without_the_extension_a_required_tool_is_refused(installed: TaskManager, server: McpServer) -> None:
    error = (await modern(server, "tools/call", {"name": "chatty", "arguments": {}}, caps={"sampling": {}}))["error"]
    assert error["code"] == MISSING_REQUIRED_CLIENT_CAPABILITY
    assert error["data"] == {"requiredCapabilities": {"extensions": {tasks.EXTENSION: {}}}}


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
async def test_the_tasks_methods_need_the_extension_then_a_known_task_id(
    installed: TaskManager, server: McpServer, method: str
) -> None:
    params = {"taskId": "nope", "inputResponses": {}}
    refused = await modern(server, method, params, caps={"elicitation": {}})
    assert refused["error"]["code"] == MISSING_REQUIRED_CLIENT_CAPABILITY
    assert (await modern(server, method, params))["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert (await modern(server, method, {"taskId": 5}))["error"]["code"] == jsonrpc.INVALID_PARAMS


async def test_tasks_update_needs_an_object_of_responses(installed: TaskManager, server: McpServer) -> None:
    reply = await modern(server, "tasks/update", {"taskId": "t", "inputResponses": [1]})
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert "inputResponses" in reply["error"]["message"]


@pytest.mark.parametrize("method", ["tasks/result", "tasks/list"])
async def test_the_removed_v1_methods_are_not_found(installed: TaskManager, server: McpServer, method: str) -> None:
    assert (await modern(server, method, {"taskId": "t"}))["error"]["code"] == jsonrpc.METHOD_NOT_FOUND


async def test_bad_arguments_and_unknown_tools_are_answered_without_a_task(
    installed: TaskManager, server: McpServer
) -> None:
    wrong = (await modern(server, "tools/call", {"name": "echo", "arguments": {"text": 3}}))["result"]
    assert wrong["isError"] is True and wrong["resultType"] == "complete"
    not_an_object = await modern(server, "tools/call", {"name": "echo", "arguments": [1]})
    assert not_an_object["error"]["code"] == jsonrpc.INVALID_PARAMS
    unknown = await modern(server, "tools/call", {"name": "nope", "arguments": {}})
    assert unknown["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert installed.running() == 0


async def test_a_legacy_task_hint_neither_fails_nor_makes_a_task(installed: TaskManager, server: McpServer) -> None:
    params = {"name": "greet_sync", "arguments": {}, "task": {"ttl": 60_000, "pollInterval": 100}}
    server.catalogue.add_tool(Tool("greet_sync", "sync only", {"type": "object"}, _hello))
    result = (await modern(server, "tools/call", params))["result"]
    assert result["resultType"] == "complete" and "taskId" not in result


async def _hello(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": "hello"}]}


async def test_past_max_tasks_an_optional_tool_answers_directly_and_a_required_one_is_refused(
    installed: TaskManager, server: McpServer, catalogue: Catalogue
) -> None:
    for _ in range(2):  # MCP_MAX_TASKS=2 for this client (its address: no key, no session)
        assert (await modern(server, "tools/call", {"name": "slow", "arguments": {}}))["result"]["resultType"] == "task"
    direct = (await modern(server, "tools/call", {"name": "echo", "arguments": {"text": "x"}}))["result"]
    assert direct == {"content": [{"type": "text", "text": "x"}], "resultType": "complete"}
    refused = (await modern(server, "tools/call", {"name": "chatty", "arguments": {}}))["error"]
    assert refused["code"] == jsonrpc.INVALID_REQUEST
    assert "already has 2 unfinished tasks" in refused["message"]


def test_owners_are_the_key_else_the_session_else_the_address() -> None:
    keyed = ServerSession("s1", "test", "aws", key_name="team-a", remote_ip="192.0.2.1")
    stateful = ServerSession("s2", "test", "aws", protocol_version="2025-11-25", remote_ip="192.0.2.1")
    stateless = ServerSession("s3", "test", "aws", protocol_version="2026-07-28", remote_ip="192.0.2.1")
    assert tasks.owner_of(keyed) == "key:team-a"
    assert tasks.owner_of(stateful) == "session:s2"
    assert tasks.owner_of(stateless) == "ip:192.0.2.1"


async def test_a_tool_asking_from_a_task_asks_through_the_task(installed: TaskManager, server: McpServer) -> None:
    """ctx.ask_client in work that runs as a task: the question shows on tasks/get, tasks/update answers it."""
    tasks.offer("asker", inline=0)
    follows = {"elicitation": {}, **EXTENSIONS}
    created = (await modern(server, "tools/call", {"name": "asker", "arguments": {}}, caps=follows))["result"]
    task_id = created["taskId"]
    for _ in range(1000):
        got = (await modern(server, "tasks/get", {"taskId": task_id}, caps=follows))["result"]
        if got["status"] == "input_required":
            break
        await asyncio.sleep(0.005)
    ((key, asked),) = got["inputRequests"].items()
    assert asked == {"method": "elicitation/create", "params": {"message": "name?", "requestedSchema": {}}}
    answer = {"action": "accept", "content": {"name": "Bob"}}
    update = {"taskId": task_id, "inputResponses": {key: answer}}
    assert (await modern(server, "tasks/update", update, caps=follows))["result"] == {"resultType": "complete"}
    for _ in range(1000):
        got = (await modern(server, "tasks/get", {"taskId": task_id}, caps=follows))["result"]
        if got["status"] != "working":
            break
        await asyncio.sleep(0.005)
    assert got["status"] == "completed" and got["result"]["content"][0]["text"] == "got Bob"


async def test_status_changes_reach_listeners_as_notifications(installed: TaskManager, server: McpServer) -> None:
    """The hook a subscriptions/listen stream uses: each new state of a task, with its owner."""
    heard: list[tuple[str, dict[str, Any]]] = []

    async def listener(owner: str, task: dict[str, Any]) -> None:
        heard.append((owner, tasks.status_notification(task, {"io.modelcontextprotocol/subscriptionId": 9})))

    manager = tasks.manager()
    assert manager is installed
    manager.listeners.append(listener)
    created = (await modern(server, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}))["result"]
    for _ in range(1000):
        if heard:
            break
        await asyncio.sleep(0.005)
    ((owner, note),) = heard
    assert owner == "ip:192.0.2.7"
    assert note["method"] == "notifications/tasks"
    params = note["params"]
    assert params["taskId"] == created["taskId"] and params["status"] == "completed"
    assert params["result"]["content"] == [{"type": "text", "text": "hi"}]
    assert params["_meta"] == {"io.modelcontextprotocol/subscriptionId": 9} and "resultType" not in params


async def test_past_max_kept_tasks_an_optional_tool_answers_directly_and_a_required_one_is_refused(
    server: McpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished task keeps its result until its TTL: MCP_MAX_KEPT_TASKS bounds how many one owner has."""
    monkeypatch.setattr(tasks, "_manager", None)
    monkeypatch.setattr(tasks, "offers", {})
    tasks.offer("echo", inline=0)
    tasks.offer("chatty", "required", inline=0)
    tasks.install(server, TaskLimits(max_kept=1), MemoryStore())
    task_id = (await modern(server, "tools/call", {"name": "echo", "arguments": {"text": "kept"}}))["result"]["taskId"]
    for _ in range(1000):
        if (await modern(server, "tasks/get", {"taskId": task_id}))["result"]["status"] == "completed":
            break
        await asyncio.sleep(0.005)
    direct = (await modern(server, "tools/call", {"name": "echo", "arguments": {"text": "x"}}))["result"]
    assert direct == {"content": [{"type": "text", "text": "x"}], "resultType": "complete"}
    refused = (await modern(server, "tools/call", {"name": "chatty", "arguments": {}}))["error"]
    assert refused["code"] == jsonrpc.INVALID_REQUEST
    assert "already has 1 finished tasks whose results are kept" in refused["message"]
