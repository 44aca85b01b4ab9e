"""The WebSocket consumer in process, with Channels' WebsocketCommunicator (the real-Daphne tests cover the wire)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from mcp_gateway.gate import Gate, Refusal
from mcp_gateway.transports.websocket import McpWebsocketConsumer
from ops import connections

pytestmark = pytest.mark.django_db(transaction=True)  # opening a session writes the connections table


class SlowDownGate(Gate):
    """Lets everyone in, then refuses requests on open connections while `limited` is set."""

    limited = False

    async def check_rate(self, ip: str, key_name: str, endpoint: str) -> Refusal | None:
        return Refusal(429, "Too Many Requests: slow down", [("retry-after", "1")]) if self.limited else None


@pytest.fixture
def gate(settings) -> type[SlowDownGate]:  # type: ignore[no-untyped-def]
    settings.MCP_GATE = f"{__name__}.SlowDownGate"
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    SlowDownGate.limited = False
    return SlowDownGate


def communicator(query: str = "", **headers: str) -> WebsocketCommunicator:
    encoded = [(k.encode(), v.encode()) for k, v in {"host": "127.0.0.1", **headers}.items()]
    return WebsocketCommunicator(McpWebsocketConsumer.as_asgi(), f"/mcp/ws{query}", encoded, subprotocols=["mcp"])


async def ask(ws: WebsocketCommunicator, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send_to(text_data=json.dumps(message))
    return json.loads(await ws.receive_from(5))


@pytest.fixture
async def ws(gate: type[SlowDownGate]) -> AsyncIterator[WebsocketCommunicator]:
    connection = communicator()
    connected, subprotocol = await connection.connect(5)
    assert connected and subprotocol == "mcp"
    yield connection
    await connection.disconnect()
    if connections._writer is not None:  # the session's row is written within WRITE_BEHIND: let it finish here
        await asyncio.wait_for(asyncio.shield(connections._writer), 5)


async def test_initialize_then_ping_over_one_connection(ws: WebsocketCommunicator) -> None:
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "pytest", "version": "1"}}
    reply = await ask(ws, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
    assert reply["id"] == 1 and reply["result"]["protocolVersion"] == "2025-06-18"
    await ws.send_to(text_data=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    assert await ask(ws, {"jsonrpc": "2.0", "id": 2, "method": "ping"}) == {"jsonrpc": "2.0", "id": 2, "result": {}}


async def test_a_rate_refusal_answers_the_frame_and_keeps_the_connection(
    ws: WebsocketCommunicator, gate: type[SlowDownGate]
) -> None:
    gate.limited = True
    refused = await ask(ws, {"jsonrpc": "2.0", "id": 7, "method": "ping"})
    assert refused["id"] == 7 and refused["error"]["code"] == -32029
    gate.limited = False
    assert (await ask(ws, {"jsonrpc": "2.0", "id": 8, "method": "ping"}))["result"] == {}


async def test_a_frame_over_the_body_limit_is_refused(ws: WebsocketCommunicator, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MCP_MAX_BODY_BYTES = 100
    reply = await ask(ws, {"jsonrpc": "2.0", "id": 9, "method": "ping", "params": {"pad": "x" * 200}})
    assert reply["id"] is None and reply["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {"origin": "https://evil.example"}),
        ("?partition=aws-nowhere", {}),
        ("", {"host": "evil.example"}),
    ],
)
async def test_refusals_close_the_handshake(gate: type[SlowDownGate], query: str, headers: dict[str, str]) -> None:
    connection = communicator(query, **headers)
    connected, _code = await connection.connect(5)
    assert not connected
    await connection.disconnect()


async def test_a_refused_key_closes_the_handshake(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MCP_GATE = "ops.gate.RuleBookGate"
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MCP_AUTH_REQUIRED = True
    connection = communicator()
    connected, _code = await connection.connect(5)
    assert not connected
    await connection.disconnect()
