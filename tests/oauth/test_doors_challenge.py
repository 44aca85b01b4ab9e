"""The resource server's challenges and addresses at their edges: quoting, scope spellings, metadata paths (no
server). The exact strings are what clients parse, so they are compared whole."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from oauth import challenge

RESOURCE = "https://mcp.example/mcp"
METADATA = "https://mcp.example/.well-known/oauth-protected-resource/mcp"


@pytest.fixture(autouse=True)
def plain(settings: Settings) -> None:
    settings.MCP_RESOURCE_URL = ""
    settings.BEHIND_TLS = False
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    settings.MCP_OAUTH_SCOPES = "docs:read docs:search"


def test_the_resource_for_a_host_is_the_entrances(settings: Settings) -> None:
    assert challenge.resource_for_host("MCP.example:8000") == "http://mcp.example:8000/mcp"
    settings.MCP_RESOURCE_URL = "https://public.example/base/mcp"
    assert challenge.resource_for_host("127.0.0.1") == "https://public.example/base/mcp"


def test_the_metadata_url_inserts_the_well_known_path_before_the_resource_path() -> None:
    assert challenge.metadata_url(RESOURCE) == METADATA
    assert challenge.metadata_url("https://mcp.example/mcp/") == METADATA
    assert challenge.metadata_url("https://mcp.example/") == "https://mcp.example/.well-known/oauth-protected-resource"
    assert challenge.metadata_url("https://mcp.example") == "https://mcp.example/.well-known/oauth-protected-resource"
    assert challenge.metadata_url("https://mcp.example/MCPX") == (
        "https://mcp.example/.well-known/oauth-protected-resource/MCPX"
    )


def test_supported_scopes_from_a_string_or_a_list_with_the_prefix(settings: Settings) -> None:
    assert challenge.supported_scopes() == ["docs:read", "docs:search"]
    settings.MCP_OAUTH_SCOPES = ["docs:read", "docs:cn"]
    settings.MCP_OAUTH_SCOPE_PREFIX = "api://awsmcp/"
    assert challenge.supported_scopes() == ["api://awsmcp/docs:read", "api://awsmcp/docs:cn"]


def test_supported_scopes_default_without_the_setting(settings: Settings) -> None:
    del settings.MCP_OAUTH_SCOPES
    del settings.MCP_OAUTH_SCOPE_PREFIX
    assert challenge.supported_scopes() == ["docs:read", "docs:search"]


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("tab\there", '"tab\there"'),
        ("line\r\nbreak\x00\x1f\x7f", '"linebreak"'),
        (" spaced ", '" spaced "'),
        ("~é", '"~é"'),
    ],
)
def test_quote_escapes_and_drops_control_characters(value: str, quoted: str) -> None:
    assert challenge.quote(value) == quoted


def test_bearer_lists_the_parameters_in_order() -> None:
    assert challenge.bearer([("b", "2"), ("a", "1")]) == 'Bearer b="2", a="1"'
    assert challenge.bearer([]) == "Bearer "


def test_no_token_names_the_metadata_and_every_scope_without_an_error() -> None:
    assert challenge.unauthorized(RESOURCE) == (f'Bearer resource_metadata="{METADATA}", scope="docs:read docs:search"')


def test_a_bad_token_adds_invalid_token_and_why() -> None:
    assert challenge.unauthorized(RESOURCE, "the token has expired") == (
        f'Bearer resource_metadata="{METADATA}", scope="docs:read docs:search", '
        'error="invalid_token", error_description="the token has expired"'
    )


def test_insufficient_scope_spells_the_needed_scopes_as_the_issuer_does(settings: Settings) -> None:
    settings.MCP_OAUTH_SCOPE_PREFIX = "api://awsmcp/"
    assert challenge.insufficient_scope(frozenset({"docs:search", "docs:cn"}), RESOURCE) == (
        'Bearer error="insufficient_scope", scope="api://awsmcp/docs:cn api://awsmcp/docs:search", '
        f'resource_metadata="{METADATA}"'
    )


def test_insufficient_scope_without_a_prefix_setting(settings: Settings) -> None:
    del settings.MCP_OAUTH_SCOPE_PREFIX
    assert challenge.insufficient_scope(frozenset({"docs:read"}), RESOURCE) == (
        f'Bearer error="insufficient_scope", scope="docs:read", resource_metadata="{METADATA}"'
    )
