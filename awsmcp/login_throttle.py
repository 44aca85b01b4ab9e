"""Who is logging in to the admin, for its login throttle (django-axes, settings AXES_*)."""

from __future__ import annotations

from django.http import HttpRequest

from mcp_gateway.transports.security import client_ip as peer_or_forwarded


def client_ip(request: HttpRequest) -> str:
    """The client's address as MCP requests see it: X-Forwarded-For is believed only from TRUSTED_PROXIES,
    so a client cannot escape its lockout (or lock out someone else) by naming another address."""
    headers = {}
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if forwarded:
        headers["x-forwarded-for"] = forwarded
    return peer_or_forwarded({"client": (request.META.get("REMOTE_ADDR", ""), 0)}, headers)
