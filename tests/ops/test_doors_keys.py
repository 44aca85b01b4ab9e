"""API keys at the door: which header carries a token, which token is a key, when a client is refused (no server)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from ops import keys, rulebook
from ops.models import TOKEN_PREFIX, hash_token

TOKEN = f"{TOKEN_PREFIX}doorskey0123456789secret"
REFUSAL = (
    401,
    "Unauthorized: send Authorization: Bearer <API key>",
    [("www-authenticate", 'Bearer realm="awsmcp", error="invalid_token"')],
)


@pytest.fixture
def book() -> Iterator[rulebook.RuleBook]:
    """One key in force, without a database: the book is marked fresh, so nothing reloads it."""
    saved = (rulebook._book.rules, rulebook._book.keys, rulebook._book.loaded, rulebook._book.checked_at)
    rulebook._book.rules = []
    rulebook._book.keys = {TOKEN[: len(TOKEN_PREFIX) + 8]: rulebook.Key("doors", hash_token(TOKEN), "")}
    rulebook._book.loaded, rulebook._book.checked_at = True, time.monotonic() + 3600
    keys.used_keys.clear()
    yield rulebook._book
    rulebook._book.rules, rulebook._book.keys, rulebook._book.loaded, rulebook._book.checked_at = saved


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (f"Bearer {TOKEN}", "doors"),
        (f"BEARER   {TOKEN}  ", "doors"),
        (f"Basic {TOKEN}", None),
        (f"Bearer{TOKEN}", None),
        ("Bearer ", None),
        (None, None),
        (f"Bearer {TOKEN}x", None),
        (f"Bearer {TOKEN[:-1]}", None),
    ],
)
def test_only_a_bearer_token_that_matches_a_key_names_it(
    book: rulebook.RuleBook, header: str | None, name: str
) -> None:
    assert keys.authenticate(header) == name
    assert (name in keys.used_keys) if name else not keys.used_keys


def test_a_use_is_recorded_with_its_time(book: rulebook.RuleBook) -> None:
    before = time.time()
    keys.authenticate(f"Bearer {TOKEN}")
    assert before <= keys.used_keys["doors"] <= time.time()


async def test_a_wrong_token_is_refused_even_when_keys_are_optional(book: rulebook.RuleBook) -> None:
    with override_settings(MCP_AUTH_REQUIRED=False):
        name, refusal = await keys.check_key(f"Bearer {TOKEN}x")
        assert name == "" and refusal is not None
        assert (refusal.status, refusal.message, refusal.headers) == REFUSAL
        assert await keys.check_key(None) == ("", None)
        assert await keys.check_key("Basic abc") == ("", None)
        assert await keys.check_key(f"Bearer {TOKEN}") == ("doors", None)


async def test_a_missing_key_is_refused_when_keys_are_required(book: rulebook.RuleBook) -> None:
    with override_settings(MCP_AUTH_REQUIRED=True):
        name, refusal = await keys.check_key(None)
        assert name == "" and refusal is not None
        assert (refusal.status, refusal.message, refusal.headers) == REFUSAL
        assert await keys.check_key(f"bearer {TOKEN}") == ("doors", None)


async def test_the_valid_keys_are_the_books(book: rulebook.RuleBook) -> None:
    assert await keys.valid_keys() == {"doors"}
