"""Limits on who may add clients to the built-in authorization server: open registration (RFC 7591) and Client ID
Metadata Documents each write a row anyone can ask for, so

- registrations are counted per client address (MCP_OAUTH_REGISTRATION_RATE, django-ratelimit's counters in the
  default cache like the MCP rate rules; X-Forwarded-For believed only from TRUSTED_PROXIES), and
- the rows they add are capped (MCP_OAUTH_MAX_CLIENTS, dynamically registered and CIMD applications together; a
  CIMD client already known may still refresh its document). Concurrent registrations may pass the cap by a few.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited
from oauth2_provider.models import get_application_model

from awsmcp.compat.ratelimit import split_rate
from awsmcp.login_throttle import client_ip

log = logging.getLogger(__name__)
FULL = "registration is full: this server takes no more clients"


def registration_retry_after(request: HttpRequest) -> int | None:
    """Count one registration from this address; the seconds to wait when MCP_OAUTH_REGISTRATION_RATE is exceeded,
    else None. Off with MCP_RATELIMIT_ENABLED=false or an empty rate; open when the counters are down."""
    rate = str(getattr(settings, "MCP_OAUTH_REGISTRATION_RATE", "30/h") or "")
    if not rate or not settings.MCP_RATELIMIT_ENABLED:
        return None
    address = client_ip(request)
    try:
        limited = is_ratelimited(
            SimpleNamespace(method="POST"),
            group="awsmcp:oauth-register",
            key=lambda _group, _request: address,
            rate=rate,
            increment=True,
        )
    except Exception as exc:  # the counters' cache is down: let the registration through, as the MCP rates do
        log.warning("registration rate check failed (%s: %s); allowing", exc.__class__.__name__, exc)
        return None
    return split_rate(rate)[1] if limited else None


def clients_full() -> bool:
    """MCP_OAUTH_MAX_CLIENTS dynamically registered and CIMD applications exist already."""
    application = get_application_model()
    sources = (application.RegistrationSource.DCR, application.RegistrationSource.CIMD)
    cap = int(getattr(settings, "MCP_OAUTH_MAX_CLIENTS", 10000))
    return application.objects.filter(registration_source__in=sources).count() >= cap


def new_cimd_client_refused(client_id: str) -> bool:
    """A CIMD client_id not yet known while the registrations are full."""
    return not get_application_model().objects.filter(client_id=client_id).exists() and clients_full()


class RoomForClients:
    """DOT CIMD permission: a client_id URL seen for the first time is fetched only while there is room."""

    def has_permission(self, request: Any, client_id: str) -> bool:
        if new_cimd_client_refused(client_id):
            log.warning("CIMD client %r refused: %s (MCP_OAUTH_MAX_CLIENTS)", client_id[:200], FULL)
            return False
        return True
