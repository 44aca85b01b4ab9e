"""Session caps from the admin's rules, and tokens that are sent but not valid: the parts with no HTTP in them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import ApplicationCommunicator
from django.conf import settings
from django.test import override_settings

from mcp_gateway import directory
from mcp_gateway.sessions import ServerSession
from mcp_gateway.transports import streamable
from ops import keys, leases, rates, rulebook
from ops.models import parse_allowlist


def initialize_post(ip: str) -> tuple[bytes, dict[str, Any]]:
    """The body and ASGI scope of an initialize POST to /mcp from `ip`."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    ).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "query_string": b"",
        "client": (ip, 5000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
        ],
    }
    return body, scope


def rule(rule_id: int, scope: str, rate: str, allowlist: str = "") -> rulebook.Rule:
    return rulebook.Rule(rule_id, f"rule-{rule_id}", scope, "*", rate, parse_allowlist(allowlist))


@pytest.fixture
def rules() -> Iterator[list[rulebook.Rule]]:
    """Rules in force without a database: the book is marked fresh, so nothing reloads it."""
    saved = (rulebook._book.rules, rulebook._book.keys, rulebook._book.loaded, rulebook._book.checked_at)
    rulebook._book.rules, rulebook._book.keys = [], {}
    rulebook._book.loaded, rulebook._book.checked_at = True, time.monotonic() + 3600
    yield rulebook._book.rules
    rulebook._book.rules, rulebook._book.keys, rulebook._book.loaded, rulebook._book.checked_at = saved


async def test_the_tightest_cap_of_each_group_applies(rules: list[rulebook.Rule]) -> None:
    rules += [
        rule(1, "sessions_per_ip", "1000/h"),
        rule(2, "sessions_per_ip", "20/h"),
        rule(3, "sessions_per_key", "5/m"),
        rule(4, "streams_per_ip", "1/h"),  # streams are capped elsewhere
        rule(5, "ip", "1/h"),  # a request rate, not a cap on sessions
    ]
    caps = {cap.group: (cap.cap, cap.rule_name, cap.noun) for cap in await leases.session_caps("10.0.0.1", "ci")}
    assert caps == {"ip:10.0.0.1": (20, "rule-2", "IP"), "key:ci": (5, "rule-3", "API key")}
    # Without a key only the IP counts; an allowlisted IP has no IP cap.
    assert [cap.group for cap in await leases.session_caps("10.0.0.1", "")] == ["ip:10.0.0.1"]
    rules[1] = rule(2, "sessions_per_ip", "20/h", allowlist="10.0.0.0/8")
    assert {cap.cap for cap in await leases.session_caps("10.0.0.1", "")} == {1000}


async def test_session_caps_are_not_counted_as_request_rates(rules: list[rulebook.Rule]) -> None:
    rules += [rule(1, "sessions_per_ip", "0/h"), rule(2, "sessions_per_key", "0/h")]
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_rate("10.0.0.1", "ci", "streamable") is None


async def test_sessions_held_are_counted_per_group_until_released() -> None:
    session = ServerSession("s1", "streamable-http", "aws", remote_ip="10.0.0.2", key_name="ci")
    other = ServerSession("s2", "streamable-http", "aws", remote_ip="10.0.0.2")
    await leases.hold_session(session)
    await leases.hold_session(other)
    assert await leases.sessions_held("ip:10.0.0.2") == 2 and await leases.sessions_held("key:ci") == 1
    await leases.release_session(session)
    await leases.release_session(session)  # twice is harmless
    assert await leases.sessions_held("ip:10.0.0.2") == 1 and await leases.sessions_held("key:ci") == 0
    await leases.release_session(other)
    assert "ip:10.0.0.2" not in leases.local_sessions


async def test_a_token_sent_but_not_valid_is_refused_even_when_keys_are_optional(rules: list[rulebook.Rule]) -> None:
    with override_settings(MCP_AUTH_REQUIRED=False):
        assert await keys.check_key(None) == ("", None)
        name, refusal = await keys.check_key("Bearer amcp_revokedtoken0123456789")
        assert name == "" and refusal is not None and refusal.status == 401
    with override_settings(MCP_AUTH_REQUIRED=True):
        assert (await keys.check_key(None))[1] is not None


async def test_a_client_that_leaves_while_its_session_is_being_counted_is_not_counted(
    rules: list[rulebook.Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count's Redis round trip is where a disconnect cancels an initialize; the session must not stay
    counted (with Redis, leased by every heartbeat) against its IP for ever."""
    counting = asyncio.Event()
    counted: list[str] = []
    hold = leases.hold_session

    async def slow_hold(session: ServerSession) -> None:
        await hold(session)
        counted.append(session.id)
        counting.set()
        await asyncio.Event().wait()  # the Redis round trip, still under way when the client leaves

    monkeypatch.setattr(leases, "hold_session", slow_hold)
    body, scope = initialize_post("10.0.0.9")
    app = ApplicationCommunicator(streamable.StreamableEndpoint.as_asgi(), scope)
    monkeypatch.setattr(settings, "MCP_AUTH", "none")  # anonymous callers let in (MCP_AUTH outranks MCP_AUTH_REQUIRED)
    await app.send_input({"type": "http.request", "body": body, "more_body": False})
    await asyncio.wait_for(counting.wait(), 5)
    await app.send_input({"type": "http.disconnect"})
    await app.wait(5)
    assert counted and all(counted[0] not in held for held in leases.local_sessions.values()), leases.local_sessions


def test_a_stalled_redis_costs_the_lease_heartbeat_one_timeout(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The heartbeat renews every IP's and group's leases in one round trip through the Redis breaker: with Redis
    stopped (SIGSTOP) it waits one socket timeout, not one per IP and group, and the next heartbeat none."""
    import os
    import signal

    import redis

    from awsmcp import breaker
    from tests.support.processes import redis_server

    with redis_server() as store:
        assert store.proc is not None
        client = redis.Redis.from_url(store.url, socket_timeout=0.3, socket_connect_timeout=0.3)
        settings.REDIS_URL = store.url
        monkeypatch.setattr(leases, "_redis", lambda: client)
        monkeypatch.setitem(breaker._breakers, "redis", breaker.Breaker("redis"))
        monkeypatch.setattr(leases, "local_streams", {f"10.1.0.{i}": {f"s{i}"} for i in range(20)})
        monkeypatch.setattr(leases, "local_sessions", {f"ip:10.2.0.{i}": {f"t{i}"} for i in range(20)})
        leases.renew_leases()
        assert client.zcard("awsmcp:streams:10.1.0.3") == 1 and client.zcard("awsmcp:sessions:ip:10.2.0.7") == 1
        os.kill(store.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            leases.renew_leases()
            leases.renew_leases()
            took = time.monotonic() - started
        finally:
            os.kill(store.proc.pid, signal.SIGCONT)
    # One 0.3 s timeout; a timeout per IP and group would be 40 x 0.3 s a heartbeat.
    assert took < 3.0, took


async def test_initializes_arriving_together_cannot_all_find_room_under_a_cap(
    rules: list[rulebook.Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis the count is a round trip: initializes that arrive together all ask it before any is counted.
    Each is counted before it asks, so the cap holds however many come at once."""
    rules.append(rule(1, "sessions_per_ip", "2/h"))
    monkeypatch.setattr(settings, "MCP_AUTH", "none")  # anonymous callers let in (MCP_AUTH outranks MCP_AUTH_REQUIRED)
    held = leases.sessions_held

    async def round_trip(group: str) -> int:
        await asyncio.sleep(0.05)  # the Redis round trip, during which the others arrive
        return await held(group)

    monkeypatch.setattr(leases, "sessions_held", round_trip)
    body, scope = initialize_post("10.0.0.10")
    apps = [ApplicationCommunicator(streamable.StreamableEndpoint.as_asgi(), scope) for _ in range(6)]
    for app in apps:
        await app.send_input({"type": "http.request", "body": body, "more_body": False})
    statuses = [(await app.receive_output(5))["status"] for app in apps]
    live = [h for h in directory.local_sessions() if h.session.remote_ip == "10.0.0.10"]
    try:
        assert len(live) <= 2, statuses
        assert statuses.count(200) == len(live) and set(statuses) <= {200, 429}, statuses
    finally:
        for holder in live:
            await holder.close_session("test over")
        for app in apps:
            await app.send_input({"type": "http.disconnect"})
            await app.wait(5)
    assert "ip:10.0.0.10" not in leases.local_sessions


async def test_streams_arriving_together_cannot_all_find_room_under_a_cap(
    rules: list[rulebook.Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streams of one IP claimed at once, with a round trip before the count (rules, Redis): the cap holds."""
    rules.append(rule(1, "streams_per_ip", "2/h"))
    book = leases.book

    async def round_trip() -> Any:
        await asyncio.sleep(0.05)  # during which the other claims arrive
        return await book()

    monkeypatch.setattr(leases, "book", round_trip)
    refusals = await asyncio.gather(*(leases.claim_stream("10.0.0.20", f"s{i}", "sse") for i in range(6)))
    admitted = [f"s{i}" for i, refusal in enumerate(refusals) if refusal is None]
    try:
        assert 1 <= len(admitted) <= 2, refusals
        assert all(r is None or r.status == 429 for r in refusals)
        assert leases.local_streams.get("10.0.0.20", set()) == set(admitted)  # the refused were released
    finally:
        for session_id in admitted:
            await leases.release_stream("10.0.0.20", session_id)
    assert "10.0.0.20" not in leases.local_streams
