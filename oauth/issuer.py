"""Where this server is, as OAuth names it: its origin, its canonical resource URI and its issuer string.

RFC 8414 metadata `issuer`, the RFC 9207 `iss` of authorization responses and the protected-resource metadata's
`authorization_servers` must be byte-identical, so they all come from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest


def origin_for_host(host: str) -> str:
    """`scheme://host[:port]`: MCP_RESOURCE_URL's origin when set, else the Host as the client sent it."""
    configured = settings.MCP_RESOURCE_URL
    if configured:
        parts = urlsplit(configured)
        return f"{parts.scheme}://{parts.netloc}"
    scheme = "https" if settings.BEHIND_TLS else "http"
    return f"{scheme}://{host}"


def request_origin(request: HttpRequest) -> str:
    """The origin a Django request reached (its Host checked against ALLOWED_HOSTS by get_host)."""
    return origin_for_host(request.get_host())


def meta_origin(meta: Mapping[str, Any]) -> str:
    """The origin from a WSGI-style META mapping (what DOT hands oauthlib as its request headers)."""
    request = HttpRequest()
    request.META = dict(meta)
    return request_origin(request)


def builtin_issuer(origin: str) -> str:
    """The built-in authorization server's issuer: the origin plus `/oauth`, no trailing slash."""
    return f"{origin}/oauth"


def issuer(origin: str) -> str:
    """The authorization server this resource trusts: MCP_OAUTH_ISSUER, else the built-in one."""
    return settings.MCP_OAUTH_ISSUER or builtin_issuer(origin)


def resource_uri(origin: str) -> str:
    """The canonical resource URI of the MCP endpoints: MCP_RESOURCE_URL, else `{origin}/mcp`."""
    return settings.MCP_RESOURCE_URL or f"{origin}/mcp"


def within(value: str, resource: str) -> bool:
    """True when `value` is `resource` or a path-descendant of it on `/` boundaries (never `…/mcpx`, never
    another origin, no query or fragment)."""
    if "?" in value or "#" in value:
        return False
    base = resource.rstrip("/")
    return value == resource or value == base or value.startswith(base + "/")


def builtin_enabled() -> bool:
    """The built-in authorization server answers only when MCP_AUTH has `oauth` and no external issuer is set."""
    return "oauth" in settings.MCP_AUTH.split("+") and not settings.MCP_OAUTH_ISSUER
