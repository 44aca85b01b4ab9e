"""Host, Origin and client address rules at their edges: wildcards, odd URLs, proxy lists, hops (no server)."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from mcp_gateway.transports.security import client_ip, entrance_refusal, origin_allowed

HOST_REFUSAL = (421, "Misdirected Request: Host not allowed")
ORIGIN_REFUSAL = (403, "Forbidden: Origin not allowed")


@pytest.fixture(autouse=True)
def rules(settings: Settings) -> None:
    settings.ALLOWED_HOSTS = ["mcp.example.com", "127.0.0.1"]
    settings.MCP_ALLOWED_ORIGINS = []
    settings.TRUSTED_PROXIES = []


def test_host_and_origin_refusals_differ_in_status_and_reason() -> None:
    assert entrance_refusal({"host": "evil.example"}) == HOST_REFUSAL
    assert entrance_refusal({}) == HOST_REFUSAL
    assert entrance_refusal({"host": "mcp.example.com", "origin": "https://evil.example"}) == ORIGIN_REFUSAL
    assert entrance_refusal({"host": "evil.example", "origin": "https://evil.example"}) == HOST_REFUSAL
    assert entrance_refusal({"host": "mcp.example.com"}) is None
    assert entrance_refusal({"host": "127.0.0.1:8000", "origin": "http://localhost:6274"}) is None


def test_a_wildcard_allows_every_origin(settings: Settings) -> None:
    settings.MCP_ALLOWED_ORIGINS = ["*"]
    assert origin_allowed("https://anywhere.example")
    assert origin_allowed("null")


def test_listed_origins_match_after_trimming(settings: Settings) -> None:
    settings.MCP_ALLOWED_ORIGINS = ["https://app.example.com"]
    assert origin_allowed("  https://app.example.com ")
    assert not origin_allowed("https://app.example.com:444")


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "https://localhost", "http://localhost/", "https://127.0.0.1:3000", "http://[::1]:6274"],
)
def test_loopback_origins_are_allowed_with_either_scheme(origin: str) -> None:
    assert origin_allowed(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://[::1",  # cannot be parsed
        "ftp://localhost",  # a loopback host under another scheme
        "ws://127.0.0.1",
        "http://localhost/app",  # an Origin has no path
        "http://",
        "",
    ],
)
def test_odd_origins_are_refused(origin: str) -> None:
    assert not origin_allowed(origin)


def test_without_a_client_address_the_peer_is_empty(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["0.0.0.0/0"]
    assert client_ip({"client": None}, {"x-forwarded-for": "1.2.3.4"}) == ""
    assert client_ip({}, {}) == ""


def test_when_every_hop_is_trusted_the_farthest_is_the_client(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    scope = {"client": ("10.0.0.1", 1)}
    assert client_ip(scope, {"x-forwarded-for": "10.1.1.1, 10.2.2.2"}) == "10.1.1.1"
    assert client_ip(scope, {"x-forwarded-for": " , ,"}) == "10.0.0.1"


def test_an_unreadable_hop_is_not_a_proxy(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    scope = {"client": ("10.0.0.1", 1)}
    assert client_ip(scope, {"x-forwarded-for": "1.2.3.4, unknown"}) == "unknown"
    assert client_ip({"client": ("unix-socket", 0)}, {"x-forwarded-for": "1.2.3.4"}) == "unix-socket"


def test_proxy_lists_read_host_bits_and_skip_bad_entries(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["not-a-network", "10.0.0.1/8"]  # host bits set: read as 10.0.0.0/8
    assert client_ip({"client": ("10.9.9.9", 1)}, {"x-forwarded-for": "1.2.3.4"}) == "1.2.3.4"
    settings.TRUSTED_PROXIES = ["192.168.0.0/16"]
    assert client_ip({"client": ("10.9.9.9", 1)}, {"x-forwarded-for": "1.2.3.4"}) == "10.9.9.9"
