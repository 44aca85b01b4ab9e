"""A refused credential at the entrance still counts against the rate, as anonymous and at the endpoint it came to,
so a flood of made-up tokens meets the per-IP rules (no server: a gate that records what it was asked)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from mcp_gateway.gate import ANONYMOUS, Gate, Principal, Refusal
from mcp_gateway.transports.entrance import Caller, Denied, check_entrance


class RecordingGate(Gate):
    """Refuses every credential but "good"; refuses the rate from the third request of an (ip, key, endpoint)."""

    asked: list[tuple[str, str, str]] = []

    async def check_credential(self, authorization: str | None, resource: str) -> tuple[Principal, Refusal | None]:
        if authorization == "Bearer good":
            return Principal("oauth:alice", "oauth", "alice"), None
        return ANONYMOUS, Refusal(401, "Unauthorized", [("www-authenticate", "Bearer")])

    async def check_rate(self, ip: str, key_name: str, endpoint: str) -> Refusal | None:
        self.asked.append((ip, key_name, endpoint))
        if self.asked.count((ip, key_name, endpoint)) > 2:
            return Refusal(429, "Too Many Requests", [("retry-after", "60")])
        return None


@pytest.fixture(autouse=True)
def recording(settings: Settings) -> Iterator[None]:
    settings.MCP_GATE = "tests.mcp_gateway.test_doors_credentials.RecordingGate"
    settings.ALLOWED_HOSTS = ["mcp.example"]
    settings.MCP_ALLOWED_ORIGINS = []
    RecordingGate.asked = []
    yield
    RecordingGate.asked = []


def caller(token: str) -> Caller:
    return Caller({"host": "mcp.example", "authorization": f"Bearer {token}"}, "192.0.2.7")


async def test_refused_credentials_count_as_anonymous_at_their_endpoint() -> None:
    verdicts = [(await check_entrance(caller(f"made-up-{n}"), "websocket", rate=False)).denied for n in range(3)]
    assert RecordingGate.asked == [("192.0.2.7", "", "websocket")] * 3
    assert [d.status if d else None for d in verdicts] == [401, 401, 429]
    assert verdicts[2] == Denied(429, "Too Many Requests", -32029, (("retry-after", "60"),))
    entry = await check_entrance(caller("good"), "websocket")
    assert entry.denied is None and entry.key_name == "oauth:alice"
    assert RecordingGate.asked[-1] == ("192.0.2.7", "oauth:alice", "websocket")
