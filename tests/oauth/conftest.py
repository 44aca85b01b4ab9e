"""Fixtures for the OAuth tests: the built-in authorization server switched on, and a user to sign in as."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import override_settings

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
