"""Where this server is, as OAuth names it, at its edges: the origin, the issuer, the resource and the audience rule
(`within`) the built-in authorization server applies to resource indicators (no server)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from pytest_django.fixtures import Settings

from oauth.issuer import (
    builtin_enabled,
    builtin_issuer,
    issuer,
    meta_origin,
    origin_for_host,
    request_origin,
    resource_uri,
    within,
)


@pytest.fixture(autouse=True)
def plain(settings: Settings) -> None:
    settings.ALLOWED_HOSTS = ["mcp.example", "127.0.0.1"]
    settings.MCP_RESOURCE_URL = ""
    settings.MCP_OAUTH_ISSUER = ""
    settings.BEHIND_TLS = False
    settings.MCP_AUTH = "oauth"


def test_the_origin_is_the_host_as_sent_with_the_scheme_clients_use(settings: Settings) -> None:
    assert origin_for_host("mcp.example:8000") == "http://mcp.example:8000"
    settings.BEHIND_TLS = True
    assert origin_for_host("mcp.example") == "https://mcp.example"


def test_a_configured_resource_fixes_the_origin_whatever_the_host(settings: Settings) -> None:
    settings.MCP_RESOURCE_URL = "https://public.example:8443/base/mcp?x=1"
    assert origin_for_host("127.0.0.1:8000") == "https://public.example:8443"


def test_a_requests_origin_comes_from_its_checked_host() -> None:
    request = RequestFactory().get("/", HTTP_HOST="mcp.example:8000")
    assert request_origin(request) == "http://mcp.example:8000"
    assert meta_origin({"HTTP_HOST": "127.0.0.1:9000", "SERVER_NAME": "x", "SERVER_PORT": "80"}) == (
        "http://127.0.0.1:9000"
    )


def test_the_issuer_is_the_builtin_one_unless_configured(settings: Settings) -> None:
    assert builtin_issuer("http://h:1") == "http://h:1/oauth"
    assert issuer("http://h:1") == "http://h:1/oauth"
    settings.MCP_OAUTH_ISSUER = "https://login.example/tenant"
    assert issuer("http://h:1") == "https://login.example/tenant"


def test_the_resource_is_the_origins_mcp_unless_configured(settings: Settings) -> None:
    assert resource_uri("http://h:1") == "http://h:1/mcp"
    settings.MCP_RESOURCE_URL = "https://public.example/mcp"
    assert resource_uri("http://h:1") == "https://public.example/mcp"


@pytest.mark.parametrize(
    ("value", "resource", "inside"),
    [
        ("https://h/mcp", "https://h/mcp", True),
        ("https://h/mcp/sse", "https://h/mcp", True),
        ("https://h/mcp/", "https://h/mcp", True),
        ("https://h/mcp", "https://h/mcp/", True),
        ("https://h/mcp/ws", "https://h/mcp/", True),
        ("https://h/MCPX/sse", "https://h/MCPX", True),
        ("https://h/mcpx", "https://h/mcp", False),
        ("https://h/mc", "https://h/mcp", False),
        ("https://h/", "https://h/mcp", False),
        ("https://other/mcp", "https://h/mcp", False),
        ("https://h/mcp?x=1", "https://h/mcp", False),
        ("https://h/mcp#frag", "https://h/mcp", False),
        ("https://h/mcp/sse?x", "https://h/mcp", False),
        ("https://h/mcp/a#b", "https://h/mcp", False),
    ],
)
def test_within_is_the_resource_or_below_it_on_slash_boundaries(value: str, resource: str, inside: bool) -> None:
    assert within(value, resource) is inside


@pytest.mark.parametrize(
    ("mode", "configured_issuer", "enabled"),
    [
        ("oauth", "", True),
        ("keys+oauth", "", True),
        ("oauth+keys", "", True),
        ("keys", "", False),
        ("none", "", False),
        ("oauthx", "", False),
        ("oauth", "https://login.example", False),
        ("keys+oauth", "https://login.example", False),
    ],
)
def test_the_builtin_server_answers_only_for_oauth_without_an_external_issuer(
    settings: Settings, mode: str, configured_issuer: str, enabled: bool
) -> None:
    settings.MCP_AUTH = mode
    settings.MCP_OAUTH_ISSUER = configured_issuer
    assert builtin_enabled() is enabled
