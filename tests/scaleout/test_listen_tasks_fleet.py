"""Task status notifications across two Daphne processes sharing Redis: a stream on B follows a task running on A
(B reads the record back every poll interval, as A never tells B of its changes) to its end."""

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
from tests.support.raw import request, sse_messages

TASKS = "io.modelcontextprotocol/tasks"
FOLLOWS = {"elicitation": {}, "extensions": {TASKS: {}}}
SUB = "io.modelcontextprotocol/subscriptionId"


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with redis_server() as redis:
        db = Path(tempfile.mkdtemp(prefix="awsmcp-listen-fleet-")) / "db.sqlite3"
        env = {"REDIS_URL": redis.url, "MCP_CONFORMANCE_FIXTURES": "1", "MCP_TASK_POLL_INTERVAL": "0.2"}
        with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
            yield a, b


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def message(method: str, params: dict[str, Any], msg_id: int | str = 1) -> tuple[dict[str, Any], dict[str, str]]:
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
    return request(method, {**params, "_meta": meta}, msg_id), headers


async def rpc(http: httpx.AsyncClient, server: DaphneServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body, headers = message(method, params)
    reply = await http.post(server.mcp_url, json=body, headers=headers)
    if reply.headers["content-type"].startswith("text/event-stream"):
        answer = json.loads([line for line in reply.text.splitlines() if line.startswith("data:")][-1][5:])
    else:
        answer = reply.json()
    assert "result" in answer, answer
    return dict(answer["result"])


async def heard(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """The stream's next message; a guard (not a measure) so that a notification that never comes fails the test
    instead of hanging it on the stream's keep-alives."""
    return await asyncio.wait_for(anext(stream), 60)


async def test_a_stream_on_b_follows_a_task_running_on_a_to_its_end(
    pair: tuple[DaphneServer, DaphneServer], http: httpx.AsyncClient
) -> None:
    a, b = pair
    call = {"name": "confirm_delete", "arguments": {"filename": "fleet.txt"}}
    task_id = (await rpc(http, a, "tools/call", call))["taskId"]
    body, headers = message("subscriptions/listen", {"notifications": {"taskIds": [task_id]}}, "on-b")
    async with http.stream("POST", b.mcp_url, json=body, headers=headers) as response:
        stream = sse_messages(response)
        ack = await heard(stream)
        assert ack["params"]["notifications"] == {"taskIds": [task_id]}  # B found it in the shared store
        asking = await heard(stream)
        while asking["params"]["status"] == "working":  # A may not have asked yet when B read the record
            asking = await heard(stream)
        assert asking["params"]["status"] == "input_required" and asking["params"]["_meta"] == {SUB: "on-b"}
        [key] = asking["params"]["inputRequests"]
        answer = {"taskId": task_id, "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}
        await rpc(http, b, "tasks/update", answer)  # left in A's inbox
        later = [await heard(stream)]
        while later[-1]["params"]["status"] != "completed":
            later.append(await heard(stream))
    # B polls: a state shorter than its interval (working, between the answer and the end) may be missed.
    assert [state["params"]["status"] for state in later] in (["completed"], ["working", "completed"])
    assert later[-1]["params"]["result"]["content"] == [{"type": "text", "text": "Deleted fleet.txt"}]
    assert all(state["params"]["taskId"] == task_id and state["params"]["_meta"] == {SUB: "on-b"} for state in later)
