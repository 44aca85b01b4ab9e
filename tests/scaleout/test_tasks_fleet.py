"""Tasks (SEP-2663) across two Daphne processes sharing Redis: a task made on A is read, answered and cancelled
through B, with no routing between them (the record is in Redis; B leaves answers and cancels beside it, and the
process running the work picks them up)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import DaphneServer, daphne, redis_server
from tests.support.raw import request

TASKS = "io.modelcontextprotocol/tasks"
FOLLOWS = {"elicitation": {}, "extensions": {TASKS: {}}}


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with redis_server() as redis:
        db = Path(tempfile.mkdtemp(prefix="awsmcp-tasks-fleet-")) / "db.sqlite3"
        env = {"REDIS_URL": redis.url, "MCP_CONFORMANCE_FIXTURES": "1", "MCP_TASK_POLL_INTERVAL": "0.2"}
        with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
            yield a, b


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def rpc(http: httpx.AsyncClient, server: DaphneServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One stateless request to `server`; its result (the test fails on an error)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": FOLLOWS,
    }
    name = params.get("taskId") or params.get("name")
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
        **({"mcp-name": name} if name else {}),
    }
    reply = await http.post(server.mcp_url, json=request(method, {**params, "_meta": meta}), headers=headers)
    if reply.headers["content-type"].startswith("text/event-stream"):  # a tool that may talk back streams its answer
        body = json.loads([line for line in reply.text.splitlines() if line.startswith("data:")][-1][5:])
    else:
        body = reply.json()
    assert "result" in body, body
    return dict(body["result"])


async def until(http: httpx.AsyncClient, server: DaphneServer, task_id: str, *statuses: str) -> dict[str, Any]:
    for _ in range(300):
        task = await rpc(http, server, "tasks/get", {"taskId": task_id})
        if task["status"] in statuses:
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {statuses}: {task}")


async def test_a_task_made_on_a_is_read_and_cancelled_through_b(
    pair: tuple[DaphneServer, DaphneServer], http: httpx.AsyncClient
) -> None:
    a, b = pair
    created = await rpc(http, a, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 60}})
    task_id = created["taskId"]
    on_b = await rpc(http, b, "tasks/get", {"taskId": task_id})  # at once: the record was in Redis before the answer
    assert on_b["status"] == "working" and on_b["createdAt"] == created["createdAt"]
    assert await rpc(http, b, "tasks/cancel", {"taskId": task_id}) == {"resultType": "complete"}
    assert (await until(http, b, task_id, "cancelled", "completed", "failed"))["status"] == "cancelled"
    assert (await rpc(http, a, "tasks/get", {"taskId": task_id}))["status"] == "cancelled"


async def test_a_question_asked_on_a_is_answered_through_b(
    pair: tuple[DaphneServer, DaphneServer], http: httpx.AsyncClient
) -> None:
    a, b = pair
    created = await rpc(http, a, "tools/call", {"name": "confirm_delete", "arguments": {"filename": "x.txt"}})
    task_id = created["taskId"]
    waiting = await until(http, b, task_id, "input_required")
    ((key, asked),) = waiting["inputRequests"].items()
    assert asked["method"] == "elicitation/create"
    answer = {"action": "accept", "content": {"confirm": True}}
    assert await rpc(http, b, "tasks/update", {"taskId": task_id, "inputResponses": {key: answer}}) == {
        "resultType": "complete"
    }
    done = await until(http, b, task_id, "completed", "failed", "cancelled")
    assert done["result"]["content"][0]["text"] == "Deleted x.txt"
