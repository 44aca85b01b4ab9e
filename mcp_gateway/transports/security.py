"""Checks every MCP entrance makes before any work: Host and Origin (DNS-rebinding protection)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def origin_allowed(origin: str | None) -> bool:
    """No Origin (non-browser clients), a loopback Origin, or one listed in MCP_ALLOWED_ORIGINS."""
    if origin is None:
        return True
    origin = origin.strip()
    if origin in settings.MCP_ALLOWED_ORIGINS or "*" in settings.MCP_ALLOWED_ORIGINS:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
        return False
    return (parts.hostname or "") in LOOPBACK_HOSTS or f"[{parts.hostname}]" in LOOPBACK_HOSTS


def host_allowed(host: str | None) -> bool:
    """The Host header names this server (Django's ALLOWED_HOSTS rules)."""
    if not host:
        return False
    return _host_allowed(host, tuple(settings.ALLOWED_HOSTS))


@lru_cache(maxsize=256)  # a server is called by a handful of names; the answer depends on both arguments
def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def entrance_refusal(headers: dict[str, str]) -> tuple[int, str] | None:
    """(status, reason) when a request must be refused before it is read, else None."""
    if not host_allowed(headers.get("host")):
        return 421, "Misdirected Request: Host not allowed"
    if not origin_allowed(headers.get("origin")):
        return 403, "Forbidden: Origin not allowed"
    return None


def resource_url(headers: dict[str, str]) -> str:
    """This server's canonical resource URI, which tokens must be issued for: MCP_RESOURCE_URL, else the Host's
    `/mcp` (https when BEHIND_TLS). The same for every MCP endpoint, so one token serves them all."""
    configured = getattr(settings, "MCP_RESOURCE_URL", "") or ""
    if configured:
        return str(configured)
    scheme = "https" if settings.BEHIND_TLS else "http"
    return f"{scheme}://{headers.get('host', '').lower()}/mcp"


def client_ip(scope: dict[str, Any], headers: dict[str, str]) -> str:
    """The peer's address; X-Forwarded-For is believed only when the peer is a trusted proxy."""
    client = scope.get("client")
    peer = client[0] if client else ""
    forwarded = headers.get("x-forwarded-for")
    if forwarded and peer and _trusted(peer):
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):  # the nearest untrusted hop is the client
            if not _trusted(hop):
                return hop
        return hops[0] if hops else peer
    return peer


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy, strict=False))
        except ValueError:
            continue
    return tuple(networks)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))
