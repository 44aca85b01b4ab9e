"""Principals other than API keys in a real Daphne: a test gate (tests.mcp_gateway.scoped_gate, named by MCP_GATE)
proves OAuth principals with scopes; the wire carries the 403 challenge, the admin's connections list names the
subject in its "Key or subject" column, and no API key may be named like an OAuth principal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support.admin import logged_in
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import ACCEPT_BOTH, initialize_request, request


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        **origin.settings_env(),
        MCP_GATE="tests.mcp_gateway.scoped_gate.ScopedGate",
        OPS_ACTIVITY_FLUSH="0.5",
        MCP_KEY_REVOCATION_POLL="0.5",
    ) as srv:
        yield srv


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}", **headers}


async def test_a_missing_scope_is_403_on_the_wire_and_the_subject_is_listed(server: DaphneServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        opened = await http.post(server.mcp_url, json=initialize_request(), headers=bearer("read"))
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        search = request("tools/call", {"name": "search_documentation", "arguments": {"search_phrase": "s3"}}, 2)
        refused = await http.post(server.mcp_url, json=search, headers=bearer("read", **session))
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="docs:search"'
        assert refused.json()["error"]["code"] == -32003
        stolen = await http.post(server.mcp_url, json=request("ping", msg_id=3), headers=bearer("bob", **session))
        assert stolen.status_code == 404  # a session belongs to the subject that opened it
        await asyncio.sleep(1.0)  # an activity flush writes the connections table
        admin = await logged_in(server)
        try:
            listing = await admin.get("/admin/ops/connection/?state__exact=active")
        finally:
            await admin.aclose()
    assert "Key or subject" in listing.text
    assert "oauth:alice" in listing.text and session["mcp-session-id"][:12] in listing.text


def test_no_api_key_may_be_named_like_an_oauth_principal(server: DaphneServer) -> None:
    refused = server.manage("create_api_key", "oauth:alice")
    assert refused.returncode != 0 and "cannot contain ':'" in refused.stderr
    assert server.manage("create_api_key", "alice").returncode == 0


async def test_a_websocket_is_told_its_missing_scope_and_closed_when_its_token_expires(server: DaphneServer) -> None:
    search = request("tools/call", {"name": "search_documentation", "arguments": {"search_phrase": "s3"}}, 4)
    headers = {"authorization": "Bearer read"}
    async with connect(server.ws_url, subprotocols=[Subprotocol("mcp")], additional_headers=headers) as ws:
        await ws.send(json.dumps(search))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["id"] == 4 and reply["error"]["code"] == -32003
        assert reply["error"]["data"] == {"requiredScopes": ["docs:search"]}
    # "lapsed" names a token whose expiry has passed: the warden closes its connection at its next round.
    lapsed = {"authorization": "Bearer lapsed"}
    async with connect(server.ws_url, subprotocols=[Subprotocol("mcp")], additional_headers=lapsed) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert (
        closed.value.rcvd is not None and closed.value.rcvd.code == 4003
    )  # its credential ended (mcp_gateway.closing)
    assert "(websocket) closed: OAuth token expired" in server.log()  # Daphne does not send the close reason
