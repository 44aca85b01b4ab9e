"""Tasks (SEP-2663) over a real Daphne: a docs page read as a task and polled with tasks/get, the routing headers
of the tasks methods, and the same read answered directly to a client that cannot follow a task."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import request

TASKS = "io.modelcontextprotocol/tasks"
RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"


@pytest.fixture(scope="module")
def server() -> Iterator[DaphneServer]:
    """Every docs call of a declaring client becomes a task (no inline wait), so the test sees the task path."""
    origin = OriginServer().start()
    try:
        with daphne(**origin.settings_env(), MCP_TASK_INLINE_SECONDS="0", MCP_TASK_POLL_INTERVAL="0.2") as srv:
            yield srv
            assert srv.alive(), srv.log()
    finally:
        origin.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def post(
    http: httpx.AsyncClient, url: str, method: str, params: dict[str, Any], capabilities: dict[str, Any], name: str
) -> httpx.Response:
    """One stateless (2026-07-28) request with its envelope and routing headers."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
        "mcp-name": name,
    }
    return await http.post(url, json=request(method, {**params, "_meta": meta}), headers=headers)


async def test_a_docs_page_is_read_as_a_task(server: DaphneServer, http: httpx.AsyncClient) -> None:
    follows = {"extensions": {TASKS: {}}}
    read = {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 2000}}
    created = await post(http, server.mcp_url, "tools/call", read, follows, "read_documentation")
    assert created.status_code == 200, created.text
    task = created.json()["result"]
    assert task["resultType"] == "task" and task["status"] == "working" and task["ttlMs"] > 0
    task_id = task["taskId"]
    for _ in range(200):
        got = await post(http, server.mcp_url, "tasks/get", {"taskId": task_id}, follows, task_id)
        polled = got.json()["result"]
        if polled["status"] != "working":
            break
        await asyncio.sleep(polled["pollIntervalMs"] / 1000)
    assert polled["status"] == "completed", polled
    assert polled["resultType"] == "complete" and polled["taskId"] == task_id
    text = polled["result"]["content"][0]["text"]
    assert text.startswith(f"AWS Documentation from {RDS}:")

    direct = await post(http, server.mcp_url, "tools/call", read, {}, "read_documentation")
    answer = direct.json()["result"]
    assert answer["resultType"] == "complete" and "taskId" not in answer
    assert answer["content"][0]["text"] == text  # the task kept exactly what the call answers

    cancelled = await post(http, server.mcp_url, "tasks/cancel", {"taskId": task_id}, follows, task_id)
    assert cancelled.json()["result"] == {"resultType": "complete"}  # terminal already: the same ack


async def test_the_tasks_methods_refuse_clients_that_did_not_declare_them(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    reply = await post(http, server.mcp_url, "tasks/get", {"taskId": "some-task"}, {}, "some-task")
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == -32021
    unknown = await post(http, server.mcp_url, "tasks/get", {"taskId": "nope"}, {"extensions": {TASKS: {}}}, "nope")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == -32602


def test_a_full_task_memory_answers_calls_directly() -> None:
    """Without Redis the records live in the process, up to MCP_TASK_MEMORY_BYTES: past it a call gets its answer
    directly instead of a task (here the bound is smaller than one record)."""
    with daphne(MCP_CONFORMANCE_FIXTURES="1", MCP_TASK_MEMORY_BYTES="10") as srv:
        follows = {"extensions": {TASKS: {}}}
        call = {"name": "slow_compute", "arguments": {"seconds": 0}}
        reply = asyncio.run(_post_once(srv.mcp_url, "tools/call", call, follows, "slow_compute"))
        assert reply["resultType"] == "complete" and "taskId" not in reply
        assert reply["content"][0]["text"].startswith("Computed")


async def _post_once(url: str, method: str, params: dict[str, Any], caps: dict[str, Any], name: str) -> Any:
    async with httpx.AsyncClient(timeout=20) as http:
        reply = await post(http, url, method, params, caps, name)
    if reply.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in reply.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])["result"]
    return reply.json()["result"]
