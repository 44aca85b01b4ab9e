"""Who the client is: X-Forwarded-For is believed only from TRUSTED_PROXIES; Origin and Host rules."""

from __future__ import annotations

from mcp_gateway.transports.security import client_ip, host_allowed, origin_allowed

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
