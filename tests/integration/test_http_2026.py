"""2026-07-28 requests over Streamable HTTP, by hand with httpx: every status and header rule, one table row each.

The rules: errors keep their HTTP status (400 for a bad envelope, a header mismatch or an unsupported version,
404 for a method this revision removed or never had), also when the client would take a stream; the SEP-2243
headers (Mcp-Method, Mcp-Name, Mcp-Param-*) must agree with the body; GET and DELETE are 405; Mcp-Session-Id is
ignored. A 2025-11-25 session keeps its own rules (no mirrored headers, -32002 for an unknown resource).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.processes import DaphneServer
from tests.support.raw import ACCEPT_BOTH, request, streamable_session

MODERN = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
}
NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
DROP = object()  # a header value meaning "do not send this header"


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def b64(value: str) -> str:
    return f"=?base64?{base64.b64encode(value.encode()).decode()}?="


def modern(method: str, params: dict[str, Any] | None = None, meta: Any = ENVELOPE) -> dict[str, Any]:
    body = dict(params or {})
    if meta is not None:
        body["_meta"] = meta
    return request(method, body, msg_id=7)


def headers_for(body: dict[str, Any], **changes: Any) -> dict[str, str]:
    """The headers a conforming client sends for `body`, changed as asked (DROP removes one)."""
    headers = {"accept": ACCEPT_BOTH, "mcp-protocol-version": MODERN, "mcp-method": body["method"]}
    field = NAME_FIELDS.get(body["method"])
    if field and field in body.get("params", {}):
        headers["mcp-name"] = body["params"][field]
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is DROP:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


def call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return modern("tools/call", {"name": name, "arguments": arguments or {}})


CUSTOM = call("test_custom_headers", {"region": "us-west1", "priority": 42, "verbose": True})
REGION_ONLY = call("test_custom_headers", {"region": "Hello"})

# (case, body, header changes, HTTP status, JSON-RPC error code or None for a result)
CASES = [
    ("discover", modern("server/discover"), {}, 200, None),
    ("tools/list", modern("tools/list"), {}, 200, None),
    ("initialize is removed", modern("initialize"), {}, 404, -32601),
    ("ping is removed", modern("ping"), {}, 404, -32601),
    ("logging/setLevel is removed", modern("logging/setLevel", {"level": "info"}), {}, 404, -32601),
    ("resources/subscribe is removed", modern("resources/subscribe", {"uri": "test://static-text"}), {}, 404, -32601),
    ("unknown method", modern("tools/explode"), {}, 404, -32601),
    ("removed, client prefers a stream", modern("initialize"), {"accept": "text/event-stream, application/json"}, 404, -32601),
    ("unknown tool, client prefers a stream", call("no_such_tool"), {"accept": "text/event-stream, application/json"}, 400, -32602),
    ("unknown resource (SEP-2164)", modern("resources/read", {"uri": "test://nothing"}), {}, 400, -32602),
    ("no _meta", modern("tools/list", meta=None), {}, 400, -32602),
    ("_meta without capabilities", modern("tools/list", meta={"io.modelcontextprotocol/protocolVersion": MODERN}), {}, 400, -32602),
    ("no MCP-Protocol-Version", modern("tools/list"), {"mcp_protocol_version": DROP}, 400, -32020),
    ("MCP-Protocol-Version disagrees", modern("tools/list"), {"mcp_protocol_version": "2025-11-25"}, 400, -32020),
    ("unsupported version", modern("tools/list", meta={**ENVELOPE, "io.modelcontextprotocol/protocolVersion": "v9"}), {"mcp_protocol_version": "v9"}, 400, -32022),
    ("no Mcp-Method", modern("tools/list"), {"mcp_method": DROP}, 400, -32020),
    ("Mcp-Method disagrees", modern("tools/list"), {"mcp_method": "prompts/list"}, 400, -32020),
    ("Mcp-Method values are case-sensitive", modern("tools/list"), {"mcp_method": "TOOLS/LIST"}, 400, -32020),
    ("no Mcp-Name", call("test_simple_text"), {"mcp_name": DROP}, 400, -32020),
    ("Mcp-Name disagrees", call("test_simple_text"), {"mcp_name": "test_error_handling"}, 400, -32020),
    ("Mcp-Name in base64", call("test_simple_text"), {"mcp_name": b64("test_simple_text")}, 200, None),
    ("Mcp-Name of prompts/get", modern("prompts/get", {"name": "test_simple_prompt"}), {"mcp_name": "x"}, 400, -32020),
    ("Mcp-Name of resources/read", modern("resources/read", {"uri": "test://static-text"}), {}, 200, None),
    ("Mcp-Param headers agree", CUSTOM, {"mcp_param_region": "us-west1", "mcp_param_priority": "42", "mcp_param_verbose": "true"}, 200, None),
    ("an integer compares as a number", CUSTOM, {"mcp_param_region": "us-west1", "mcp_param_priority": "42.0", "mcp_param_verbose": "true"}, 200, None),
    ("a 5,000-digit integer is a mismatch, not a crash", CUSTOM, {"mcp_param_region": "us-west1", "mcp_param_priority": "4" * 5000, "mcp_param_verbose": "true"}, 400, -32020),
    ("a boolean is lower case", CUSTOM, {"mcp_param_region": "us-west1", "mcp_param_priority": "42", "mcp_param_verbose": "True"}, 400, -32020),
    ("Mcp-Param missing", CUSTOM, {"mcp_param_region": "us-west1", "mcp_param_priority": "42"}, 400, -32020),
    ("Mcp-Param disagrees", REGION_ONLY, {"mcp_param_region": "World"}, 400, -32020),
    ("Mcp-Param in base64", REGION_ONLY, {"mcp_param_region": b64("Hello")}, 200, None),
    ("Mcp-Param base64 without padding", REGION_ONLY, {"mcp_param_region": "=?base64?SGVsbG8?="}, 400, -32020),
    ("Mcp-Param base64 with bad characters", REGION_ONLY, {"mcp_param_region": "=?base64?SGVs!!!bG8=?="}, 400, -32020),
    ("Mcp-Param without the suffix is literal", call("test_custom_headers", {"region": "=?base64?SGVsbG8="}), {"mcp_param_region": "=?base64?SGVsbG8="}, 200, None),
    ("Mcp-Param sent for an absent argument", call("test_custom_headers", {"region": "a"}), {"mcp_param_region": "a", "mcp_param_priority": "1"}, 400, -32020),
    ("Mcp-Param names are case-insensitive", REGION_ONLY, {"MCP-PARAM-REGION": "Hello"}, 200, None),
    ("Mcp-Session-Id is ignored", modern("tools/list"), {"mcp_session_id": "no-such-session"}, 200, None),
    ("Last-Event-ID is ignored", modern("tools/list"), {"last_event_id": "abc_3"}, 200, None),
]  # fmt: skip


@pytest.mark.parametrize(("body", "changes", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_status_and_header_rules(
    server: DaphneServer,
    http: httpx.AsyncClient,
    body: dict[str, Any],
    changes: dict[str, Any],
    status: int,
    code: int | None,
) -> None:
    reply = await http.post(server.mcp_url, json=body, headers=headers_for(body, **changes))
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    answer = reply.json()
    assert answer["id"] == 7  # errors carry the request's id
    assert "mcp-session-id" not in reply.headers
    if code is None:
        assert "result" in answer and answer["result"]["resultType"] == "complete"
    else:
        assert answer["error"]["code"] == code


async def raw_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A POST written by hand: httpx (h11) refuses to send a header value with leading or trailing spaces."""
    where = urlsplit(url)
    payload = json.dumps(body).encode()
    lines = [
        f"POST {where.path} HTTP/1.1",
        f"host: {where.netloc}",
        "connection: close",
        "content-type: application/json",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {len(payload)}")
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(content)


@pytest.mark.parametrize(
    ("body", "header", "value"),
    [
        (modern("tools/list"), "mcp-method", "  tools/list "),
        (call("test_simple_text"), "mcp-name", "  test_simple_text\t"),
    ],
    ids=["Mcp-Method", "Mcp-Name"],
)
async def test_whitespace_around_a_header_value_is_not_part_of_it(
    server: DaphneServer, body: dict[str, Any], header: str, value: str
) -> None:
    """RFC 9110 5.5: optional whitespace around a field value is dropped before the value is compared."""
    status, answer = await raw_post(server.mcp_url, body, headers_for(body, **{header.replace("-", "_"): value}))
    assert status == 200 and answer["result"]["resultType"] == "complete"


async def test_a_duplicated_routing_header_is_a_mismatch(server: DaphneServer, http: httpx.AsyncClient) -> None:
    body = modern("tools/list")
    headers = [*headers_for(body).items(), ("mcp-method", "tools/list")]
    reply = await http.post(server.mcp_url, json=body, headers=headers)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == -32020


@pytest.mark.parametrize("verb", ["GET", "DELETE"])
@pytest.mark.parametrize("session", [None, "some-session"])
async def test_get_and_delete_are_405(
    server: DaphneServer, http: httpx.AsyncClient, verb: str, session: str | None
) -> None:
    headers = {"accept": "text/event-stream", "mcp-protocol-version": MODERN}
    if session:
        headers["mcp-session-id"] = session  # ignored in this revision: still no GET stream
    reply = await http.request(verb, server.mcp_url, headers=headers)
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"


async def test_a_streamed_call_that_talks_is_sse_and_ends_with_its_reply(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    """A call that logs before its reply is answered as a stream (no event ids: not resumable)."""
    body = modern("tools/call", {"name": "test_tool_with_logging", "arguments": {}})
    body["params"]["_meta"] = {**ENVELOPE, "io.modelcontextprotocol/logLevel": "info"}
    async with http.stream("POST", server.mcp_url, json=body, headers=headers_for(body)) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        text = (await reply.aread()).decode()
    assert "id:" not in text and '"notifications/message"' in text
    assert text.rstrip().splitlines()[-1].startswith("data: ") and '"id":7' in text.rstrip().splitlines()[-1]


async def test_a_2025_11_25_session_keeps_its_rules(server: DaphneServer, http: httpx.AsyncClient) -> None:
    headers = await streamable_session(http, server.mcp_url)  # no Mcp-Method, no Mcp-Name: not that revision
    headers["accept"] = "application/json"
    called = await http.post(server.mcp_url, json=request("tools/call", {"name": "test_simple_text"}), headers=headers)
    assert called.status_code == 200 and "result" in called.json()
    missing = await http.post(
        server.mcp_url, json=request("resources/read", {"uri": "test://nothing"}), headers=headers
    )
    assert missing.status_code == 200 and missing.json()["error"]["code"] == -32002
    listen = await http.post(
        server.mcp_url, json=request("subscriptions/listen", {"notifications": {}}), headers=headers
    )
    assert listen.json()["error"]["code"] == -32601  # the session has its GET stream instead
