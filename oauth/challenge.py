"""The resource server's addresses and `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9728 §5.1).

One place spells the canonical resource, where its metadata lives and the challenge strings, so the 401/403 headers,
the protected-resource metadata and the token audience check can never disagree.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from mcp_gateway.transports.security import resource_url

WELL_KNOWN = "/.well-known/oauth-protected-resource"
DEFAULT_SCOPES = "docs:read docs:search"


def resource_for_host(host: str) -> str:
    """The canonical resource URI for a Host, spelled by the entrance's own rule (MCP_RESOURCE_URL, else
    `{scheme}://{host}/mcp`), so the metadata names exactly what tokens are checked against."""
    return resource_url({"host": host})


def metadata_url(resource: str) -> str:
    """Where the protected-resource metadata of `resource` lives (RFC 9728 §3.1 path form)."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{parts.path.rstrip('/')}"


def supported_scopes() -> list[str]:
    """The scopes clients ask the issuer for (settings.MCP_OAUTH_SCOPES, with the issuer's prefix)."""
    prefix = getattr(settings, "MCP_OAUTH_SCOPE_PREFIX", "")
    return [prefix + scope for scope in _scope_list(getattr(settings, "MCP_OAUTH_SCOPES", DEFAULT_SCOPES))]


def _scope_list(value: str | list[str] | tuple[str, ...]) -> list[str]:
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def quote(value: str) -> str:
    """An RFC 7230 quoted-string: backslash and double quote escaped, control characters dropped."""
    clean = "".join(ch for ch in value if ch == "\t" or (" " <= ch and ch != "\x7f"))
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer(params: list[tuple[str, str]]) -> str:
    """`Bearer name="value", …` in the given order."""
    return "Bearer " + ", ".join(f"{name}={quote(value)}" for name, value in params)


def unauthorized(resource: str, description: str = "") -> str:
    """The 401 challenge: where the metadata is and what to ask for; with `invalid_token` when a token was bad."""
    params = [("resource_metadata", metadata_url(resource)), ("scope", " ".join(supported_scopes()))]
    if description:
        params += [("error", "invalid_token"), ("error_description", description)]
    return bearer(params)


def insufficient_scope(needed: frozenset[str], resource: str) -> str:
    """The 403 challenge naming every scope the request needs (spelled as the issuer spells them)."""
    prefix = getattr(settings, "MCP_OAUTH_SCOPE_PREFIX", "")
    return bearer(
        [
            ("error", "insufficient_scope"),
            ("scope", " ".join(prefix + scope for scope in sorted(needed))),
            ("resource_metadata", metadata_url(resource)),
        ]
    )
