"""Fixtures for the OAuth tests: the built-in authorization server switched on, and a user to sign in as."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import override_settings

from tests.support.jwks_server import JwksServer

PASSWORD = "a-user-password-1234"


@pytest.fixture
def builtin_as(db: None) -> Iterator[None]:
    """MCP_AUTH=oauth with no external issuer: /oauth/… and the RFC 8414 metadata answer."""
    with override_settings(MCP_AUTH="oauth", MCP_OAUTH_ISSUER="", MCP_RESOURCE_URL=""):
        yield


@pytest.fixture
def user(db: None) -> Any:
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    """The registration rate counts per address in the default cache (memory here): each test starts at zero."""
    caches["default"].clear()


@pytest.fixture
def issuer_server(request: pytest.FixtureRequest) -> Iterator[JwksServer]:
    """A real issuer on loopback (JWKS, metadata, introspection) publishing the test module's SIGNER key."""
    server = JwksServer().start()
    server.publish(request.module.SIGNER)
    yield server
    server.stop()
