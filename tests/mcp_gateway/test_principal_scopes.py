"""Who is calling and what may they do, through the real transports in process (ASGI, no server): a gate proves
scoped OAuth principals (tests.mcp_gateway.scoped_gate), the docs tools declare their scopes, and each transport
refuses a request needing a scope its principal lacks: 403 with the gate's challenge naming every scope needed over
HTTP (Streamable HTTP sessions and stateless 2026-07-28 requests, the legacy SSE POST), -32003 on a WebSocket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from pytest_django.fixtures import Settings

from mcp_gateway import directory, warden
from mcp_gateway.catalogue import catalogue
from mcp_gateway.gate import ANONYMOUS, Gate, Principal
from mcp_gateway.scopes import INSUFFICIENT_SCOPE, needed_scopes
from mcp_gateway.sessions import ServerSession, new_session_id
from mcp_gateway.transports.security import resource_url
from mcp_gateway.transports.sse import LegacyMessageEndpoint, LegacySseStream
from mcp_gateway.transports.streamable import StreamableEndpoint
from mcp_gateway.transports.websocket import McpWebsocketConsumer
from tests.mcp_gateway.holders import FakeHolder
from tests.mcp_gateway.scoped_gate import TOKENS, ScopedGate

HOST = "127.0.0.1"
# Channels consumers close stale database connections as they open, which needs database access.
pytestmark = pytest.mark.django_db(transaction=True)
ACCEPT = "application/json, text/event-stream"
MODERN = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "scopes", "version": "1"},
}
SEARCH_CALL = {"name": "search_documentation", "arguments": {}}  # invalid arguments: answered without the network
READ_CALL = {"name": "read_documentation", "arguments": {}}


@pytest.fixture(autouse=True)
def scoped(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ScopedGate]]:
    """The scoped gate, and a directory of its own: no connections table, no background loops."""
    settings.MCP_GATE = "tests.mcp_gateway.scoped_gate.ScopedGate"
    settings.ALLOWED_HOSTS = [HOST, "mcp.example.com"]
    settings.MCP_ALLOWED_ORIGINS = []
    settings.MCP_PARTITION_SCOPES = {}
    settings.MCP_RESOURCE_URL = ""
    settings.BEHIND_TLS = False
    monkeypatch.setattr(directory, "_local", {})
    monkeypatch.setattr(directory, "_written", {})
    monkeypatch.setattr(directory, "listeners", [])
    monkeypatch.setattr(directory.background, "ensure", lambda name: None)
    ScopedGate.resources, ScopedGate.ended, ScopedGate.asked_ended, ScopedGate.held = [], set(), [], 0
    ScopedGate.valid = None
    yield ScopedGate


def rpc(method: str, params: dict[str, Any] | None = None, msg_id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


INITIALIZE = rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}})


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


async def http(
    app: Any, method: str, path: str, body: Any = None, token: str | None = None, query: str = "", **headers: str
) -> Answer:
    """One HTTP request through an endpoint's ASGI app, answered in full (JSON answers only)."""
    sent = {"host": HOST, "accept": ACCEPT, "content-type": "application/json", **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "client": ("10.0.0.5", 5000),
        "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
    }
    communicator = ApplicationCommunicator(app, scope)
    raw = b"" if body is None else json.dumps(body).encode()
    await communicator.send_input({"type": "http.request", "body": raw, "more_body": False})
    start = await communicator.receive_output(5)
    chunks = []
    while True:
        part = await communicator.receive_output(5)
        chunks.append(part.get("body", b""))
        if not part.get("more_body"):
            break
    await communicator.wait(5)
    answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], answer_headers, b"".join(chunks))


async def streamable(body: Any, token: str | None = None, query: str = "", **headers: str) -> Answer:
    return await http(StreamableEndpoint.as_asgi(), "POST", "/mcp", body, token, query, **headers)


def assert_insufficient(answer: Answer, scope: str) -> None:
    """403, the challenge naming exactly `scope`, and a JSON-RPC error body like the other refusals."""
    assert answer.status == 403, answer.body
    assert answer.headers["www-authenticate"] == f'Bearer error="insufficient_scope", scope="{scope}"'
    error = answer.json()["error"]
    assert error["code"] == INSUFFICIENT_SCOPE and scope in error["message"]


async def session_of(token: str | None, query: str = "", version: str = "2025-11-25") -> dict[str, str]:
    """Initialize a session (2025-11-25 unless told); the headers its later requests carry."""
    initialize = rpc("initialize", {**INITIALIZE["params"], "protocolVersion": version})
    answer = await streamable(initialize, token, query)
    assert answer.status == 200, answer.body
    headers = {"mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": version}
    note = await streamable({"jsonrpc": "2.0", "method": "notifications/initialized"}, token, **headers)
    assert note.status == 202
    return headers


# --- what each request needs ------------------------------------------------------------------------------------


def test_the_docs_tools_declare_their_scopes() -> None:
    for partition in catalogue.partitions:
        for tool in catalogue.tools_for(partition):
            expected = ("docs:search",) if tool.name == "search_documentation" else ("docs:read",)
            assert tool.scopes == expected, tool.name


def test_needed_scopes_are_the_tools_and_the_partitions(settings: Settings) -> None:
    assert needed_scopes(rpc("tools/call", SEARCH_CALL), "aws") == {"docs:search"}
    assert needed_scopes(rpc("tools/call", READ_CALL), "aws") == {"docs:read"}
    assert needed_scopes(rpc("tools/list"), "aws") == set()
    assert needed_scopes(rpc("tools/call", {"name": "no_such_tool"}), "aws") == set()  # the server answers it
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    assert needed_scopes(rpc("tools/list"), "aws-cn") == {"docs:cn"}
    assert needed_scopes(rpc("tools/call", READ_CALL), "aws-cn") == {"docs:cn", "docs:read"}
    assert needed_scopes({"jsonrpc": "2.0", "method": "notifications/initialized"}, "aws-cn") == set()
    assert needed_scopes({"jsonrpc": "2.0", "id": 3, "result": {}}, "aws-cn") == set()  # a reply to the server


def test_an_unscoped_principal_lacks_nothing() -> None:
    assert ANONYMOUS.lacks(frozenset({"docs:read"})) == set()
    assert Principal("k", "key", "k").lacks(frozenset({"docs:read"})) == set()
    assert Principal("oauth:a", "oauth", scopes=frozenset()).lacks(frozenset({"docs:read"})) == {"docs:read"}


async def test_the_default_gate_proves_a_key_and_names_every_scope_in_its_challenge() -> None:
    class KeyGate(Gate):
        async def check_key(self, authorization: str | None) -> tuple[str, None]:
            return ("ci" if authorization else ""), None

    gate = KeyGate()
    assert await gate.check_credential("Bearer x", "http://h/mcp") == (Principal("ci", "key", "ci"), None)
    assert await gate.check_credential(None, "http://h/mcp") == (ANONYMOUS, None)
    refusal = gate.insufficient_scope(frozenset({"docs:search", "docs:read"}), "http://h/mcp")
    assert refusal.status == 403
    assert refusal.headers == [("www-authenticate", 'Bearer error="insufficient_scope", scope="docs:read docs:search"')]
    assert await gate.ended_credentials({"grant:a"}) == set()


# --- the resource URI tokens must be issued for ---------------------------------------------------------------


def test_the_resource_is_the_hosts_mcp_url_or_the_setting(settings: Settings) -> None:
    assert resource_url({"host": "mcp.example.com"}) == "http://mcp.example.com/mcp"
    assert resource_url({"host": "MCP.Example.com:8443"}) == "http://mcp.example.com:8443/mcp"
    settings.BEHIND_TLS = True
    assert resource_url({"host": "mcp.example.com"}) == "https://mcp.example.com/mcp"
    settings.MCP_RESOURCE_URL = "https://docs.example.org/mcp"
    assert resource_url({"host": "mcp.example.com"}) == "https://docs.example.org/mcp"


async def test_every_endpoint_checks_the_credential_for_the_one_resource(scoped: type[ScopedGate]) -> None:
    await streamable(rpc("ping"), "both", **{"mcp-protocol-version": MODERN})
    await http(LegacyMessageEndpoint.as_asgi(), "POST", "/mcp/message", rpc("ping"), "both", "session_id=x")
    ws = WebsocketCommunicator(McpWebsocketConsumer.as_asgi(), "/mcp/ws", [(b"host", b"127.0.0.1")])
    assert (await ws.connect(5))[0]
    await ws.disconnect()
    assert scoped.resources == ["http://127.0.0.1/mcp"] * 3


# --- Streamable HTTP ----------------------------------------------------------------------------------------------


async def test_a_session_call_without_the_tools_scope_is_403_naming_it() -> None:
    headers = await session_of("read")
    assert_insufficient(await streamable(rpc("tools/call", SEARCH_CALL, 2), "read", **headers), "docs:search")
    allowed = await streamable(rpc("tools/call", READ_CALL, 3), "read", **headers)
    assert allowed.status == 200 and allowed.json()["id"] == 3  # past the scope check (its arguments are wrong)
    listed = await streamable(rpc("tools/list", msg_id=4), "read", **headers)
    assert listed.status == 200 and listed.json()["result"]["tools"]


async def test_a_stateless_call_without_the_tools_scope_is_403_naming_it() -> None:
    headers = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "read_documentation"}
    body = rpc("tools/call", {**READ_CALL, "_meta": ENVELOPE})
    assert_insufficient(await streamable(body, "search", **headers), "docs:read")
    allowed = await streamable(body, "read", **headers)
    assert allowed.status != 403 and allowed.json()["id"] == 1


async def test_a_batch_names_every_scope_it_needs() -> None:
    headers = await session_of("read", version="2025-03-26")  # the one revision with batches
    batch = [rpc("tools/call", SEARCH_CALL, 2), rpc("tools/call", READ_CALL, 3)]
    assert_insufficient(await streamable(batch, "read", **headers), "docs:read docs:search")


async def test_a_partition_restricted_to_a_scope_refuses_every_request_without_it(settings: Settings) -> None:
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    assert_insufficient(await streamable(INITIALIZE, "both", "partition=aws-cn"), "docs:cn")
    headers = await session_of("cn", "partition=aws-cn")
    assert (await streamable(rpc("ping", msg_id=2), "cn", **headers)).status == 200
    # The same subject with a token lacking the partition's scope: refused in the session it opened.
    assert_insufficient(await streamable(rpc("ping", msg_id=3), "both", **headers), "docs:cn")
    call = await streamable(rpc("tools/call", READ_CALL, 4), "both", **headers)
    assert_insufficient(call, "docs:cn docs:read")
    assert (await session_of("both")) is not None  # other partitions are not restricted


async def test_a_session_is_404_to_another_principal() -> None:
    headers = await session_of("both")
    other = await streamable(rpc("ping", msg_id=2), "bob", **headers)
    assert other.status == 404
    assert (await streamable(rpc("ping", msg_id=3), "read", **headers)).status == 200  # same subject, new token


async def test_the_session_holds_the_latest_principal_seen() -> None:
    headers = await session_of("both")
    held = directory.local(headers["mcp-session-id"])
    assert held is not None and held.session.principal.scopes == {"docs:read", "docs:search"}
    await streamable(rpc("ping", msg_id=2), "read", **headers)
    assert held.session.principal.scopes == {"docs:read"} and held.session.key_name == "oauth:alice"
    assert "principal" not in held.session.state()


# --- legacy HTTP+SSE ------------------------------------------------------------------------------------------------


class SseStream:
    """A GET /mcp/sse held open in process: the endpoint event it sent, and a way to hang up."""

    def __init__(self, communicator: ApplicationCommunicator) -> None:
        self.communicator = communicator
        self.session_id = ""

    async def open(self) -> SseStream:
        start = await self.communicator.receive_output(5)
        assert start["status"] == 200
        text = ""
        while "event: endpoint" not in text:
            text += (await self.communicator.receive_output(5))["body"].decode()
        self.session_id = text.split("session_id=")[1].split()[0]
        return self

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(5)


@pytest.fixture
async def sse_stream() -> AsyncIterator[Any]:
    opened: list[SseStream] = []

    async def open_stream(token: str, query: str = "") -> SseStream:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/mcp/sse",
            "query_string": query.encode(),
            "client": ("10.0.0.5", 5000),
            "headers": [(b"host", HOST.encode()), (b"authorization", f"Bearer {token}".encode())],
        }
        communicator = ApplicationCommunicator(LegacySseStream.as_asgi(), scope)
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        stream = SseStream(communicator)
        opened.append(stream)
        return await stream.open()

    yield open_stream
    for stream in opened:
        await stream.close()


async def test_a_legacy_sse_post_without_the_tools_scope_is_403(sse_stream: Any) -> None:
    stream = await sse_stream("read")
    post = LegacyMessageEndpoint.as_asgi()
    query = f"session_id={stream.session_id}"
    assert_insufficient(
        await http(post, "POST", "/mcp/message", rpc("tools/call", SEARCH_CALL), "read", query), "docs:search"
    )
    # the POST's own token counts: one with the scope is let through (the reply goes on the stream)
    assert (await http(post, "POST", "/mcp/message", rpc("tools/call", SEARCH_CALL), "both", query)).status == 202
    held = directory.local(stream.session_id)
    assert held is not None and held.session.principal.scopes == {"docs:read", "docs:search"}
    assert (await http(post, "POST", "/mcp/message", rpc("ping"), "bob", query)).status == 404  # not bob's


async def test_a_legacy_sse_stream_in_a_restricted_partition_needs_its_scope(
    settings: Settings, sse_stream: Any
) -> None:
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/mcp/sse",
        "query_string": b"partition=aws-cn",
        "client": ("10.0.0.5", 5000),
        "headers": [(b"host", HOST.encode()), (b"authorization", b"Bearer both")],
    }
    communicator = ApplicationCommunicator(LegacySseStream.as_asgi(), scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    assert_insufficient(
        Answer(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body["body"]), "docs:cn"
    )
    stream = await sse_stream("cn", "partition=aws-cn")
    post = LegacyMessageEndpoint.as_asgi()
    query = f"session_id={stream.session_id}"
    assert (await http(post, "POST", "/mcp/message", rpc("ping"), "cn", query)).status == 202
    assert_insufficient(await http(post, "POST", "/mcp/message", rpc("ping"), "both", query), "docs:cn")


# --- WebSocket ------------------------------------------------------------------------------------------------------


async def websocket(token: str, query: str = "") -> WebsocketCommunicator:
    headers = [(b"host", HOST.encode()), (b"authorization", f"Bearer {token}".encode())]
    ws = WebsocketCommunicator(McpWebsocketConsumer.as_asgi(), f"/mcp/ws{query}", headers, subprotocols=["mcp"])
    connected, _ = await ws.connect(5)
    assert connected
    return ws


async def ask(ws: WebsocketCommunicator, message: Any) -> Any:
    await ws.send_to(text_data=json.dumps(message))
    return json.loads(await ws.receive_from(5))


async def test_a_websocket_call_without_the_tools_scope_is_a_json_rpc_error() -> None:
    ws = await websocket("read")
    try:
        reply = await ask(ws, rpc("tools/call", SEARCH_CALL, 5))
        assert reply["id"] == 5 and reply["error"]["code"] == INSUFFICIENT_SCOPE == -32003
        assert reply["error"]["data"] == {"requiredScopes": ["docs:search"]}
        assert "docs:search" in reply["error"]["message"]
        allowed = await ask(ws, rpc("tools/call", READ_CALL, 6))
        assert allowed["id"] == 6 and allowed.get("error", {}).get("code") != INSUFFICIENT_SCOPE
        assert (await ask(ws, rpc("ping", msg_id=7)))["result"] == {}  # the connection stays up
    finally:
        await ws.disconnect()


async def test_a_websocket_in_a_restricted_partition_needs_its_scope(settings: Settings) -> None:
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    ws = await websocket("both", "?partition=aws-cn")
    try:
        reply = await ask(ws, rpc("tools/call", READ_CALL, 8))
        assert reply["error"]["code"] == INSUFFICIENT_SCOPE
        assert reply["error"]["data"] == {"requiredScopes": ["docs:cn", "docs:read"]}
    finally:
        await ws.disconnect()
    ws = await websocket("cn", "?partition=aws-cn")
    try:
        assert (await ask(ws, rpc("ping", msg_id=9)))["result"] == {}
    finally:
        await ws.disconnect()


async def test_an_api_key_or_anonymous_caller_is_never_refused_a_scope() -> None:
    ws = WebsocketCommunicator(McpWebsocketConsumer.as_asgi(), "/mcp/ws", [(b"host", HOST.encode())], ["mcp"])
    assert (await ws.connect(5))[0]
    try:
        reply = await ask(ws, rpc("tools/call", SEARCH_CALL, 10))
        assert reply.get("error", {}).get("code") != INSUFFICIENT_SCOPE
    finally:
        await ws.disconnect()
    headers = await session_of(None)
    answer = await streamable(rpc("tools/call", SEARCH_CALL, 11), None, **headers)
    assert answer.status == 200 and answer.json()["id"] == 11


async def test_an_initialize_refused_a_scope_is_not_left_counted(settings: Settings, scoped: type[ScopedGate]) -> None:
    settings.MCP_PARTITION_SCOPES = {"aws": "docs:aws"}
    assert_insufficient(await streamable(INITIALIZE, "both"), "docs:aws")
    assert directory.local_sessions() == [] and scoped.held == 0


# --- the warden: sessions whose credential ended ------------------------------------------------------------------


def held_by(principal: Principal, transport: str = "streamable-http", key_name: str | None = None) -> FakeHolder:
    """A session this process serves, last seen with `principal` (key_name alone: adopted, no request here yet)."""
    name = principal.name if key_name is None else key_name
    held = FakeHolder(ServerSession(new_session_id(), transport, "aws", key_name=name, principal=principal))
    directory.adopt(held)
    return held


async def test_the_warden_closes_sessions_of_an_ended_grant_and_leaves_others(scoped: type[ScopedGate]) -> None:
    alice = held_by(TOKENS["both"], "sse")
    alice_ws = held_by(TOKENS["read"], "websocket")
    bob = held_by(TOKENS["bob"])
    key = held_by(Principal("ci", "key", "ci"))
    assert await warden.close_revoked() == 0
    assert scoped.asked_ended == [{"grant:alice", "grant:bob"}]
    scoped.ended = {"grant:alice"}
    assert await warden.close_revoked() == 2
    assert alice.closed == alice_ws.closed == ["OAuth grant revoked"]
    assert bob.closed == key.closed == []


async def test_the_warden_closes_a_websocket_when_its_token_expires(scoped: type[ScopedGate]) -> None:
    lapsed_ws = held_by(TOKENS["lapsed"], "websocket")
    lapsed_http = held_by(TOKENS["lapsed"])  # its next request proves a fresh token or is refused
    soon_ws = held_by(TOKENS["soon"], "websocket")
    assert await warden.close_revoked() == 1
    assert lapsed_ws.closed == ["OAuth token expired"]
    assert lapsed_http.closed == soon_ws.closed == []


async def test_the_warden_closes_a_real_websocket_at_its_tokens_expiry() -> None:
    lapsed, fresh = await websocket("lapsed"), await websocket("soon")
    try:
        assert await warden.close_revoked() == 1
        assert await lapsed.receive_output(5) == {
            "type": "websocket.close",
            "code": 4003,
            "reason": "OAuth token expired",
        }
        assert (await ask(fresh, rpc("ping", msg_id=12)))["result"] == {}
    finally:
        await lapsed.disconnect()
        await fresh.disconnect()


async def test_the_warden_checks_api_keys_only_for_key_sessions(scoped: type[ScopedGate]) -> None:
    scoped.valid = {"ci"}
    kept = held_by(Principal("ci", "key", "ci"))
    revoked = held_by(Principal("gone", "key", "gone"))
    adopted = held_by(ANONYMOUS, key_name="gone")  # from another process, no request here yet: a key by its name
    oauth_here = held_by(TOKENS["both"])
    oauth_adopted = held_by(ANONYMOUS, key_name="oauth:erin")  # an OAuth name holds ":", no key can
    anonymous = held_by(ANONYMOUS)
    assert await warden.close_revoked() == 2
    assert revoked.closed == adopted.closed == ["API key revoked"]
    assert kept.closed == oauth_here.closed == oauth_adopted.closed == anonymous.closed == []
