"""Task status notifications (SEP-2663) on subscriptions/listen over a real Daphne with API keys: the owner's stream
hears its task from input_required through working to completed; another key's stream, which listed the same
task, and the owner's stream that did not list it hear nothing of it; a client that does not follow tasks is
refused (-32021)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import DaphneServer, daphne
from tests.support.raw import ACCEPT_BOTH, request, sse_messages

MODERN = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
FOLLOWS = {"elicitation": {}, "extensions": {TASKS: {}}}
SUB = "io.modelcontextprotocol/subscriptionId"


@pytest.fixture(scope="module")
def locked() -> Iterator[DaphneServer]:
    """Fixture tools (confirm_delete waits for the client's answer), every request needing an API key."""
    with daphne(MCP_CONFORMANCE_FIXTURES="1", MCP_AUTH_REQUIRED="true", MCP_TASK_POLL_INTERVAL="0.2") as srv:
        yield srv
        assert srv.alive(), srv.log()


@pytest.fixture(scope="module")
def keys(locked: DaphneServer) -> dict[str, str]:
    made = {name: locked.manage("create_api_key", name) for name in ("alice", "bob")}
    for done in made.values():
        assert done.returncode == 0, done.stderr
    return {name: done.stdout.strip() for name, done in made.items()}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def headers(token: str, method: str, name: str | None = None) -> dict[str, str]:
    sent = {
        "accept": ACCEPT_BOTH,
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
        "authorization": f"Bearer {token}",
    }
    if name is not None:
        sent["mcp-name"] = name
    return sent


def body(method: str, params: dict[str, Any], caps: dict[str, Any], msg_id: int | str = 1) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
    }
    return request(method, {**params, "_meta": meta}, msg_id)


async def post(
    http: httpx.AsyncClient, url: str, token: str, method: str, params: dict[str, Any], name: str | None = None
) -> httpx.Response:
    return await http.post(url, json=body(method, params, FOLLOWS), headers=headers(token, method, name))


async def known(http: httpx.AsyncClient, url: str, keys: dict[str, str]) -> None:
    """Waits until every process has loaded the keys made after it started (they reload every OPS_RULES_POLL)."""
    for token in keys.values():
        for _ in range(100):
            reply = await post(http, url, token, "server/discover", {})
            if reply.status_code != 401:
                break
            await asyncio.sleep(0.1)
        assert reply.status_code == 200, reply.text


@contextlib.asynccontextmanager
async def listening(
    http: httpx.AsyncClient, url: str, token: str, notifications: dict[str, Any], msg_id: str
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    sent = body("subscriptions/listen", {"notifications": notifications}, FOLLOWS, msg_id)
    async with http.stream("POST", url, json=sent, headers=headers(token, "subscriptions/listen")) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        yield sse_messages(response)


async def heard(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """The stream's next message; a guard (not a measure) so that a notification that never comes fails the test
    instead of hanging it on the stream's keep-alives."""
    return await asyncio.wait_for(anext(stream), 60)


async def test_only_the_owner_that_listed_a_task_hears_its_states(
    locked: DaphneServer, keys: dict[str, str], http: httpx.AsyncClient
) -> None:
    url, alice, bob = locked.mcp_url, keys["alice"], keys["bob"]
    await known(http, url, keys)
    call = {"name": "confirm_delete", "arguments": {"filename": "notes.txt"}}
    created = (await post(http, url, alice, "tools/call", call, "confirm_delete")).json()["result"]
    assert created["resultType"] == "task"
    task_id = created["taskId"]
    async with (
        listening(http, url, alice, {"taskIds": [task_id]}, "alice-tasks") as owner,
        listening(http, url, bob, {"taskIds": [task_id], "toolsListChanged": True}, "bob") as other,
        listening(http, url, alice, {"toolsListChanged": True}, "alice-lists") as opted_out,
    ):
        ack = await heard(owner)
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"] == {"notifications": {"taskIds": [task_id]}, "_meta": {SUB: "alice-tasks"}}
        # Bob listed Alice's task: he is acknowledged without it, as tasks/get would not show it to him either.
        assert (await heard(other))["params"]["notifications"] == {"toolsListChanged": True}
        assert (await heard(opted_out))["params"]["notifications"] == {"toolsListChanged": True}

        asking = await heard(owner)  # the state the task is in now: waiting for Alice's answer
        assert asking["method"] == "notifications/tasks"
        assert asking["params"]["taskId"] == task_id and asking["params"]["status"] == "input_required"
        assert asking["params"]["_meta"] == {SUB: "alice-tasks"}
        [key] = asking["params"]["inputRequests"]
        answer = {"taskId": task_id, "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}
        assert (await post(http, url, alice, "tasks/update", answer, task_id)).status_code == 200

        working = await heard(owner)
        assert working["params"]["status"] == "working" and "inputRequests" not in working["params"]
        completed = await heard(owner)
        assert completed["params"]["status"] == "completed" and completed["params"]["_meta"] == {SUB: "alice-tasks"}
        assert completed["params"]["result"]["content"] == [{"type": "text", "text": "Deleted notes.txt"}]

        trigger = {"name": "test_trigger_tool_change", "arguments": {}}
        assert (await post(http, url, alice, "tools/call", trigger, "test_trigger_tool_change")).status_code == 200
        # Messages come in order: any notification of the task on these streams would have come first.
        assert (await heard(other))["method"] == "notifications/tools/list_changed"
        assert (await heard(opted_out))["method"] == "notifications/tools/list_changed"


async def test_a_slow_task_is_heard_working_then_completed(
    locked: DaphneServer, keys: dict[str, str], http: httpx.AsyncClient
) -> None:
    url, bob = locked.mcp_url, keys["bob"]
    await known(http, url, keys)
    call = {"name": "slow_compute", "arguments": {"seconds": 2, "label": "notes"}}
    task_id = (await post(http, url, bob, "tools/call", call, "slow_compute")).json()["result"]["taskId"]
    async with listening(http, url, bob, {"taskIds": [task_id]}, "bob-tasks") as stream:
        await heard(stream)
        states = [await heard(stream)]
        if states[0]["params"]["status"] != "completed":  # listening took longer than the work: only its end
            states.append(await heard(stream))
    assert [state["params"]["status"] for state in states][-1] == "completed"
    assert states[-1]["params"]["result"]["content"] == [{"type": "text", "text": "Computed notes after 2 s"}]
    assert all(state["params"]["taskId"] == task_id for state in states)
    assert [state["params"]["status"] for state in states] in (["working", "completed"], ["completed"])


async def test_a_client_that_does_not_follow_tasks_is_refused(
    locked: DaphneServer, keys: dict[str, str], http: httpx.AsyncClient
) -> None:
    await known(http, locked.mcp_url, keys)
    sent = body("subscriptions/listen", {"notifications": {"taskIds": ["any"]}}, {}, "plain")
    reply = await http.post(locked.mcp_url, json=sent, headers=headers(keys["alice"], "subscriptions/listen"))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == -32021 and error["data"] == {"requiredCapabilities": {"extensions": {TASKS: {}}}}
