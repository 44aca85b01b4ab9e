"""mcp_gateway.replay against a real redis-server (no Daphne): the copy of a stream, its bounds, its owner, and
the lookup through the Redis breaker; and the in-memory replay buffer's bound (MCP_EVENT_REPLAY)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from pytest_django.fixtures import Settings

from awsmcp.breaker import breaker
from mcp_gateway import replay
from mcp_gateway.events import StreamSet
from tests.support.processes import RedisServer, redis_server


def event(n: int, size: int = 10) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n, "data": "x" * size}}


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


@pytest.fixture
async def store(server: RedisServer, settings: Settings) -> AsyncIterator[redis.Redis]:
    """REDIS_URL for the replay client only (the caches stay as configured), and a plain client to look."""
    settings.REDIS_URL = server.url
    replay._client.cache_clear()
    plain = redis.Redis.from_url(server.url)
    plain.flushdb()
    try:
        yield plain
    finally:
        await replay._client().aclose()
        replay._client.cache_clear()
        plain.close()


@pytest.fixture(autouse=True)
def closed_breaker() -> Iterator[None]:
    """The Redis breaker is the process's: leave it as found."""
    guard = breaker("redis")
    guard.down_until = 0.0
    yield
    guard.down_until = 0.0


async def recorded(recorder: replay.Recorder) -> None:
    await asyncio.wait_for(recorder.task, 5)


async def test_a_stream_is_copied_in_order_and_followed_to_its_end(store: redis.Redis) -> None:
    recorder = replay.Recorder("copied", ("session", "key"))
    for n in range(1, 6):
        recorder.record(n, event(n))
    recorder.close()
    await recorded(recorder)
    assert store.xlen(recorder.key) == 7  # opening entry, five events, end
    assert await replay.owner("copied") == ("session", "key")
    followed = [(seq, message) async for seq, message in replay.follow("copied", 2)]
    assert followed == [(n, event(n)) for n in (3, 4, 5)]
    assert 0 < store.ttl(recorder.key) <= replay.STREAM_LINGER


async def test_follow_waits_for_events_still_coming(store: redis.Redis) -> None:
    recorder = replay.Recorder("live")
    recorder.record(1, event(1))

    async def later() -> None:
        await asyncio.sleep(0.2)
        recorder.record(2, event(2))
        recorder.close()

    writer = asyncio.create_task(later())
    followed = [seq async for seq, _message in replay.follow("live", 0)]
    await writer
    assert followed == [1, 2]


async def test_the_events_waiting_for_redis_are_bounded_in_number(store: redis.Redis, settings: Settings) -> None:
    settings.MCP_EVENT_REPLAY = 5
    recorder = replay.Recorder("many", ("session", ""))
    # No await in between: the writer takes nothing, as with a Redis that stalls.
    for n in range(1, 5 * replay.WAITING_EVENTS_PER_KEPT + 10):
        recorder.record(n, event(n))
        if recorder.given_up:
            break
    assert recorder.given_up and n == 5 * replay.WAITING_EVENTS_PER_KEPT
    assert recorder.queued_bytes == 0 and recorder.queue.qsize() == 1  # only the give-up mark
    recorder.record(n + 1, event(n + 1))  # ignored once given up
    recorder.close()
    await recorded(recorder)
    assert store.exists(recorder.key, recorder.key + replay.OWNER_SUFFIX) == 0
    assert await replay.owner("many") is None  # nobody resumes a copy with a gap


async def test_the_events_waiting_for_redis_are_bounded_in_bytes(store: redis.Redis, settings: Settings) -> None:
    settings.MCP_EVENT_REPLAY_BYTES = 3000
    recorder = replay.Recorder("large", ("session", ""))
    recorder.record(1, event(1, size=1000))
    recorder.record(2, event(2, size=1000))
    assert not recorder.given_up and recorder.queued_bytes > 2000
    recorder.record(3, event(3, size=1000))
    assert recorder.given_up and recorder.queued_bytes == 0
    await recorded(recorder)
    assert store.exists(recorder.key) == 0


async def test_owner_is_none_when_replay_is_off_or_the_stream_unknown(store: redis.Redis, settings: Settings) -> None:
    assert await replay.owner("unknown") is None
    settings.REDIS_URL = ""
    assert not replay.enabled()
    assert await replay.owner("unknown") is None


async def test_the_owner_lookup_goes_through_the_redis_breaker(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    replay._client.cache_clear()
    try:
        assert await replay.owner("s") is None  # refused: the breaker trips
        assert not breaker("redis").available()
        called: list[str] = []
        monkeypatch.setattr(replay, "_client", lambda: called.append("client"))
        assert await replay.owner("s") is None  # skipped while tripped
        assert called == []
    finally:
        monkeypatch.undo()
        await replay._client().aclose()
        replay._client.cache_clear()


async def test_a_session_stream_is_copied_when_replay_is_on(store: redis.Redis) -> None:
    stream = StreamSet(capacity=8, owner=("session", "key")).open()
    assert stream.recorder is not None
    stream.publish(event(1))
    stream.close()
    await recorded(stream.recorder)
    assert [seq async for seq, _message in replay.follow(stream.id, 0)] == [1]


def test_a_stream_replays_at_most_its_capacity_from_memory(settings: Settings) -> None:
    settings.REDIS_URL = ""
    stream = StreamSet(capacity=3).open()
    assert stream.recorder is None
    for n in range(1, 11):
        stream.publish(event(n))
    assert [seq for seq, _message in stream.buffer] == [8, 9, 10]
