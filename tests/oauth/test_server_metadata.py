"""RFC 8414 metadata of the built-in authorization server: what it advertises, and an `issuer` that equals the
RFC 9207 `iss` of its authorization responses byte for byte, whatever Host the client used."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from oauth.issuer import builtin_issuer
from tests.oauth.flow import Pkce, approve, authorize_url, redirect_params, register

pytestmark = pytest.mark.usefixtures("builtin_as")

HOSTS = ["testserver", "127.0.0.1:8765", "mcp.example.com", "[::1]:9000"]


def test_the_metadata_advertises_an_oauth_2_1_server() -> None:
    data = Client().get("/.well-known/oauth-authorization-server/oauth").json()
    assert data["issuer"] == "http://testserver/oauth"
    assert data["response_types_supported"] == ["code"]
    assert data["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["authorization_response_iss_parameter_supported"] is True
    assert data["client_id_metadata_document_supported"] is True
    assert "none" in data["token_endpoint_auth_methods_supported"]
    assert data["scopes_supported"] == ["docs:read", "docs:search"]
    assert data["authorization_endpoint"] == "http://testserver/oauth/authorize/"
    assert data["token_endpoint"] == "http://testserver/oauth/token/"
    assert data["registration_endpoint"] == "http://testserver/oauth/register/"
    assert data["revocation_endpoint"] == "http://testserver/oauth/revoke_token/"
    assert "jwks_uri" not in data  # opaque tokens unless MCP_OAUTH_JWT_ACCESS_TOKENS


def test_every_metadata_path_gives_the_same_document() -> None:
    web = Client()
    documents = [
        web.get(path).json()
        for path in (
            "/.well-known/oauth-authorization-server/oauth",
            "/.well-known/oauth-authorization-server",
            "/oauth/.well-known/oauth-authorization-server",
        )
    ]
    assert documents[0] == documents[1] == documents[2]


def test_cimd_support_follows_the_setting(settings: Any) -> None:
    with override_settings(OAUTH2_PROVIDER=settings.OAUTH2_PROVIDER | {"CIMD_ENABLED": False}):
        data = Client().get("/.well-known/oauth-authorization-server/oauth").json()
    assert data["client_id_metadata_document_supported"] is False


@pytest.mark.parametrize("host", HOSTS)
def test_issuer_and_iss_are_the_same_string_for_every_host(user: Any, host: str) -> None:
    with override_settings(ALLOWED_HOSTS=["*"]):
        web = Client(HTTP_HOST=host)
        issuer = web.get("/.well-known/oauth-authorization-server/oauth").json()["issuer"]
        assert issuer == builtin_issuer(f"http://{host}") == f"http://{host}/oauth"
        client_id = register(web).json()["client_id"]
        web.force_login(user)
        params = redirect_params(approve(web, authorize_url(client_id, Pkce.make(), resource=f"http://{host}/mcp")))
        assert params["iss"] == issuer


def test_behind_tls_the_issuer_is_https(user: Any) -> None:
    with override_settings(BEHIND_TLS=True, ALLOWED_HOSTS=["*"]):
        data = Client(HTTP_HOST="mcp.example.com").get("/.well-known/oauth-authorization-server/oauth").json()
    assert data["issuer"] == "https://mcp.example.com/oauth"
    assert data["token_endpoint"] == "https://mcp.example.com/oauth/token/"


def test_a_configured_resource_url_fixes_the_origin_and_the_resource(user: Any) -> None:
    with override_settings(MCP_RESOURCE_URL="https://docs.example.org/mcp", ALLOWED_HOSTS=["*"]):
        web = Client(HTTP_HOST="10.0.0.5:8000")
        assert web.get("/.well-known/oauth-authorization-server").json()["issuer"] == "https://docs.example.org/oauth"
        client_id = register(web).json()["client_id"]
        web.force_login(user)
        refused = web.get(authorize_url(client_id, Pkce.make(), resource="http://10.0.0.5:8000/mcp"))
        assert refused.status_code == 400 and b"invalid_target" in refused.content
        params = redirect_params(
            approve(web, authorize_url(client_id, Pkce.make(), resource="https://docs.example.org/mcp"))
        )
        assert params["iss"] == "https://docs.example.org/oauth"


def test_an_unknown_host_is_refused() -> None:
    assert Client(HTTP_HOST="evil.example").get("/.well-known/oauth-authorization-server/oauth").status_code == 400
