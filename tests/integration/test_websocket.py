"""WebSocket at /mcp/ws with hand-made frames: subprotocol, bad frames, refusal of foreign origins."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.processes import DaphneServer
from tests.support.raw import initialize_request, request


async def recv(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_subprotocol_and_session(server: DaphneServer) -> None:
    async with connect(server.ws_url, subprotocols=["mcp"]) as ws:
        assert ws.subprotocol == "mcp"
        await ws.send(json.dumps(initialize_request()))
        assert (await recv(ws))["result"]["protocolVersion"] == "2025-11-25"
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        await ws.send(json.dumps(request("tools/list", msg_id=2)))
        assert (await recv(ws))["result"]["tools"]


async def test_bad_frames_get_errors_and_the_connection_stays(server: DaphneServer) -> None:
    async with connect(server.ws_url, subprotocols=["mcp"]) as ws:
        await ws.send("{not json")
        assert (await recv(ws))["error"]["code"] == -32700
        await ws.send(json.dumps(request("tools/list", msg_id=1)))  # before initialize
        assert (await recv(ws))["error"]["code"] == -32600
        await ws.send(json.dumps(initialize_request()))
        await recv(ws)
        await ws.send(json.dumps({"id": 3, "method": "ping"}))
        assert (await recv(ws))["error"]["code"] == -32600
        await ws.send(json.dumps(request("no/such/method", msg_id=4)))
        assert (await recv(ws))["error"]["code"] == -32601
        await ws.send(json.dumps(request("ping", msg_id=5)))
        assert (await recv(ws)) == {"jsonrpc": "2.0", "id": 5, "result": {}}


async def test_foreign_origin_is_refused(server: DaphneServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.ws_url, subprotocols=["mcp"], origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403
