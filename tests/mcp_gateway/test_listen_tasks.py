"""Task status notifications (SEP-2663) on subscriptions/listen (SEP-2575), driven on the core: the taskIds filter
and its acknowledgement, the owner rule, the capability check, the bounds, and the queue that keeps each task's
latest state once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_gateway import subscriptions, tasks
from mcp_gateway.catalogue import Catalogue, Tool
from mcp_gateway.context import RequestContext
from mcp_gateway.jsonrpc import INVALID_PARAMS, Payload, Request
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession
from mcp_gateway.tasks.manager import TaskLimits, TaskManager
from mcp_gateway.tasks.store import MemoryStore
from tests.mcp_gateway.streams import Stream

MODERN = "2026-07-28"
FOLLOWS = {"extensions": {tasks.EXTENSION: {}}}
EMPTY: dict[str, Any] = {"type": "object", "properties": {}}
SUB = subscriptions.SUBSCRIPTION_ID


class Core:
    """A core with subscriptions/listen and tasks; the `gated` tool runs (as a task) until the test opens its gate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, max_queued: int = 8, max_task_ids: int = 4) -> None:
        monkeypatch.setattr(tasks, "_manager", None)
        monkeypatch.setattr(tasks, "offers", {})
        self.gate = asyncio.Event()
        self.catalogue = Catalogue()
        self.catalogue.add_partition("aws", "")

        async def gated(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
            await self.gate.wait()
            return {"content": [{"type": "text", "text": "done"}]}

        self.catalogue.add_tool(Tool("gated", "waits for the test", EMPTY, gated))
        self.server = McpServer(self.catalogue)
        subscriptions.install(self.server, self.catalogue, max_queued, max_uris=3, max_task_ids=max_task_ids)
        tasks.offer("gated", inline=0)
        self.manager: TaskManager = tasks.install(self.server, TaskLimits(), MemoryStore())

    async def call(self, key: str, method: str, params: dict[str, Any], caps: Any = FOLLOWS) -> dict[str, Any]:
        envelope = {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: caps}
        request = Request(1, method, {**params, "_meta": envelope})
        replies = await self.server.handle_payload(session(key), Payload([request], is_batch=False), Stream())
        return replies[0]

    async def task(self, key: str) -> str:
        created = (await self.call(key, "tools/call", {"name": "gated", "arguments": {}}))["result"]
        assert created["resultType"] == "task"
        return str(created["taskId"])

    def listen(self, key: str, stream: Stream, notifications: Any, caps: Any = FOLLOWS) -> asyncio.Task[Any]:
        envelope = {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: caps}
        request = Request(f"listen-{key}", "subscriptions/listen", {"notifications": notifications, "_meta": envelope})
        payload = Payload([request], is_batch=False)
        return asyncio.ensure_future(self.server.handle_payload(session(key), payload, stream))


async def nothing(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"content": []}


def session(key: str) -> ServerSession:
    """A request's throw-away session, as the HTTP transport makes them under 2026-07-28: the key is the owner."""
    return ServerSession("throwaway", "streamable-http", "aws", remote_ip="192.0.2.9", key_name=key)


async def stop(listening: asyncio.Task[Any]) -> None:
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening


async def test_the_owner_hears_its_task_from_its_current_state_to_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    core = Core(monkeypatch)
    task_id = await core.task("alice")
    stream = Stream()
    listening = core.listen("alice", stream, {"taskIds": [task_id, "no-such-task"]})
    ack = await stream.next()
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"] == {"notifications": {"taskIds": [task_id]}, "_meta": {SUB: "listen-alice"}}
    working = await stream.next()
    assert working["method"] == "notifications/tasks"
    assert working["params"]["taskId"] == task_id and working["params"]["status"] == "working"
    assert working["params"]["_meta"] == {SUB: "listen-alice"} and "resultType" not in working["params"]
    core.gate.set()
    completed = await stream.next()
    assert completed["params"]["status"] == "completed"
    assert completed["params"]["result"]["content"] == [{"type": "text", "text": "done"}]
    assert completed["params"]["_meta"] == {SUB: "listen-alice"}
    # Identical to what tasks/get answers, as the spec asks (apart from the envelope's resultType and _meta).
    got = (await core.call("alice", "tasks/get", {"taskId": task_id}))["result"]
    assert {k: v for k, v in completed["params"].items() if k != "_meta"} == {
        k: v for k, v in got.items() if k != "resultType"
    }
    await stop(listening)
    assert not core.manager.listeners[0].__self__.listeners  # type: ignore[attr-defined]


async def test_another_owner_and_an_opted_out_stream_hear_nothing_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    core = Core(monkeypatch)
    task_id = await core.task("alice")
    owner, other, opted_out = Stream(), Stream(), Stream()
    listening = [
        core.listen("alice", owner, {"taskIds": [task_id]}),
        core.listen("bob", other, {"taskIds": [task_id], "toolsListChanged": True}),
        core.listen("alice", opted_out, {"toolsListChanged": True}),
    ]
    await owner.next()
    assert (await other.next())["params"]["notifications"] == {"toolsListChanged": True}  # not bob's task
    assert (await opted_out.next())["params"]["notifications"] == {"toolsListChanged": True}
    assert (await owner.next())["params"]["status"] == "working"
    core.gate.set()
    assert (await owner.next())["params"]["status"] == "completed"
    core.catalogue.add_tool(Tool("later", "a list change after the task ended", EMPTY, nothing))
    # Changes arrive in order: a task notification on these streams would have come before the list change.
    assert (await other.next())["method"] == "notifications/tools/list_changed"
    assert (await opted_out.next())["method"] == "notifications/tools/list_changed"
    for each in listening:
        await stop(each)


async def test_task_ids_need_the_extension_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    core = Core(monkeypatch)
    task_id = await core.task("alice")
    replies = await core.listen("alice", Stream(), {"taskIds": [task_id]}, caps={})
    assert replies[0]["error"]["code"] == MISSING_REQUIRED_CLIENT_CAPABILITY
    assert replies[0]["error"]["data"] == {"requiredCapabilities": FOLLOWS}


async def test_task_ids_are_bounded_and_never_past_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    core = Core(monkeypatch, max_queued=8, max_task_ids=2)
    replies = await core.listen("alice", Stream(), {"taskIds": ["a", "b", "c"]})
    assert replies[0]["error"]["code"] == INVALID_PARAMS and "at most 2 task ids" in replies[0]["error"]["message"]
    bad = await core.listen("alice", Stream(), {"taskIds": "a"})
    assert bad[0]["error"]["code"] == INVALID_PARAMS
    # More ids than the queue holds would end the stream at once (each one's state is queued): the queue bounds them.
    tight = Core(monkeypatch, max_queued=1, max_task_ids=5)
    replies = await tight.listen("alice", Stream(), {"taskIds": ["a", "b"]})
    assert "at most 1 task ids" in replies[0]["error"]["message"]


async def test_each_state_is_queued_in_order_once_within_the_bound_and_others_tasks_not_at_all() -> None:
    wanted = subscriptions.Filter(frozenset({"tools"}), frozenset(), frozenset({"t1", "t2"}))
    listener = subscriptions.Listener(wanted, max_queued=3, owner="key:alice")
    listener.deliver_task("key:bob", {"taskId": "t1", "status": "working"})  # a listed id, another owner: not heard
    assert not listener.pending
    listener.deliver_task("key:alice", {"taskId": "t1", "status": "working"})
    listener.deliver_task("key:alice", {"taskId": "t1", "status": "working"})  # the same state again: once
    listener.deliver_task("key:alice", {"taskId": "t3", "status": "working"})  # not listed
    listener.deliver(("tools", ""))
    listener.deliver_task("key:alice", {"taskId": "t1", "status": "completed"})
    assert not listener.overflowed
    assert await listener.next() == (("task", "t1"), {"taskId": "t1", "status": "working"})
    assert await listener.next() == (("tools", ""), None)
    assert await listener.next() == (("task", "t1"), {"taskId": "t1", "status": "completed"})
    for status in ("working", "input_required", "working"):
        listener.deliver_task("key:alice", {"taskId": "t2", "status": status})
    assert not listener.overflowed
    listener.deliver_task("key:alice", {"taskId": "t2", "status": "completed"})  # one past MCP_LISTEN_MAX_QUEUED
    assert listener.overflowed and await listener.next() is None


async def test_a_server_without_tasks_acknowledges_no_task_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "_manager", None)
    catalogue = Catalogue()
    catalogue.add_partition("aws", "")
    server = McpServer(catalogue)
    subscriptions.install(server, catalogue, 4, max_uris=3)
    stream = Stream()
    envelope = {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: FOLLOWS}
    request = Request("l", "subscriptions/listen", {"notifications": {"taskIds": ["x"]}, "_meta": envelope})
    listening = asyncio.ensure_future(
        server.handle_payload(session("alice"), Payload([request], is_batch=False), stream)
    )
    assert (await stream.next())["params"]["notifications"] == {}
    await stop(listening)
