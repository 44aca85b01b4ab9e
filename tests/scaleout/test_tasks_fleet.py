"""Tasks (SEP-2663) across two Daphne processes sharing Redis: a task made on A is read, answered and cancelled
through B, with no routing between them (the record is in Redis; B leaves answers and cancels beside it, and the
process running the work picks them up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.scaleout.task_fleet import rpc, task_pair
from tests.support.processes import DaphneServer


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with task_pair("awsmcp-tasks-fleet-") as servers:
        yield servers


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


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
