"""RFC 9728 protected-resource metadata: where clients learn which authorization server signs our tokens.

Served at the root form `/.well-known/oauth-protected-resource` and at the path form of every MCP endpoint
(`…/mcp`, `…/mcp/sse`, `…/mcp/message`, `…/mcp/ws`; for a MCP_RESOURCE_URL with another path, that path and its
endpoints). Each names the one canonical resource, the parent of every endpoint, which clients accept (the MCP
SDK and mcp-remote allow a parent resource). 404 while settings.MCP_AUTH has no `oauth`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import re_path
from django.views.decorators.http import require_http_methods

from oauth import challenge
from oauth.gate import oauth_enabled
from oauth.issuer import issuer, request_origin

ENDPOINTS = ("", "/sse", "/message", "/ws")
RESOURCE_NAME = "AWS documentation (awsmcp)"


def _served_paths(resource: str) -> set[str]:
    """The path suffixes after the well-known prefix that have a document."""
    base = urlsplit(resource).path.rstrip("/")
    return {""} | {base + endpoint for endpoint in ENDPOINTS} | {"/mcp" + endpoint for endpoint in ENDPOINTS}


def document(resource: str, origin: str) -> dict[str, object]:
    """The metadata of `resource`; `origin` (as the built-in AS spells its issuer) names the built-in issuer."""
    return {
        "resource": resource,
        "authorization_servers": [issuer(origin)],
        "scopes_supported": challenge.supported_scopes(),
        "bearer_methods_supported": ["header"],
        "resource_name": RESOURCE_NAME,
    }


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def protected_resource(request: HttpRequest, path: str = "") -> HttpResponse:
    """The document, readable from any origin (browser-based clients fetch it cross-origin)."""
    resource = challenge.resource_for_host(request.get_host())
    if not oauth_enabled() or (path or "") not in _served_paths(resource):
        return JsonResponse({"error": "not_found"}, status=404)
    response: HttpResponse
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Authorization, MCP-Protocol-Version"
        response["Access-Control-Max-Age"] = "86400"
    else:
        response = JsonResponse(document(resource, request_origin(request)))
        response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


urlpatterns = [
    re_path(r"^\.well-known/oauth-protected-resource(?P<path>(?:/[^?#]*)?)$", protected_resource),
]
