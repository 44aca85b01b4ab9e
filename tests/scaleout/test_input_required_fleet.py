"""An input-required round (SEP-2322) across a fleet: two Daphne processes sharing a real redis-server and
one SECRET_KEY. The round's state travels in the signed `requestState`, not in server memory, so the retry may
land on either process; a `requestState` signed with another key is refused.

Plain httpx with 2026-07-28 requests (the `_meta` envelope and the Mcp-* headers the SDK sends), so the test
chooses which process gets each leg.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import DaphneServer, RedisServer, daphne, redis_server
from tests.support.raw import ACCEPT_BOTH, sse_messages

VERSION = "2026-07-28"
TOOL = "test_input_required_result_request_state"  # asks for a confirmation; "state-ok" once its state checks out
OTHER_SECRET_KEY = "another-deployment-entirely-its-own-secret-key-9876543210"
INVALID_PARAMS = -32602


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def fleet(redis: RedisServer) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Processes A and B: one Redis, one database file, the same SECRET_KEY (base_env's)."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-mrtr-fleet-")) / "db.sqlite3"
    env = {"REDIS_URL": redis.url, "MCP_CONFORMANCE_FIXTURES": "1"}
    with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
        assert a.env["SECRET_KEY"] == b.env["SECRET_KEY"]
        yield a, b
        assert a.alive(), a.log()
        assert b.alive(), b.log()


@pytest.fixture(scope="module")
def stranger() -> Iterator[DaphneServer]:
    """A server of another deployment: same code, its own SECRET_KEY."""
    with daphne(SECRET_KEY=OTHER_SECRET_KEY, MCP_CONFORMANCE_FIXTURES="1") as server:
        yield server


def call_tool(msg_id: int, **extra: Any) -> dict[str, Any]:
    """A stateless tools/call of TOOL: the envelope declares the elicitation capability the tool asks through."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "fleet-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
    }
    params = {"name": TOOL, "arguments": {}, **extra, "_meta": meta}
    return {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": params}


async def post(http: httpx.AsyncClient, server: DaphneServer, message: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST one request to this process; returns the HTTP status and the JSON-RPC response (JSON or SSE)."""
    headers = {
        "accept": ACCEPT_BOTH,
        "mcp-protocol-version": VERSION,
        "mcp-method": "tools/call",
        "mcp-name": TOOL,
    }
    async with http.stream("POST", server.mcp_url, json=message, headers=headers) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            async for reply in sse_messages(response):
                if reply.get("id") == message["id"]:
                    return response.status_code, reply
            pytest.fail(f"the stream ended without a response to {message['id']}")
        await response.aread()
        return response.status_code, response.json()


def answers(input_requests: dict[str, Any]) -> dict[str, Any]:
    """Accept every elicitation, filling each boolean of its schema with true and each string with a name."""
    filled = {"boolean": True, "string": "Ada", "number": 1, "integer": 1}
    responses = {}
    for key, asked in input_requests.items():
        assert asked["method"] == "elicitation/create", asked
        properties = asked["params"]["requestedSchema"]["properties"]
        content = {name: filled[spec.get("type", "string")] for name, spec in properties.items()}
        responses[key] = {"action": "accept", "content": content}
    return responses


async def first_leg(http: httpx.AsyncClient, server: DaphneServer) -> dict[str, Any]:
    status, reply = await post(http, server, call_tool(1))
    assert status == 200, reply
    result = reply.get("result")
    assert result is not None, reply
    assert result["resultType"] == "input_required", result
    assert result["inputRequests"], result
    assert isinstance(result["requestState"], str) and result["requestState"], result
    return result


async def test_the_retry_completes_on_the_other_process(fleet: tuple[DaphneServer, DaphneServer]) -> None:
    a, b = fleet
    async with httpx.AsyncClient(timeout=20) as http:
        asked = await first_leg(http, a)
        retry = call_tool(2, inputResponses=answers(asked["inputRequests"]), requestState=asked["requestState"])
        status, reply = await post(http, b, retry)
    assert status == 200, reply
    result = reply.get("result")
    assert result is not None, reply
    assert result["resultType"] == "complete", result
    assert not result.get("isError"), result
    assert "state-ok" in result["content"][0]["text"]


async def test_a_request_state_signed_with_another_key_is_refused(
    fleet: tuple[DaphneServer, DaphneServer], stranger: DaphneServer
) -> None:
    a, b = fleet
    async with httpx.AsyncClient(timeout=20) as http:
        asked = await first_leg(http, stranger)
        retry = call_tool(2, inputResponses=answers(asked["inputRequests"]), requestState=asked["requestState"])
        for server in (a, b):
            status, reply = await post(http, server, retry)
            assert "result" not in reply, reply
            assert reply["error"]["code"] == INVALID_PARAMS, reply
            assert status == 400, reply
        # the same retry is good where it was minted: only the key made the difference
        status, reply = await post(http, stranger, retry)
    assert status == 200 and reply["result"]["resultType"] == "complete", reply
    assert "state-ok" in reply["result"]["content"][0]["text"]
