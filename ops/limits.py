"""Rate limits and API keys as every MCP entrance checks them, with no database query on the hot path.

Rules and keys are loaded from the database into memory and reloaded when their generation in the
shared cache moves (an admin edit or a management command bumps it); processes look at the
generation at most every OPS_RULES_POLL seconds. Request counting is django-ratelimit's, in the
default cache (Redis when configured, so every process enforces one limit).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.db import close_old_connections
from django_ratelimit.core import _split_rate, is_ratelimited

GENERATION_KEY = "ops:rules-generation"


@dataclass(slots=True)
class Rule:
    id: int
    name: str
    scope: str
    endpoint: str
    rate: str
    allowlist: list[ipaddress.IPv4Network | ipaddress.IPv6Network]

    def covers(self, endpoint: str) -> bool:
        return self.endpoint in ("*", "", endpoint)

    def allows(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.allowlist)


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


_book = RuleBook()
_reload_lock: asyncio.Lock | None = None
used_keys: dict[str, float] = {}  # key name -> last use, flushed in batches


def _shared():  # type: ignore[no-untyped-def]
    from docs_proxy.pages import shared

    return shared()


def bump_generation() -> None:
    _shared().bump(GENERATION_KEY)
    _book.checked_at = 0.0  # this process reloads on its next request


def load() -> tuple[list[Rule], dict[str, Key]]:
    from ops.models import ApiKey, RateLimitRule, parse_allowlist

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


async def book() -> RuleBook:
    """The rules and keys in force; at most one cache look every OPS_RULES_POLL seconds."""
    global _reload_lock
    now = time.monotonic()
    if _book.loaded and now - _book.checked_at < settings.OPS_RULES_POLL:
        return _book
    if _reload_lock is None:
        _reload_lock = asyncio.Lock()
    async with _reload_lock:
        if _book.loaded and time.monotonic() - _book.checked_at < settings.OPS_RULES_POLL:
            return _book
        generation = await asyncio.to_thread(_shared().get_plain, GENERATION_KEY)
        if not _book.loaded or generation != _book.generation:
            _book.rules, _book.keys = await asyncio.to_thread(load)
            _book.generation = generation
            _book.loaded = True
        _book.checked_at = time.monotonic()
    return _book


@dataclass(slots=True)
class Refusal:
    status: int
    message: str
    headers: list[tuple[str, str]]


def _hit(rule: Rule, value: str, rate: str) -> bool:
    request = SimpleNamespace(method="POST")
    return is_ratelimited(
        request, group=f"awsmcp:{rule.id}:{rule.scope}", key=lambda _group, _request: value, rate=rate, increment=True
    )


async def check_rate(ip: str, key_name: str, endpoint: str) -> Refusal | None:
    """429 with Retry-After when a request-rate rule covering this endpoint is exceeded."""
    if not settings.MCP_RATELIMIT_ENABLED:
        return None
    rules = (await book()).rules
    for rule in rules:
        if rule.scope == "streams_per_ip" or not rule.covers(endpoint) or rule.allows(ip):
            continue
        if rule.scope == "ip":
            value, rate = ip, rule.rate
        elif rule.scope == "key":
            if not key_name:
                continue
            override = next((k.rate_override for k in _book.keys.values() if k.name == key_name), "")
            value, rate = key_name, override or rule.rate
        else:
            value, rate = "all", rule.rate
        if await asyncio.to_thread(_hit, rule, value, rate):
            _count, period = _split_rate(rate)
            return Refusal(
                429,
                f"Too Many Requests: rate limit {rule.name} ({rate}) exceeded; retry after {period} s",
                [("retry-after", str(period))],
            )
    return None


def authenticate(authorization: str | None) -> str | None:
    """The API key name for an `Authorization: Bearer <token>` header, or None (compared in constant time)."""
    from ops.models import TOKEN_PREFIX, hash_token

    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    token = authorization[7:].strip()
    key = _book.keys.get(token[: len(TOKEN_PREFIX) + 8])
    if key is None or not hmac.compare_digest(key.token_hash, hash_token(token)):
        return None
    used_keys[key.name] = time.time()
    return key.name


async def check_key(authorization: str | None) -> tuple[str, Refusal | None]:
    """(key name, refusal): 401 when MCP_AUTH_REQUIRED and the key is missing or wrong."""
    await book()
    name = authenticate(authorization)
    if name is None and settings.MCP_AUTH_REQUIRED:
        return "", Refusal(
            401,
            "Unauthorized: send Authorization: Bearer <API key>",
            [("www-authenticate", 'Bearer realm="awsmcp", error="invalid_token"')],
        )
    return name or "", None
