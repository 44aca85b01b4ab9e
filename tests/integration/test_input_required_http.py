"""Input-required rounds, client capabilities and logging of 2026-07-28 requests over a real Daphne, with httpx."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, LOG_LEVEL_META_KEY, PROTOCOL_VERSION_META_KEY

from tests.support.processes import DaphneServer, daphne

VERSION = "2026-07-28"
ALL = {"sampling": {}, "elicitation": {}, "roots": {}}
JSON_ONLY = "application/json"
BOTH = "application/json, text/event-stream"


def frames(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an answer, whether plain JSON or an SSE stream."""
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    lines = (line[5:].strip() for line in response.text.splitlines() if line.startswith("data:"))
    return [json.loads(data) for data in lines if data]


def post(
    server: DaphneServer,
    method: str,
    params: dict[str, Any],
    *,
    capabilities: dict[str, Any] | None = None,
    accept: str = JSON_ONLY,
    **meta: Any,
) -> httpx.Response:
    envelope = {PROTOCOL_VERSION_META_KEY: VERSION, CLIENT_CAPABILITIES_META_KEY: ALL, **meta}
    if capabilities is not None:
        envelope[CLIENT_CAPABILITIES_META_KEY] = capabilities
    headers = {"Accept": accept, "MCP-Protocol-Version": VERSION, "Mcp-Method": method}
    if "name" in params:
        headers["Mcp-Name"] = params["name"]
    body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": {**params, "_meta": envelope}}
    return httpx.post(server.mcp_url, json=body, headers=headers, timeout=10)


def call(server: DaphneServer, name: str, **params: Any) -> dict[str, Any]:
    response = post(server, "tools/call", {"name": name, "arguments": {}, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_three_rounds_over_http(server: DaphneServer) -> None:
    r1 = call(server, "test_input_required_result_multi_round")["result"]
    assert r1["resultType"] == "input_required" and list(r1["inputRequests"]) == ["step1"]
    step1 = {"step1": {"action": "accept", "content": {"name": "Ada"}}}
    r2 = call(server, "test_input_required_result_multi_round", inputResponses=step1, requestState=r1["requestState"])
    assert list(r2["result"]["inputRequests"]) == ["step2"]
    step2 = {"step2": {"action": "accept", "content": {"color": "teal"}}}
    state = r2["result"]["requestState"]
    r3 = call(server, "test_input_required_result_multi_round", inputResponses=step2, requestState=state)
    assert r3["result"]["content"][0]["text"] == "Multi-round complete for Ada who likes teal"


def test_several_inputs_in_one_round_over_http(server: DaphneServer) -> None:
    r1 = call(server, "test_input_required_result_multiple_inputs")["result"]
    assert sorted(r1["inputRequests"]) == ["client_roots", "greeting", "user_name"]


def test_a_prompt_asks_over_http(server: DaphneServer) -> None:
    response = post(server, "prompts/get", {"name": "test_input_required_result_prompt"})
    result = response.json()["result"]
    assert result["inputRequests"]["user_context"]["method"] == "elicitation/create"
    answers = {"user_context": {"action": "accept", "content": {"context": "docs"}}}
    retry = {"name": "test_input_required_result_prompt", "inputResponses": answers}
    done = post(server, "prompts/get", {**retry, "requestState": result["requestState"]}).json()["result"]
    assert done["messages"][0]["content"]["text"] == "Prompt with context: docs"


def test_a_tampered_state_is_refused_and_the_server_answers_the_next(server: DaphneServer) -> None:
    r1 = call(server, "test_input_required_result_tampered_state")["result"]
    answers = {"confirm": {"action": "accept", "content": {"ok": True}}}
    state = r1["requestState"]
    refused = post(
        server,
        "tools/call",
        {"name": "test_input_required_result_tampered_state", "inputResponses": answers, "requestState": state + "-x"},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == -32602
    good = call(server, "test_input_required_result_tampered_state", inputResponses=answers, requestState=state)
    assert good["result"]["content"][0]["text"] == "integrity-ok: state verified"


def test_an_undeclared_capability_is_minus_32021_and_http_400(server: DaphneServer) -> None:
    response = post(server, "tools/call", {"name": "test_missing_capability", "arguments": {}}, capabilities={})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32021 and error["data"] == {"requiredCapabilities": {"sampling": {}}}
    allowed = post(server, "tools/call", {"name": "test_missing_capability", "arguments": {}}, capabilities=ALL)
    assert allowed.json()["result"]["content"][0]["text"] == "Success"


def test_the_response_stream_carries_no_request_of_the_server(server: DaphneServer) -> None:
    response = post(server, "tools/call", {"name": "test_streaming_elicitation", "arguments": {}}, accept=BOTH)
    sent = frames(response)
    assert not [m for m in sent if "method" in m and "id" in m]  # no server-to-client request
    assert sent[-1]["result"]["resultType"] == "input_required"


@pytest.mark.parametrize(("meta", "logged"), [({}, False), ({LOG_LEVEL_META_KEY: "info"}, True)])
def test_logs_only_for_a_request_that_asked_for_a_level(
    server: DaphneServer, meta: dict[str, str], logged: bool
) -> None:
    params = {"name": "test_logging_tool", "arguments": {}}
    sent = frames(post(server, "tools/call", params, accept=BOTH, **meta))
    assert any(m.get("method") == "notifications/message" for m in sent) is logged
    assert sent[-1]["result"]["content"][0]["text"] == "Logging evaluated"


@pytest.fixture(scope="module")
def bounded_server() -> Iterator[DaphneServer]:
    """States expire at once and may be at most 600 bytes long; a request may ask twice."""
    bounds = {"MCP_REQUEST_STATE_TTL": "-1", "MCP_REQUEST_STATE_MAX_BYTES": "600", "MCP_MAX_INPUT_REQUESTS": "2"}
    with daphne(MCP_CONFORMANCE_FIXTURES="1", **bounds) as srv:
        yield srv
        assert srv.alive(), srv.log()


def test_an_expired_state_is_refused(bounded_server: DaphneServer) -> None:
    r1 = call(bounded_server, "test_input_required_result_multi_round")["result"]
    answers = {"step1": {"action": "accept", "content": {"name": "Ada"}}}
    params = {"name": "test_input_required_result_multi_round", "inputResponses": answers}
    refused = post(bounded_server, "tools/call", {**params, "requestState": r1["requestState"]})
    assert refused.status_code == 400
    assert "expired" in refused.json()["error"]["message"]


def test_a_request_asks_at_most_the_bound(bounded_server: DaphneServer) -> None:
    params = {"name": "test_input_required_result_multiple_inputs", "arguments": {}}  # three asks
    refused = post(bounded_server, "tools/call", params)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "a request may ask the client at most 2 times"
    two = call(bounded_server, "test_input_required_result_multi_round")
    assert two["result"]["resultType"] == "input_required"


def test_an_oversized_state_is_refused(bounded_server: DaphneServer) -> None:
    params = {"name": "test_input_required_result_multi_round", "requestState": "x" * 601}
    refused = post(bounded_server, "tools/call", params)
    assert refused.status_code == 400
    assert "longer than 600 bytes" in refused.json()["error"]["message"]
    incompressible = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(40))
    big = {"step1": {"action": "accept", "content": {"name": incompressible}}}
    too_much = post(
        bounded_server, "tools/call", {"name": "test_input_required_result_multi_round", "inputResponses": big}
    )
    assert "over 600 bytes" in too_much.json()["error"]["message"]


def test_a_compressible_answer_over_the_bound_is_refused_like_any_other(bounded_server: DaphneServer) -> None:
    """The bound is on the state's plaintext: 100 KB of one character would seal small if compressed, and every
    replay would then expand it to the full size again."""
    answers = {"step1": {"action": "accept", "content": {"name": "a" * 100_000}}}
    refused = post(
        bounded_server, "tools/call", {"name": "test_input_required_result_multi_round", "inputResponses": answers}
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == -32602
    assert "over 600 bytes" in refused.json()["error"]["message"]


async def test_a_stateful_session_gets_a_real_elicitation_from_the_same_tool(server: DaphneServer) -> None:
    headers = {"Accept": BOTH, "MCP-Protocol-Version": "2025-11-25"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "pytest", "version": "1"},
        },
    }
    async with httpx.AsyncClient(timeout=10) as http:
        opened = await http.post(server.mcp_url, json=init, headers={"Accept": BOTH})
        headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
        await http.post(server.mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "test_input_required_result_elicitation"},
        }
        asked: list[dict[str, Any]] = []
        async with http.stream("POST", server.mcp_url, json=call, headers=headers) as stream:
            async for line in stream.aiter_lines():
                data = line[5:].strip() if line.startswith("data:") else ""
                message = json.loads(data) if data else {}
                if message.get("method") == "elicitation/create":
                    asked.append(message)
                    answer = {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": {"action": "accept", "content": {"name": "Ada"}},
                    }
                    assert (await http.post(server.mcp_url, json=answer, headers=headers)).status_code == 202
                elif message.get("id") == 2:
                    break
    assert asked[0]["params"]["message"] == "What is your name?"
    assert message["result"]["content"][0]["text"] == "Hello, Ada!"
