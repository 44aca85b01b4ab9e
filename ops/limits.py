"""Rate limits and API keys as every MCP entrance checks them, with no database query on the hot path.

Rules and keys are loaded from the database into memory and reloaded when their generation in the
shared cache moves (an admin edit or a management command bumps it); processes look at the
generation at most every OPS_RULES_POLL seconds. Request counting is django-ratelimit's, in the
default cache (Redis when configured, so every process enforces one limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.db import close_old_connections
from django_ratelimit.core import _split_rate, is_ratelimited

from awsmcp.breaker import breaker, redis_call
from awsmcp.pools import run_in

GENERATION_KEY = "ops:rules-generation"
# Rules that cap how many things a client holds at once, rather than how often it asks.
COUNTED_SCOPES = frozenset({"streams_per_ip", "sessions_per_ip", "sessions_per_key"})
log = logging.getLogger(__name__)


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
        generation = await run_in("database", _shared().get_plain, GENERATION_KEY)
        if not _book.loaded or generation != _book.generation:
            _book.rules, _book.keys = await run_in("database", load)
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


def _first_limited(checks: list[tuple[Rule, str, str]]) -> tuple[Rule, str] | None:
    """Count this request against each rule in turn; the first rule it exceeds (later ones are not counted)."""
    for rule, value, rate in checks:
        if _hit(rule, value, rate):
            return rule, rate
    return None


def _counters_in_process() -> bool:
    """The counters live in this process's memory (the embedded default): no I/O, so no thread hop."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    return isinstance(caches[settings.RATELIMIT_USE_CACHE], LocMemCache)


async def check_rate(ip: str, key_name: str, endpoint: str) -> Refusal | None:
    """429 with Retry-After when a request-rate rule covering this endpoint is exceeded.

    All rules are counted in one go: inline for in-process counters, in one worker thread for Redis."""
    if not settings.MCP_RATELIMIT_ENABLED:
        return None
    checks = []
    for rule in (await book()).rules:
        if rule.scope in COUNTED_SCOPES or not rule.covers(endpoint) or rule.allows(ip):
            continue
        if rule.scope == "ip":
            checks.append((rule, ip, rule.rate))
        elif rule.scope == "key":
            if not key_name:
                continue
            override = next((k.rate_override for k in _book.keys.values() if k.name == key_name), "")
            checks.append((rule, key_name, override or rule.rate))
        else:
            checks.append((rule, "all", rule.rate))
    if not checks:
        return None
    try:
        if _counters_in_process():
            limited = _first_limited(checks)
        else:
            limited = await run_in("database", redis_call, "rate limit counters", _first_limited, checks)
    except Exception as exc:  # the counters' cache is down: let the request through (fail open)
        log.warning("rate limit check failed (%s: %s); allowing", exc.__class__.__name__, exc)
        return None
    if limited is None:
        return None
    rule, rate = limited
    _count, period = _split_rate(rate)
    return Refusal(
        429,
        f"Too Many Requests: rate limit {rule.name} ({rate}) exceeded; retry after {period} s",
        [("retry-after", str(period))],
    )


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
    """(key name, refusal): 401 when the key is wrong, or missing while MCP_AUTH_REQUIRED.

    A token that is sent but not (or no longer) valid is refused even when keys are optional: a revoked key
    must not quietly carry on as an anonymous client."""
    await book()
    name = authenticate(authorization)
    presented = bool(authorization and authorization.lower().startswith("bearer ") and authorization[7:].strip())
    if name is None and (settings.MCP_AUTH_REQUIRED or presented):
        return "", Refusal(
            401,
            "Unauthorized: send Authorization: Bearer <API key>",
            [("www-authenticate", 'Bearer realm="awsmcp", error="invalid_token"')],
        )
    return name or "", None


# --- concurrent streams ----------------------------------------------------------------------------
# Streams held by this process, per IP. With Redis, each IP's streams are also leases in a sorted set
# (member: session id, score: last heartbeat), so every process counts the fleet's streams and a dead
# process's streams expire after OPS_CONNECTION_LEASE instead of counting forever.
local_streams: dict[str, set[str]] = {}


def _stream_count() -> int:
    return sum(len(sessions) for sessions in local_streams.values())


def _redis():  # type: ignore[no-untyped-def]
    if not settings.REDIS_URL:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _lease_key(ip: str) -> str:
    return f"awsmcp:streams:{ip}"


# Leases: one Redis sorted set per IP (streams) or group (sessions), members scored by their last heartbeat, so
# the slots of a process that died free themselves after OPS_CONNECTION_LEASE.
def _lease_count(key: str) -> int | None:
    """Live members of a lease set (expired ones dropped first); None without Redis."""
    client = _redis()
    if client is None:
        return None
    pipe = client.pipeline()
    pipe.zremrangebyscore(key, 0, time.time() - settings.OPS_CONNECTION_LEASE)
    pipe.zcard(key)
    return int(pipe.execute()[1])


def _renew(leases: dict[str, list[str]]) -> None:
    """Lease (or renew) members in their sets, all in one round trip."""
    client = _redis()
    if client is None:
        return
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for key, members in leases.items():
        if members:
            pipe.zadd(key, dict.fromkeys(members, now))
            pipe.expire(key, int(settings.OPS_CONNECTION_LEASE) * 2)
    pipe.execute()


def _drop(keys: list[str], member: str) -> None:
    client = _redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.zrem(key, member)
        pipe.execute()


async def claim_stream(ip: str, session_id: str, endpoint: str) -> Refusal | None:
    """Admit one more open stream for `ip`, or say why not (503: process full; 429: IP at its cap)."""
    if _stream_count() >= settings.MCP_MAX_CONNECTIONS:
        return Refusal(
            503,
            f"Service Unavailable: this process holds its maximum of {settings.MCP_MAX_CONNECTIONS} streams",
            [("retry-after", "5")],
        )
    # Counted before the cap is checked (and released when refused): streams arriving together each see
    # the others, so a burst cannot all find room under the cap between its awaits.
    local_streams.setdefault(ip, set()).add(session_id)
    with contextlib.suppress(Exception):
        await run_in("database", redis_call, "stream leases", _renew, {_lease_key(ip): [session_id]})
    rules = [r for r in (await book()).rules if r.scope == "streams_per_ip" and r.covers(endpoint) and not r.allows(ip)]
    if rules:
        cap = min(_split_rate(r.rate)[0] for r in rules)
        try:
            fleet = await run_in("database", redis_call, "stream leases", _lease_count, _lease_key(ip))
        except Exception:  # Redis down: count this process's streams only
            fleet = None
        held = fleet if fleet is not None else len(local_streams.get(ip, ()))
        if held > cap:
            await release_stream(ip, session_id)
            return Refusal(
                429, f"Too Many Requests: {cap} concurrent streams per IP; close one first", [("retry-after", "5")]
            )
    return None


async def release_stream(ip: str, session_id: str) -> None:
    sessions = local_streams.get(ip)
    if sessions is not None:
        sessions.discard(session_id)
        if not sessions:
            local_streams.pop(ip, None)
    with contextlib.suppress(Exception):
        await run_in("database", redis_call, "stream leases", _drop, [_lease_key(ip)], session_id)


def renew_leases() -> None:
    """Heartbeat of this process's streams and sessions (called from the activity batch, in a thread).

    One round trip through the Redis breaker: a stalled Redis costs the batch one timeout, not one per IP."""
    leases = {_lease_key(ip): list(sessions) for ip, sessions in list(local_streams.items())}
    leases.update({_group_key(group): list(sessions) for group, sessions in list(local_sessions.items())})
    if leases and settings.REDIS_URL:
        breaker("redis").call("stream and session leases", lambda: _renew(leases), None, one_trip=False)


# --- live sessions per IP and per API key ----------------------------------------------------------
# Streamable HTTP sessions begun in this process, by group ("ip:<address>", "key:<name>"). With Redis each
# group is also a sorted set of leases like the streams' above, so a cap counts the whole fleet.
local_sessions: dict[str, set[str]] = {}
SESSION_SCOPES = {"sessions_per_ip": "IP", "sessions_per_key": "API key"}


@dataclass(slots=True)
class SessionCap:
    group: str
    cap: int
    rule_name: str
    noun: str  # what it is counted per, for the refusal's message


def session_groups(session: object) -> list[str]:
    """The groups a session counts in: its IP, and its API key when it has one."""
    ip, key_name = getattr(session, "remote_ip", ""), getattr(session, "key_name", "")
    return [f"ip:{ip}", f"key:{key_name}"] if key_name else [f"ip:{ip}"]


async def session_caps(ip: str, key_name: str) -> list[SessionCap]:
    """The tightest session cap of each group this client counts in (rules of the sessions_per_* scopes)."""
    caps: dict[str, SessionCap] = {}
    for rule in (await book()).rules:
        if rule.scope not in SESSION_SCOPES or not rule.covers("streamable") or rule.allows(ip):
            continue
        if rule.scope == "sessions_per_key" and not key_name:
            continue
        group = f"key:{key_name}" if rule.scope == "sessions_per_key" else f"ip:{ip}"
        cap = _split_rate(rule.rate)[0]
        if group not in caps or cap < caps[group].cap:
            caps[group] = SessionCap(group, cap, rule.name, SESSION_SCOPES[rule.scope])
    return list(caps.values())


def _group_key(group: str) -> str:
    return f"awsmcp:sessions:{group}"


async def sessions_held(group: str) -> int:
    """Live sessions of a group: the fleet's with Redis, else (or with Redis down) this process's."""
    from awsmcp.pools import run_in

    fleet = None
    if settings.REDIS_URL:  # no thread hop when there is no fleet to ask
        with contextlib.suppress(Exception):
            fleet = await run_in("database", redis_call, "session leases", _lease_count, _group_key(group))
    return fleet if fleet is not None else len(local_sessions.get(group, ()))


async def hold_session(session: object, session_id: str) -> None:
    """Count a new session against its groups' caps (until release_session)."""
    from awsmcp.pools import run_in

    for group in session_groups(session):
        local_sessions.setdefault(group, set()).add(session_id)
        if not settings.REDIS_URL:
            continue
        with contextlib.suppress(Exception):
            await run_in("database", redis_call, "session leases", _renew, {_group_key(group): [session_id]})


async def release_session(session: object, session_id: str) -> None:
    from awsmcp.pools import run_in

    groups = session_groups(session)
    for group in groups:
        held = local_sessions.get(group)
        if held is not None:
            held.discard(session_id)
            if not held:
                local_sessions.pop(group, None)
    if settings.REDIS_URL:
        with contextlib.suppress(Exception):
            await run_in("database", redis_call, "session leases", _drop, [_group_key(g) for g in groups], session_id)
