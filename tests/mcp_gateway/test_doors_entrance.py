"""The entrance asks the gate about this client, and the allow-all gate says yes to everything (no server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from mcp_gateway.gate import Gate, Principal, Refusal, get_gate
from mcp_gateway.sessions import ServerSession
from mcp_gateway.transports.entrance import Caller, check_entrance, claim_stream, unknown_partition


class RecordingGate(Gate):
    """Lets everyone in and keeps what it was asked."""

    asked: list[tuple[Any, ...]] = []

    async def check_key(self, authorization: str | None) -> tuple[str, Refusal | None]:
        return ("ci" if authorization else ""), None

    async def check_rate(self, ip: str, key_name: str, endpoint: str) -> Refusal | None:
        self.asked.append(("rate", ip, key_name, endpoint))
        return None

    async def claim_stream(self, ip: str, slot: str, endpoint: str) -> Refusal | None:
        self.asked.append(("stream", ip, slot, endpoint))
        return None


@pytest.fixture
def recording(settings: Settings) -> Iterator[list[tuple[Any, ...]]]:
    settings.MCP_GATE = f"{__name__}.RecordingGate"
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    RecordingGate.asked = []
    yield RecordingGate.asked


async def test_the_rate_is_counted_for_this_client_key_and_endpoint(recording: list[tuple[Any, ...]]) -> None:
    caller = Caller({"host": "127.0.0.1", "authorization": "Bearer t"}, "192.0.2.7")
    assert (await check_entrance(caller, "websocket")).key_name == "ci"
    assert recording == [("rate", "192.0.2.7", "ci", "websocket")]


async def test_a_stream_is_claimed_for_this_client_slot_and_endpoint(recording: list[tuple[Any, ...]]) -> None:
    assert await claim_stream("192.0.2.8", "slot-1", "sse") is None
    assert recording == [("stream", "192.0.2.8", "slot-1", "sse")]


def test_an_unknown_partition_names_the_partitions_there_are() -> None:
    refusal = unknown_partition()
    assert (refusal.status, refusal.code) == (400, -32600)
    assert refusal.message == "Bad Request: partition must be one of aws, aws-cn"


async def test_the_allow_all_gate_holds_no_sessions(settings: Settings) -> None:
    settings.MCP_GATE = ""
    gate = get_gate()
    session = ServerSession.__new__(ServerSession)  # the allow-all gate reads nothing of it
    assert gate.session_groups(session) == []
    assert await gate.sessions_held("ip:192.0.2.9") == 0
    await gate.hold_session(session)
    await gate.release_session(session)
    await gate.release_stream("192.0.2.9", "slot")
    assert await gate.sessions_held("ip:192.0.2.9") == 0


class TokenGate(RecordingGate):
    """Proves an OAuth principal for any bearer, remembering the resource it was asked about."""

    async def check_credential(self, authorization: str | None, resource: str) -> tuple[Principal, Refusal | None]:
        self.asked.append(("credential", authorization, resource))
        return Principal("oauth:alice", "oauth", "alice", scopes=frozenset({"docs:read"})), None


async def test_the_principal_a_gate_proves_names_the_entry_and_counts_its_rate(settings: Settings) -> None:
    settings.MCP_GATE = f"{__name__}.TokenGate"
    settings.ALLOWED_HOSTS = ["mcp.example.com"]
    settings.MCP_RESOURCE_URL = ""
    TokenGate.asked = []
    entry = await check_entrance(Caller({"host": "mcp.example.com", "authorization": "Bearer t"}, "192.0.2.7"), "sse")
    assert entry.key_name == entry.principal.name == "oauth:alice" and entry.principal.kind == "oauth"
    assert TokenGate.asked == [
        ("credential", "Bearer t", "http://mcp.example.com/mcp"),
        ("rate", "192.0.2.7", "oauth:alice", "sse"),
    ]
