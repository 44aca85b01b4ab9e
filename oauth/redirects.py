"""Which redirect URIs the built-in authorization server sends codes to, and why it refuses the others.

- https anywhere; http only to a loopback host (RFC 8252 §7.3), on any port (DOT's rule);
- a private-use scheme (RFC 8252 §7.1: `cursor://…`, `vscode://…`) when MCP_OAUTH_REDIRECT_SCHEMES lists it, matched
  exactly as registered;
- never a scheme a browser would run or read locally (javascript:, data:, file:…), even if listed.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

LOOPBACK_NAMES = {"localhost"}
WEB_SCHEMES = ("https", "http")
# Schemes a browser runs, reads locally or treats as its own: a redirect there is script or a local file, never an app.
DANGEROUS_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob", "filesystem"})
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\Z")  # RFC 3986 §3.1, lower-cased


def loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def private_schemes(raw: str) -> list[str]:
    """MCP_OAUTH_REDIRECT_SCHEMES (space or comma separated) as a list; a dangerous, web or malformed name stops the
    start, so a typo never quietly widens (or silently narrows) where codes may go."""
    schemes: list[str] = []
    for name in raw.replace(",", " ").split():
        scheme = name.lower().removesuffix("://").removesuffix(":")
        if scheme in DANGEROUS_SCHEMES:
            raise ImproperlyConfigured(
                f"MCP_OAUTH_REDIRECT_SCHEMES lists {name!r}: a browser runs or reads {scheme}: URIs itself, so "
                f"they are never allowed as redirect URIs ({', '.join(sorted(DANGEROUS_SCHEMES))})"
            )
        if scheme in WEB_SCHEMES:
            raise ImproperlyConfigured(
                f"MCP_OAUTH_REDIRECT_SCHEMES lists {name!r}: https is always allowed and http is for loopback hosts "
                "only; list only private-use schemes of native apps (e.g. cursor vscode)"
            )
        if not SCHEME.match(scheme):
            raise ImproperlyConfigured(f"MCP_OAUTH_REDIRECT_SCHEMES lists {name!r}, which is not a URI scheme name")
        if scheme not in schemes:
            schemes.append(scheme)
    return schemes


def allowed_private_schemes() -> list[str]:
    """The private-use schemes allowed now (never a dangerous one, whatever the setting holds)."""
    listed = getattr(settings, "MCP_OAUTH_REDIRECT_SCHEMES", [])
    return [scheme for scheme in listed if scheme.lower() not in DANGEROUS_SCHEMES]


def allowed_description() -> str:
    """The allowed schemes, as an error message names them."""
    return ", ".join(["https", "http (loopback hosts only)", *allowed_private_schemes()])


def refusal(uri: str) -> str | None:
    """Why `uri` may not be a redirect URI, or None when it may."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"{uri}: not a valid URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return f"{uri}: not an absolute URI (no scheme); allowed schemes: {allowed_description()}"
    if scheme == "https":
        return None
    if scheme == "http":
        if loopback(parts.hostname or ""):
            return None
        return f"{uri}: http is for loopback hosts only (127.0.0.1, [::1], localhost); use https for other hosts"
    if scheme in DANGEROUS_SCHEMES:
        return f"{uri}: the {scheme} scheme is never allowed for redirect URIs"
    if scheme not in allowed_private_schemes():
        return f"{uri}: the {scheme} scheme is not allowed; allowed schemes: {allowed_description()}"
    return None


def allowed(uri: str) -> bool:
    return refusal(uri) is None


def target(uri: str) -> str:
    """Where a redirect goes, as the consent page names it: the host[:port] of a web URI, the scheme and host of
    an app's own scheme (`cursor://anysphere.cursor-mcp`), so one is not taken for the other."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.scheme.lower() in WEB_SCHEMES:
        return parts.netloc
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def app_scheme(uri: str) -> str:
    """The private-use scheme of `uri`, or "" for a web (or unreadable) one."""
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        return ""
    return "" if scheme in WEB_SCHEMES else scheme


def local(uri: str) -> bool:
    """A redirect only something on the user's own computer receives: loopback, or an app's own scheme."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.scheme.lower() in WEB_SCHEMES:
        return loopback(parts.hostname or "")
    return True
