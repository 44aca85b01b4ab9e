"""Rules and keys in force without a database, for the ops modules' in-process tests; a staff member's admin client
for the modules that start a server (their own `server` fixture)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from ops import rulebook
from ops.models import parse_allowlist
from tests.support.admin import staff_client, staff_cookies
from tests.support.processes import DaphneServer


def rule(rule_id: int, scope: str, rate: str, endpoint: str = "*", allowlist: str = "") -> rulebook.Rule:
    return rulebook.Rule(rule_id, f"rule-{rule_id}", scope, endpoint, rate, parse_allowlist(allowlist))


@pytest.fixture
def book() -> Iterator[rulebook.RuleBook]:
    """An empty book marked fresh, so nothing reloads it; tests put rules and keys in it."""
    saved = (rulebook._book.rules, rulebook._book.keys, rulebook._book.loaded, rulebook._book.checked_at)
    rulebook._book.rules, rulebook._book.keys = [], {}
    rulebook._book.loaded, rulebook._book.checked_at = True, time.monotonic() + 3600
    yield rulebook._book
    rulebook._book.rules, rulebook._book.keys, rulebook._book.loaded, rulebook._book.checked_at = saved


@pytest.fixture(scope="module")
def cookies(server: DaphneServer) -> httpx.Cookies:
    """Logged in once per module (each test's client runs on a loop of its own)."""
    return staff_cookies(server)


@pytest.fixture
async def admin(server: DaphneServer, cookies: httpx.Cookies) -> AsyncIterator[httpx.AsyncClient]:
    async with staff_client(server, cookies) as client:
        yield client
