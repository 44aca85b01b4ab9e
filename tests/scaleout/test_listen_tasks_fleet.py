"""Task status notifications across two Daphne processes sharing Redis: a stream on B follows a task running on A
(B reads the record back every poll interval, as A never tells B of its changes) to its end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.scaleout.task_fleet import message, rpc, task_pair
from tests.support.processes import DaphneServer
from tests.support.raw import sse_messages

SUB = "io.modelcontextprotocol/subscriptionId"


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with task_pair("awsmcp-listen-fleet-") as servers:
        yield servers


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


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
