"""Request-rate counting against the rule book's rate rules (django-ratelimit's counters, in the default cache).

With Redis as the default cache every process counts into the same counters, so a limit holds fleet-wide."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django_ratelimit.core import is_ratelimited

from awsmcp.breaker import redis_call
from awsmcp.compat.ratelimit import split_rate
from awsmcp.pools import run_in
from mcp_gateway.gate import Refusal
from ops.rulebook import COUNTED_SCOPES, TOOL_PREFIX, Rule, RuleBook, book

log = logging.getLogger(__name__)
Check = tuple[Rule, str, str]  # a rule, the value counted (ip, key name or "all"), the rate in force


def _hit(rule: Rule, value: str, rate: str) -> bool:
    request = SimpleNamespace(method="POST")
    return is_ratelimited(
        request, group=f"awsmcp:{rule.id}:{rule.scope}", key=lambda _group, _request: value, rate=rate, increment=True
    )


def _first_limited(checks: list[Check]) -> tuple[Rule, str] | None:
    """Count this request against each rule in turn; the first rule it exceeds (later ones are not counted)."""
    for rule, value, rate in checks:
        if _hit(rule, value, rate):
            return rule, rate
    return None


def _counters_in_process() -> bool:
    """The counters live in this process's memory (the embedded default): no I/O, so no thread hop."""
    return isinstance(caches[settings.RATELIMIT_USE_CACHE], LocMemCache)


def _check_of(rule: Rule, rules: RuleBook, ip: str, key_name: str) -> Check | None:
    """What this request counts as under one rate rule (None: the rule does not count it)."""
    if rule.scope == "ip":
        return rule, ip, rule.rate
    if rule.scope == "key":
        if not key_name:
            return None
        # A key's override is its request rate; a tool rule protects an upstream, which no key may buy out of.
        override = None if rule.endpoint.startswith(TOOL_PREFIX) else rules.rate_override(key_name)
        return rule, key_name, override or rule.rate
    return rule, "all", rule.rate


def _checks(rules: RuleBook, ip: str, key_name: str, covers: Callable[[Rule], bool]) -> list[Check]:
    checks = []
    for rule in rules.rules:
        if rule.scope in COUNTED_SCOPES or not covers(rule) or rule.allows(ip):
            continue
        check = _check_of(rule, rules, ip, key_name)
        if check is not None:
            checks.append(check)
    return checks


async def _count(checks: list[Check]) -> tuple[Rule, str] | None:
    """Count the checks: inline for in-process counters, in one worker thread for Redis (never retried: incr)."""
    if _counters_in_process():
        return _first_limited(checks)
    return await run_in("database", redis_call, "rate limit counters", _first_limited, checks)


async def check_rate(ip: str, key_name: str, endpoint: str) -> Refusal | None:
    """429 with Retry-After when a request-rate rule covering this endpoint is exceeded."""
    limited = await _limited(ip, key_name, lambda rule: rule.covers(endpoint))
    if limited is None:
        return None
    rule, rate, period = limited
    return _too_many(f"Too Many Requests: rate limit {rule.name} ({rate}) exceeded", period)


async def check_tool(ip: str, key_name: str, tool: str) -> Refusal | None:
    """One call of a tool counted against the rules whose endpoint is `tool:<its name>` (only those: a call is
    already one request under the rules of its transport)."""
    endpoint = TOOL_PREFIX + tool
    limited = await _limited(ip, key_name, lambda rule: rule.endpoint == endpoint)
    if limited is None:
        return None
    rule, rate, period = limited
    return _too_many(f"Rate limit {rule.name} ({rate} per {rule.scope_noun}) on tool {tool} exceeded", period)


def _too_many(message: str, period: int) -> Refusal:
    return Refusal(429, f"{message}; retry after {period} s", [("retry-after", str(period))])


async def _limited(ip: str, key_name: str, covers: Callable[[Rule], bool]) -> tuple[Rule, str, int] | None:
    """Count this request under the rules it is covered by: the first rule exceeded, its rate and period; None when
    none is (or rate limiting is off, or counting failed)."""
    if not settings.MCP_RATELIMIT_ENABLED:
        return None
    checks = _checks(await book(), ip, key_name, covers)
    if not checks:
        return None
    try:
        limited = await _count(checks)
    except Exception as exc:  # the counters' cache is down: let the request through (fail open)
        log.warning("rate limit check failed (%s: %s); allowing", exc.__class__.__name__, exc)
        return None
    if limited is None:
        return None
    rule, rate = limited
    return rule, rate, split_rate(rate)[1]
