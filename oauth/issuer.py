"""The authorization server's issuer string, one spelling for metadata, `iss` and the protected-resource metadata."""

from __future__ import annotations

from django.conf import settings


def builtin_issuer(origin: str) -> str:
    """The built-in AS's issuer for an origin (`scheme://host[:port]`, no trailing slash)."""
    return f"{origin}/oauth"


def issuer(origin: str) -> str:
    """settings.MCP_OAUTH_ISSUER when set (an external issuer), else the built-in one."""
    return getattr(settings, "MCP_OAUTH_ISSUER", "") or builtin_issuer(origin)
