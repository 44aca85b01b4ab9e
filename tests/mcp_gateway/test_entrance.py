"""The entrance: who the client is (X-Forwarded-For only from TRUSTED_PROXIES), Origin and Host rules, and the one
check every transport runs (the gate's refusals with their statuses and JSON-RPC codes), and which gate answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from channels.testing import ApplicationCommunicator

from mcp_gateway.gate import Gate, Principal, Refusal, get_gate
from mcp_gateway.transports.entrance import Caller, Denied, Entry, check_entrance
from mcp_gateway.transports.entrance import claim_stream as entrance_claim_stream
from mcp_gateway.transports.security import client_ip, host_allowed, origin_allowed
from mcp_gateway.transports.sse import LegacySseStream

SCOPE = {"client": ("10.0.0.5", 5000)}


def test_forwarded_for_is_ignored_from_untrusted_peers(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = []
    assert client_ip(SCOPE, {"x-forwarded-for": "1.2.3.4"}) == "10.0.0.5"


def test_forwarded_for_is_read_through_trusted_proxies(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(SCOPE, {"x-forwarded-for": "1.2.3.4"}) == "1.2.3.4"
    # a client cannot smuggle an address in front of the chain: the nearest untrusted hop wins
    assert client_ip(SCOPE, {"x-forwarded-for": "6.6.6.6, 1.2.3.4, 10.0.0.9"}) == "1.2.3.4"


def test_origins(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MCP_ALLOWED_ORIGINS = ["https://app.example.com"]
    assert origin_allowed(None)
    assert origin_allowed("http://localhost:6274")
    assert origin_allowed("http://127.0.0.1")
    assert origin_allowed("https://app.example.com")
    for origin in (
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
        "file://",
        "https://app.example.com.evil",
    ):
        assert not origin_allowed(origin), origin


def test_hosts(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    assert host_allowed("127.0.0.1:8000") and host_allowed("localhost")
    assert not host_allowed("evil.example") and not host_allowed(None) and not host_allowed("")


# --- the one entrance check, in process (no server): every refusal's status and JSON-RPC code ------------------


class RefusingGate(Gate):
    """A gate that refuses what the test tells it to (and counts what it is asked)."""

    key_refusal: Refusal | None = None
    rate_refusal: Refusal | None = None
    stream_refusal: Refusal | None = None
    rate_checks = 0

    async def check_key(self, authorization: str | None) -> tuple[str, Refusal | None]:
        if self.key_refusal is not None:
            return "", self.key_refusal
        return ("ci" if authorization else ""), None

    async def check_rate(self, ip: str, key_name: str, endpoint: str) -> Refusal | None:
        type(self).rate_checks += 1
        return self.rate_refusal

    async def claim_stream(self, ip: str, slot: str, endpoint: str) -> Refusal | None:
        return self.stream_refusal


@pytest.fixture
def refusing(settings) -> Iterator[type[RefusingGate]]:  # type: ignore[no-untyped-def]
    settings.MCP_GATE = f"{__name__}.RefusingGate"
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MCP_ALLOWED_ORIGINS = []
    RefusingGate.key_refusal = RefusingGate.rate_refusal = RefusingGate.stream_refusal = None
    RefusingGate.rate_checks = 0
    yield RefusingGate
    RefusingGate.key_refusal = RefusingGate.rate_refusal = RefusingGate.stream_refusal = None


def caller(**headers: str) -> Caller:
    return Caller({"host": "127.0.0.1", **headers}, "10.0.0.5", {})


async def test_the_entrance_lets_a_good_request_in(refusing: type[RefusingGate]) -> None:
    entry = await check_entrance(caller(authorization="Bearer x"), "sse")
    assert entry == Entry("ci", None, None, Principal("ci", "key", "ci"))  # an API key's principal holds every scope
    assert refusing.rate_checks == 1
    entry = await check_entrance(
        Caller({"host": "127.0.0.1"}, "10.0.0.5", {"partition": "aws-cn"}), "sse", partition=True
    )
    assert entry == Entry("", "aws-cn", None)


async def test_host_and_origin_are_refused_apart(refusing: type[RefusingGate]) -> None:
    host = await check_entrance(Caller({"host": "evil.example"}, "10.0.0.5"), "sse")
    assert host.denied == Denied(421, "Misdirected Request: Host not allowed", -32600)
    origin = await check_entrance(caller(origin="https://evil.example"), "websocket")
    assert origin.denied == Denied(403, "Forbidden: Origin not allowed", -32600)
    assert refusing.rate_checks == 0  # refused before anything is counted


async def test_key_and_rate_refusals_keep_their_status_code_and_headers(refusing: type[RefusingGate]) -> None:
    refusing.key_refusal = Refusal(401, "Unauthorized", [("www-authenticate", "Bearer")])
    entry = await check_entrance(caller(), "streamable")
    assert entry.denied == Denied(401, "Unauthorized", -32600, (("www-authenticate", "Bearer"),))
    assert refusing.rate_checks == 1  # a refused credential counts against the rate too, as anonymous
    refusing.key_refusal = None
    refusing.rate_refusal = Refusal(429, "Too Many Requests", [("retry-after", "60")])
    entry = await check_entrance(caller(), "streamable")
    assert entry.denied == Denied(429, "Too Many Requests", -32029, (("retry-after", "60"),))
    # A caller that answers rates on its stream does not have them counted here.
    assert (await check_entrance(caller(), "sse", rate=False)).denied is None


async def test_a_credential_refusal_keeps_its_challenge(refusing: type[RefusingGate]) -> None:
    """What check_credential refuses (here by its default, check_key) reaches the transport with its header."""
    challenge = 'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"'
    refusing.key_refusal = Refusal(401, "Unauthorized", [("www-authenticate", challenge)])
    entry = await check_entrance(caller(authorization="Bearer bad"), "streamable")
    assert entry.denied == Denied(401, "Unauthorized", -32600, (("www-authenticate", challenge),))
    assert entry.principal.name == "" and refusing.rate_checks == 1


async def test_a_refused_credential_over_the_rate_gets_the_429(refusing: type[RefusingGate]) -> None:
    """A flood of made-up credentials meets the rate rules like any client (and costs the gate nothing more)."""
    refusing.key_refusal = Refusal(401, "Unauthorized", [("www-authenticate", "Bearer")])
    refusing.rate_refusal = Refusal(429, "Too Many Requests", [("retry-after", "60")])
    for rate in (True, False):
        entry = await check_entrance(caller(authorization="Bearer made-up"), "sse", rate=rate)
        assert entry.denied == Denied(429, "Too Many Requests", -32029, (("retry-after", "60"),))


async def test_an_unknown_partition_is_refused_after_the_key(refusing: type[RefusingGate]) -> None:
    bad = Caller({"host": "127.0.0.1"}, "10.0.0.5", {"partition": "aws-nowhere"})
    entry = await check_entrance(bad, "sse", partition=True)
    assert entry.denied is not None and (entry.denied.status, entry.denied.code) == (400, -32600)
    assert "partition must be one of" in entry.denied.message
    assert (await check_entrance(bad, "sse")).denied is None  # not asked for: not checked


async def test_stream_refusals_map_429_and_503(refusing: type[RefusingGate]) -> None:
    assert await entrance_claim_stream("10.0.0.5", "s1", "sse") is None
    refusing.stream_refusal = Refusal(503, "Service Unavailable", [("retry-after", "5")])
    assert await entrance_claim_stream("10.0.0.5", "s1", "sse") == Denied(
        503, "Service Unavailable", -32603, (("retry-after", "5"),)
    )
    refusing.stream_refusal = Refusal(429, "Too Many Requests")
    assert await entrance_claim_stream("10.0.0.5", "s1", "sse") == Denied(429, "Too Many Requests", -32029)


async def test_http_endpoints_send_the_entrance_refusal_as_a_json_rpc_error(refusing: type[RefusingGate]) -> None:
    """Through a real endpoint (ASGI, no server): the 429 body carries -32029 and the Retry-After header."""
    refusing.rate_refusal = Refusal(429, "Too Many Requests: slow down", [("retry-after", "7")])
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/mcp/sse",
        "query_string": b"",
        "client": ("10.0.0.5", 5000),
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"text/event-stream")],
    }
    app = ApplicationCommunicator(LegacySseStream.as_asgi(), scope)
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(5)
    body = await app.receive_output(5)
    assert start["status"] == 429 and (b"retry-after", b"7") in start["headers"]
    assert json.loads(body["body"])["error"] == {"code": -32029, "message": "Too Many Requests: slow down"}
    await app.wait(5)


# --- which gate answers ------------------------------------------------------------------------------------------


def test_the_gate_is_the_class_settings_name(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MCP_GATE = "ops.gate.RuleBookGate"
    from ops.gate import RuleBookGate

    assert isinstance(get_gate(), RuleBookGate)
    assert get_gate() is get_gate()  # one instance per process
    settings.MCP_GATE = f"{__name__}.RefusingGate"
    assert type(get_gate()) is RefusingGate


async def test_without_a_setting_every_client_is_let_in(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MCP_GATE = ""
    gate = get_gate()
    assert type(gate) is Gate
    assert await gate.check_key("Bearer anything") == ("", None)
    assert await gate.check_rate("10.0.0.5", "", "sse") is None
    assert await gate.claim_stream("10.0.0.5", "s1", "sse") is None
    assert await gate.session_caps("10.0.0.5", "") == [] and await gate.valid_keys() is None
    del settings.MCP_GATE
    assert type(get_gate()) is Gate
