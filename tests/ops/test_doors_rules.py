"""The rule book and request counters at their edges: what is loaded, who counts where, who is exempt (no server)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from pytest_django.fixtures import Settings

from ops import rates, rulebook
from ops.models import ApiKey, RateLimitRule
from tests.ops.conftest import rule


@pytest.fixture(autouse=True)
def rates_on() -> Iterator[None]:
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        yield


def test_a_rule_without_endpoint_covers_every_endpoint() -> None:
    assert rule(1, "ip", "1/m", endpoint="").covers("websocket")
    assert rule(2, "ip", "1/m", endpoint="*").covers("sse")


def test_a_key_without_override_has_none() -> None:
    keys = {"amcp_1": rulebook.Key("ci", "h", "5/m"), "amcp_2": rulebook.Key("plain", "h", "")}
    book = rulebook.RuleBook(keys=keys)
    assert book.rate_override("ci") == "5/m"
    assert book.rate_override("plain") == ""
    assert book.rate_override("unknown") == ""


@pytest.mark.django_db
def test_only_enabled_rules_and_live_keys_are_loaded() -> None:
    RateLimitRule.objects.create(name="on", scope="ip", endpoint=" sse ", rate="5/m", allowlist="10.0.0.0/8")
    RateLimitRule.objects.create(name="off", scope="ip", endpoint="*", rate="1/m", enabled=False)
    for name, fields in (("live", {"rate_override": "9/m"}), ("disabled", {"enabled": False}), ("revoked", {})):
        key = ApiKey(name=name, **fields)
        key.issue_token()
        key.save()
    ApiKey.objects.filter(name="revoked").update(revoked_at=timezone.now())
    rules, keys = rulebook.load()
    assert "off" not in {r.name for r in rules}
    loaded = next(r for r in rules if r.name == "on")
    expected = RateLimitRule.objects.get(name="on")
    assert (loaded.id, loaded.name, loaded.scope, loaded.endpoint, loaded.rate) == (
        expected.id,
        "on",
        "ip",
        "sse",
        "5/m",
    )
    assert loaded.allows("10.1.2.3") and not loaded.allows("192.0.2.1")
    assert [(prefix, key.name, key.rate_override) for prefix, key in keys.items()] == [
        (ApiKey.objects.get(name="live").prefix, "live", "9/m")
    ]
    assert next(iter(keys.values())).token_hash == ApiKey.objects.get(name="live").token_hash != ""


async def test_a_bump_makes_this_process_reload_at_once(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    settings.OPS_RULES_POLL = 3600
    loads: list[int] = []

    def load() -> tuple[list[rulebook.Rule], dict[str, rulebook.Key]]:
        loads.append(1)
        return [rule(1, "ip", "1/m")], {}

    monkeypatch.setattr(rulebook, "load", load)
    monkeypatch.setattr(rulebook, "_book", rulebook.RuleBook())
    await rulebook.book()
    await rulebook.book()
    assert len(loads) == 1  # fresh for an hour
    rulebook.bump_generation()
    await rulebook.book()
    assert len(loads) == 2


async def test_readers_arriving_together_load_the_book_once(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    settings.OPS_RULES_POLL = 3600
    loads: list[int] = []

    def slow_load() -> tuple[list[rulebook.Rule], dict[str, rulebook.Key]]:
        time.sleep(0.2)
        loads.append(1)
        return [], {}

    monkeypatch.setattr(rulebook, "load", slow_load)
    monkeypatch.setattr(rulebook, "read_generation", lambda: 1)
    monkeypatch.setattr(rulebook, "_book", rulebook.RuleBook())
    monkeypatch.setattr(rulebook, "_reload_lock", None)  # as in a new process
    await asyncio.gather(*(rulebook.book() for _ in range(3)))
    assert len(loads) == 1


async def test_an_ip_rule_counts_each_address_apart(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(911, "ip", "1/m"))
    assert await rates.check_rate("192.0.2.111", "", "sse") is None
    assert await rates.check_rate("192.0.2.112", "", "sse") is None
    assert await rates.check_rate("192.0.2.111", "", "sse") is not None


async def test_a_global_rule_counts_every_address_together(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(912, "global", "1/m"))
    assert await rates.check_rate("192.0.2.113", "", "sse") is None
    refusal = await rates.check_rate("192.0.2.114", "", "sse")
    assert refusal is not None
    assert refusal.message == "Too Many Requests: rate limit rule-912 (1/m) exceeded; retry after 60 s"


async def test_a_key_rule_leaves_anonymous_clients_alone(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(913, "key", "1/m"))
    for _ in range(3):
        assert await rates.check_rate("192.0.2.115", "", "sse") is None


async def test_an_allowlisted_address_is_not_counted(book: rulebook.RuleBook) -> None:
    book.rules.append(rule(914, "ip", "1/m", allowlist="192.0.2.0/28"))
    for _ in range(3):
        assert await rates.check_rate("192.0.2.1", "", "sse") is None


async def test_rules_after_a_stream_cap_still_count(book: rulebook.RuleBook) -> None:
    book.rules += [rule(915, "streams_per_ip", "1/m"), rule(916, "ip", "1/m")]
    assert await rates.check_rate("192.0.2.116", "", "sse") is None
    assert await rates.check_rate("192.0.2.116", "", "sse") is not None


async def test_shared_counters_are_counted_in_a_worker_thread(book: rulebook.RuleBook, tmp_path: Path) -> None:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "doors"},
        "counters": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)},
    }
    book.rules.append(rule(917, "ip", "1/m"))
    with override_settings(CACHES=caches, RATELIMIT_USE_CACHE="counters"):
        assert await rates.check_rate("192.0.2.117", "", "sse") is None
        refusal = await rates.check_rate("192.0.2.117", "", "sse")
    assert refusal is not None and refusal.status == 429


async def test_a_failed_count_is_logged_and_let_through(
    book: rulebook.RuleBook, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    book.rules.append(rule(918, "global", "1/h"))

    def down(checks: object) -> None:
        raise ConnectionError("counters away")

    monkeypatch.setattr(rates, "_first_limited", down)
    with caplog.at_level(logging.WARNING, logger="ops.rates"):
        assert await rates.check_rate("192.0.2.118", "", "sse") is None
    assert "rate limit check failed (ConnectionError: counters away); allowing" in caplog.messages
