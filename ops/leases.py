"""Slots a client holds at once: open streams (per IP, per process) and live sessions (per IP, per API key).

Each process counts its own in memory. With Redis each IP's streams, and each group's sessions, are also leases in
a sorted set (member: stream or session id, score: last heartbeat), so a cap counts the whole fleet and the slots of
a process that died free themselves after OPS_CONNECTION_LEASE instead of counting forever.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.conf import settings

from awsmcp.breaker import breaker, redis_call
from awsmcp.compat.ratelimit import split_rate
from awsmcp.pools import run_in
from mcp_gateway.gate import Refusal, SessionCap
from mcp_gateway.sessions import ServerSession
from ops.rulebook import book

local_streams: dict[str, set[str]] = {}  # ip -> stream slots held by this process
local_sessions: dict[str, set[str]] = {}  # group ("ip:<address>", "key:<name>") -> sessions begun here
SESSION_SCOPES = {"sessions_per_ip": "IP", "sessions_per_key": "API key"}


def _redis() -> Any:
    if not settings.REDIS_URL:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _stream_key(ip: str) -> str:
    return f"awsmcp:streams:{ip}"


def _group_key(group: str) -> str:
    return f"awsmcp:sessions:{group}"


# --- the lease sets (blocking; called through the Redis breaker in a worker thread) ----------------------
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


async def _fleet_count(key: str) -> int | None:
    """Live leases of a set across the fleet; None without Redis or with Redis down (a read: retried once)."""
    if not settings.REDIS_URL:  # no thread hop when there is no fleet to ask
        return None
    with contextlib.suppress(Exception):
        return await run_in("database", redis_call, "leases", _lease_count, key, retry=True)
    return None


async def _lease(leases: dict[str, list[str]]) -> None:
    if settings.REDIS_URL:
        with contextlib.suppress(Exception):
            await run_in("database", redis_call, "leases", _renew, leases, retry=True)  # zadd/expire: idempotent


async def _unlease(keys: list[str], member: str) -> None:
    if settings.REDIS_URL:
        with contextlib.suppress(Exception):
            await run_in("database", redis_call, "leases", _drop, keys, member, retry=True)  # zrem: idempotent


def renew_leases() -> None:
    """Heartbeat of this process's streams and sessions (called from the activity batch, in a thread).

    One round trip through the Redis breaker: a stalled Redis costs the batch one timeout, not one per IP."""
    leases = {_stream_key(ip): list(slots) for ip, slots in list(local_streams.items())}
    leases.update({_group_key(group): list(sessions) for group, sessions in list(local_sessions.items())})
    if leases and settings.REDIS_URL:
        breaker("redis").call("stream and session leases", lambda: _renew(leases), None, one_trip=False, retry=True)


# --- open streams --------------------------------------------------------------------------------------
def _stream_count() -> int:
    return sum(len(slots) for slots in local_streams.values())


async def claim_stream(ip: str, slot: str, endpoint: str) -> Refusal | None:
    """Admit one more open stream for `ip`, or say why not (503: process full; 429: IP at its cap)."""
    if _stream_count() >= settings.MCP_MAX_CONNECTIONS:
        return Refusal(
            503,
            f"Service Unavailable: this process holds its maximum of {settings.MCP_MAX_CONNECTIONS} streams",
            [("retry-after", "5")],
        )
    # Counted before the cap is checked (and released when refused): streams arriving together each see
    # the others, so a burst cannot all find room under the cap between its awaits.
    local_streams.setdefault(ip, set()).add(slot)
    await _lease({_stream_key(ip): [slot]})
    rules = [r for r in (await book()).rules if r.applies("streams_per_ip", endpoint, ip)]
    if not rules:
        return None
    cap = min(split_rate(r.rate)[0] for r in rules)
    fleet = await _fleet_count(_stream_key(ip))
    held = fleet if fleet is not None else len(local_streams.get(ip, ()))  # Redis down: this process's only
    if held <= cap:
        return None
    await release_stream(ip, slot)
    return Refusal(429, f"Too Many Requests: {cap} concurrent streams per IP; close one first", [("retry-after", "5")])


async def release_stream(ip: str, slot: str) -> None:
    slots = local_streams.get(ip)
    if slots is not None:
        slots.discard(slot)
        if not slots:
            local_streams.pop(ip, None)
    await _unlease([_stream_key(ip)], slot)


# --- live sessions -------------------------------------------------------------------------------------
def session_groups(session: ServerSession) -> list[str]:
    """The groups a session counts in: its IP, and its API key when it has one."""
    ip, key_name = session.remote_ip, session.key_name
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
        cap = split_rate(rule.rate)[0]
        if group not in caps or cap < caps[group].cap:
            caps[group] = SessionCap(group, cap, rule.name, SESSION_SCOPES[rule.scope])
    return list(caps.values())


async def sessions_held(group: str) -> int:
    """Live sessions of a group: the fleet's with Redis, else (or with Redis down) this process's."""
    fleet = await _fleet_count(_group_key(group))
    return fleet if fleet is not None else len(local_sessions.get(group, ()))


async def hold_session(session: ServerSession) -> None:
    """Count a new session against its groups' caps (until release_session)."""
    for group in session_groups(session):
        local_sessions.setdefault(group, set()).add(session.id)
        await _lease({_group_key(group): [session.id]})


async def release_session(session: ServerSession) -> None:
    groups = session_groups(session)
    for group in groups:
        held = local_sessions.get(group)
        if held is not None:
            held.discard(session.id)
            if not held:
                local_sessions.pop(group, None)
    await _unlease([_group_key(g) for g in groups], session.id)
