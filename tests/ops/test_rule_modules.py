"""The rule book, key authentication, rate counting and stream leases one module at a time (no HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from awsmcp.compat.ratelimit import split_rate
from ops import keys, leases, rates, rulebook
from ops.models import TOKEN_PREFIX, hash_token
from tests.ops.conftest import rule

TOKEN = f"{TOKEN_PREFIX}abcdefgh0123456789secret"


def test_split_rate_reads_count_and_period() -> None:
    assert split_rate("100/m") == (100, 60)
    assert split_rate("5/h") == (5, 3600)
    assert split_rate("2/10s") == (2, 10)


def test_a_rule_covers_its_endpoint_and_exempts_its_allowlist() -> None:
    only_sse = rule(1, "ip", "1/m", endpoint="sse", allowlist="10.0.0.0/8")
    assert only_sse.covers("sse") and not only_sse.covers("websocket") and rule(2, "ip", "1/m").covers("websocket")
    assert only_sse.allows("10.1.2.3") and not only_sse.allows("192.0.2.1") and not only_sse.allows("not-an-ip")
    assert only_sse.applies("ip", "sse", "192.0.2.1") and not only_sse.applies("ip", "sse", "10.1.2.3")


def test_the_generation_lives_in_the_default_cache_when_it_is_shared(tmp_path: Path) -> None:
    shared = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    with override_settings(CACHES={"default": shared}):
        assert rulebook.read_generation() is None
        rulebook.bump_generation()
        rulebook.bump_generation()
        assert rulebook.read_generation() == 2


def test_a_process_local_default_cache_has_no_generation_to_share() -> None:
    # Another process (a management command) cannot reach it: every look is a change, so the book reloads.
    assert rulebook.read_generation() != rulebook.read_generation()


async def test_the_book_reloads_when_the_generation_moves(monkeypatch: pytest.MonkeyPatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPS_RULES_POLL = 0
    generations = iter([1, 1, 2])
    loads: list[int] = []
    monkeypatch.setattr(rulebook, "read_generation", lambda: next(generations))
    monkeypatch.setattr(rulebook, "load", lambda: (loads.append(1), ([rule(1, "ip", "1/m")], {}))[1])
    monkeypatch.setattr(rulebook, "_book", rulebook.RuleBook())
    for _ in range(3):
        await rulebook.book()
    assert len(loads) == 2 and rulebook.current().rules[0].name == "rule-1"


async def test_keys_authenticate_in_constant_time_and_record_their_use(book: rulebook.RuleBook) -> None:
    book.keys[TOKEN[: len(TOKEN_PREFIX) + 8]] = rulebook.Key("ci", hash_token(TOKEN), "")
    keys.used_keys.clear()
    assert keys.authenticate(f"Bearer {TOKEN}") == "ci" and "ci" in keys.used_keys
    assert keys.authenticate(f"bearer {TOKEN}") == "ci"
    assert keys.authenticate(f"Bearer {TOKEN[:-1]}X") is None
    assert keys.authenticate(TOKEN) is None and keys.authenticate(None) is None
    with override_settings(MCP_AUTH_REQUIRED=True):
        assert await keys.check_key(f"Bearer {TOKEN}") == ("ci", None)
        name, refusal = await keys.check_key(None)
        assert name == "" and refusal is not None and refusal.status == 401
        assert refusal.headers == [("www-authenticate", 'Bearer realm="awsmcp", error="invalid_token"')]
    assert await keys.valid_keys() == {"ci"}


async def test_a_request_rate_refuses_with_retry_after(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(901, "ip", "2/m", endpoint="sse"))
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_rate("192.0.2.90", "", "sse") is None
        assert await rates.check_rate("192.0.2.90", "", "sse") is None
        refusal = await rates.check_rate("192.0.2.90", "", "sse")
        assert refusal is not None and refusal.status == 429 and refusal.headers == [("retry-after", "60")]
        assert "rule-901 (2/m)" in refusal.message
        assert await rates.check_rate("192.0.2.90", "", "websocket") is None  # another endpoint: not covered
    with override_settings(MCP_RATELIMIT_ENABLED=False):
        assert await rates.check_rate("192.0.2.90", "", "sse") is None


async def test_a_key_rate_uses_the_keys_override(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(902, "key", "100/m"))
    book.keys["amcp_override"] = rulebook.Key("tight-key", "", "1/h")
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_rate("192.0.2.91", "", "sse") is None  # no key: the key rule does not count it
        assert await rates.check_rate("192.0.2.91", "tight-key", "sse") is None
        refusal = await rates.check_rate("192.0.2.91", "tight-key", "sse")
        assert refusal is not None and refusal.headers == [("retry-after", "3600")]


async def test_rate_checks_fail_open_when_the_counters_are_down(
    book: rulebook.RuleBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    book.rules.append(rule(903, "global", "1/h"))

    def down(checks: object) -> None:
        raise ConnectionError("counters away")

    monkeypatch.setattr(rates, "_first_limited", down)
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_rate("192.0.2.92", "", "sse") is None


async def test_a_full_process_refuses_streams_with_503(book: rulebook.RuleBook, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MCP_MAX_CONNECTIONS = 1
    assert await leases.claim_stream("192.0.2.93", "a", "sse") is None
    refusal = await leases.claim_stream("192.0.2.94", "b", "sse")
    assert refusal is not None and refusal.status == 503 and refusal.headers == [("retry-after", "5")]
    await leases.release_stream("192.0.2.93", "a")
    await leases.release_stream("192.0.2.93", "a")  # twice is harmless
    assert "192.0.2.93" not in leases.local_streams and "192.0.2.94" not in leases.local_streams


async def test_streams_per_ip_refuse_the_one_over_the_cap(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(904, "streams_per_ip", "1/h", endpoint="sse"))
    assert await leases.claim_stream("192.0.2.95", "a", "sse") is None
    refusal = await leases.claim_stream("192.0.2.95", "b", "sse")
    assert refusal is not None and refusal.status == 429 and leases.local_streams["192.0.2.95"] == {"a"}
    assert await leases.claim_stream("192.0.2.95", "c", "websocket") is None  # the rule covers sse only
    for slot in ("a", "c"):
        await leases.release_stream("192.0.2.95", slot)
