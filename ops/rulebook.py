"""The rules and API keys in force, held in memory so that no entrance check queries the database.

They are reloaded when their generation moves (an admin edit or a management command bumps it), looked at most
every OPS_RULES_POLL seconds. The generation lives in Django's default cache when that cache is shared between
processes (Redis); a process-local default cache (the embedded default) cannot carry it to other processes, so
there the book simply reloads every OPS_RULES_POLL seconds (two small queries, in a worker thread).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import close_old_connections

from awsmcp.breaker import cache_call
from awsmcp.pools import run_in
from ops.models import ApiKey, RateLimitRule, parse_allowlist

GENERATION_KEY = "ops:rules-generation"
# Rules that cap how many things a client holds at once, rather than how often it asks.
COUNTED_SCOPES = frozenset({"streams_per_ip", "sessions_per_ip", "sessions_per_key"})
TOOL_PREFIX = "tool:"  # a rule's endpoint `tool:<name>` counts the calls of one tool
# The endpoints each counted scope is checked on (rate scopes are checked on every endpoint): only Streamable HTTP
# keeps a session apart from its stream, so session caps have no meaning on sse or websocket.
SCOPE_ENDPOINTS = {
    "streams_per_ip": ("*", "streamable", "sse", "websocket"),
    "sessions_per_ip": ("*", "streamable"),
    "sessions_per_key": ("*", "streamable"),
}
_SCOPE_NOUNS = {"ip": "IP", "key": "API key", "global": "server"}


def enforced(scope: str, endpoint: str) -> bool:
    """Whether a rule of this scope on this endpoint is ever checked."""
    allowed = SCOPE_ENDPOINTS.get(scope)
    return allowed is None or (endpoint or "*") in allowed


@dataclass(slots=True)
class Rule:
    id: int
    name: str
    scope: str
    endpoint: str
    rate: str
    allowlist: list[ipaddress.IPv4Network | ipaddress.IPv6Network]

    @property
    def scope_noun(self) -> str:
        """What the rule counts per, in a refusal's words."""
        return _SCOPE_NOUNS.get(self.scope, self.scope)

    @property
    def enforced(self) -> bool:
        """Whether anything checks this scope on this endpoint (the admin refuses rules that nothing would)."""
        return enforced(self.scope, self.endpoint)

    def covers(self, endpoint: str) -> bool:
        return self.endpoint in ("*", "", endpoint)

    def allows(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.allowlist)

    def applies(self, scope: str, endpoint: str, ip: str) -> bool:
        """A rule of this scope that covers the endpoint and does not exempt the IP."""
        return self.scope == scope and self.covers(endpoint) and not self.allows(ip)


@dataclass(slots=True)
class Key:
    name: str
    token_hash: str
    rate_override: str


@dataclass(slots=True)
class RuleBook:
    rules: list[Rule] = field(default_factory=list)
    keys: dict[str, Key] = field(default_factory=dict)  # token prefix -> key
    generation: object = None
    checked_at: float = 0.0
    loaded: bool = False

    def rate_override(self, key_name: str) -> str:
        return next((k.rate_override for k in self.keys.values() if k.name == key_name), "")


_book = RuleBook()
_reload_lock: asyncio.Lock | None = None


def _generation_shared() -> bool:
    """The default cache is seen by every process (so a generation there reaches them all)."""
    return not isinstance(caches["default"], LocMemCache)


def bump_generation() -> None:
    """Tell every process to reload the rules and keys (called on every admin edit)."""
    if _generation_shared():
        cache_call("default", "add", GENERATION_KEY, 0, None)
        cache_call("default", "incr", GENERATION_KEY)
    _book.checked_at = 0.0  # this process reloads on its next request


def read_generation() -> object:
    """The current generation (blocking); a fresh object each time when there is none to share, so it reloads."""
    if _generation_shared():
        return cache_call("default", "get", GENERATION_KEY)
    return object()


def load() -> tuple[list[Rule], dict[str, Key]]:
    """The enabled rules and the valid keys, from the database (blocking)."""
    close_old_connections()
    rules = [
        Rule(r.id, r.name, r.scope, r.endpoint.strip(), r.rate, parse_allowlist(r.allowlist))
        for r in RateLimitRule.objects.filter(enabled=True)
    ]
    keys = {
        k.prefix: Key(k.name, k.token_hash, k.rate_override)
        for k in ApiKey.objects.filter(enabled=True, revoked_at__isnull=True)
    }
    return rules, keys


def _fresh() -> bool:
    return _book.loaded and time.monotonic() - _book.checked_at < settings.OPS_RULES_POLL


async def book() -> RuleBook:
    """The rules and keys in force; at most one generation look every OPS_RULES_POLL seconds."""
    global _reload_lock
    if _fresh():
        return _book
    if _reload_lock is None:
        _reload_lock = asyncio.Lock()
    async with _reload_lock:
        if _fresh():
            return _book
        generation = await run_in("database", read_generation)
        if not _book.loaded or generation != _book.generation:
            _book.rules, _book.keys = await run_in("database", load)
            _book.generation = generation
            _book.loaded = True
        _book.checked_at = time.monotonic()
    return _book


def current() -> RuleBook:
    """The book as last loaded, without looking for a newer one (for callers that awaited book() already)."""
    return _book
