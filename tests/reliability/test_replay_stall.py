"""The Redis copy of a Streamable HTTP stream (mcp_gateway.replay) against a stalled redis-server: the events
waiting for Redis stay bounded, and the incomplete copy is removed once Redis answers again."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
import redis
from pytest_django.fixtures import Settings

from mcp_gateway import replay
from tests.support.processes import RedisServer, redis_server

EVENT = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "x" * 5000}}


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RedisServer]:
    with redis_server() as server:
        settings.REDIS_URL = server.url
        replay._client.cache_clear()
        try:
            yield server
        finally:
            await replay._client().aclose()
            replay._client.cache_clear()


async def test_a_stalled_redis_does_not_make_a_stream_hold_its_events(store: RedisServer) -> None:
    assert store.proc is not None
    plain = redis.Redis.from_url(store.url)
    recorder = replay.Recorder("stalled", ("session", ""))
    recorder.record(1, EVENT)
    for _ in range(100):
        if plain.xlen(recorder.key) >= 2:
            break
        await asyncio.sleep(0.02)
    assert plain.xlen(recorder.key) == 2  # the opening entry and the first event

    os.kill(store.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(0.1)  # the writer is waiting for Redis now
        for seq in range(2, 5002):  # 25 MB of events
            recorder.record(seq, EVENT)
        waiting = recorder.queue.qsize()
    finally:
        os.kill(store.proc.pid, signal.SIGCONT)
    recorder.close()
    await asyncio.wait_for(recorder.task, 15)
    # Before the bound every event waited: 5,000 of them, 25 MB, for as long as Redis stalled.
    assert waiting <= 2 and recorder.queued_bytes == 0, waiting
    assert plain.exists(recorder.key, recorder.key + replay.OWNER_SUFFIX) == 0  # no copy with a gap is resumed
