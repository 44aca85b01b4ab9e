"""RFC 9728 protected-resource metadata, served by oauth.metadata's URL patterns through Django's test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

PATHS = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource/mcp/sse",
    "/.well-known/oauth-protected-resource/mcp/message",
    "/.well-known/oauth-protected-resource/mcp/ws",
]


@pytest.fixture
def client(settings: Any) -> Client:
    settings.ROOT_URLCONF = "oauth.metadata"
    settings.MCP_AUTH = "oauth"
    settings.MCP_RESOURCE_URL = ""
    settings.MCP_OAUTH_ISSUER = ""
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    settings.MCP_OAUTH_SCOPES = "docs:read docs:search"
    settings.BEHIND_TLS = False
    return Client()


@pytest.mark.parametrize("path", PATHS)
def test_every_form_names_the_canonical_resource_and_the_builtin_issuer(client: Client, path: str) -> None:
    response = client.get(path, HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == {
        "resource": "http://127.0.0.1:8000/mcp",
        "authorization_servers": ["http://127.0.0.1:8000/oauth"],
        "scopes_supported": ["docs:read", "docs:search"],
        "bearer_methods_supported": ["header"],
        "resource_name": "AWS documentation (awsmcp)",
    }


def test_settings_name_the_resource_issuer_and_scope_spelling(client: Client, settings: Any) -> None:
    settings.MCP_RESOURCE_URL = "https://docs.example.org/public/mcp"
    settings.MCP_OAUTH_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
    settings.MCP_OAUTH_SCOPE_PREFIX = "https://docs.example.org/public/mcp/"
    body = client.get("/.well-known/oauth-protected-resource/public/mcp").json()
    assert body["resource"] == "https://docs.example.org/public/mcp"
    assert body["authorization_servers"] == ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"]
    assert body["scopes_supported"] == [
        "https://docs.example.org/public/mcp/docs:read",
        "https://docs.example.org/public/mcp/docs:search",
    ]


def test_behind_tls_the_resource_is_https(client: Client, settings: Any) -> None:
    settings.BEHIND_TLS = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "docs.example.org"]
    body = client.get("/.well-known/oauth-protected-resource/mcp", HTTP_HOST="docs.example.org").json()
    assert body["resource"] == "https://docs.example.org/mcp"
    assert body["authorization_servers"] == ["https://docs.example.org/oauth"]


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/other", "/.well-known/oauth-protected-resource/mcp/"]
)
def test_other_paths_are_not_found(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("mode", ["keys", "none"])
def test_without_oauth_there_is_no_metadata(client: Client, settings: Any, mode: str) -> None:
    settings.MCP_AUTH = mode
    assert client.get("/.well-known/oauth-protected-resource/mcp").status_code == 404


def test_preflight_and_methods(client: Client) -> None:
    preflight = client.options("/.well-known/oauth-protected-resource/mcp")
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == "*"
    assert client.post("/.well-known/oauth-protected-resource/mcp").status_code == 405


def test_the_resource_is_lower_cased_and_the_issuer_spelled_as_the_host_was(client: Client) -> None:
    """The resource as the entrance spells it (tokens are checked against it); the built-in issuer exactly as the
    authorization server's own metadata spells it for that Host."""
    body = client.get("/.well-known/oauth-protected-resource/mcp", HTTP_HOST="LocalHost:8000").json()
    assert body["resource"] == "http://localhost:8000/mcp"
    assert body["authorization_servers"] == ["http://LocalHost:8000/oauth"]
