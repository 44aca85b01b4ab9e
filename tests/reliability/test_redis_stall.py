"""A stalled Redis (SIGSTOP: connections accepted, nothing answered) costs one slow call per breaker period,
not one per request: cached reads and new sessions go on, and everything recovers once Redis answers again."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from awsmcp.breaker import BREAKER_SECONDS
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, RedisServer, daphne, redis_server
from tests.support.witness import Witness

STALL = 7.0  # seconds Redis stays stopped: more than one breaker period
SLOW = 0.5  # a call slower than this waited for Redis
LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-python-how-to-create-deployment-package.html"
S3 = "https://docs.aws.amazon.com/cli/latest/reference/s3/cp.html"


@pytest.fixture(scope="module")
def stack(origin: OriginServer) -> Iterator[tuple[DaphneServer, RedisServer]]:
    with redis_server() as store, daphne(**origin.settings_env(), REDIS_URL=store.url) as server:
        yield server, store
        assert server.alive(), server.log()


async def new_session_wait(server: DaphneServer) -> float:
    started = time.monotonic()
    async with open_session(server, "streamable-http") as session:
        assert (await session.list_tools()).tools
    return time.monotonic() - started


async def test_a_stalled_redis_costs_one_slow_call_per_breaker_period(
    stack: tuple[DaphneServer, RedisServer], origin: OriginServer
) -> None:
    server, store = stack
    assert store.proc is not None
    async with Witness(server) as witness:
        os.kill(store.proc.pid, signal.SIGSTOP)
        try:
            stalled_until = time.monotonic() + STALL
            sessions: list[float] = []
            while time.monotonic() < stalled_until:
                sessions.append(await new_session_wait(server))
                await asyncio.sleep(0.2)
            async with open_session(server, "streamable-http") as session:
                started = time.monotonic()
                cold = await session.call_tool("read_documentation", {"url": LAMBDA, "max_length": 300})
                cold_wait = time.monotonic() - started
        finally:
            os.kill(store.proc.pid, signal.SIGCONT)
    periods = int(STALL // BREAKER_SECONDS) + 1
    # One slow call per period, plus one pause of a busy CI machine; before the breaker every read was slow
    # (1-3 s each) and every initialize took 4 s, so these bounds stay far from it.
    allowed = periods + 1
    slow_reads = [t for t in witness.latencies if t > SLOW]
    slow_sessions = [t for t in sessions if t > SLOW]
    print(
        f"witness worst {witness.slowest:.2f}s, slow {slow_reads}; sessions {len(sessions)} worst {max(sessions):.2f}s"
    )
    witness.assert_unharmed(slowest=2.5)
    assert len(slow_reads) <= allowed, slow_reads
    assert max(sessions) < 3.0 and len(slow_sessions) <= allowed, sessions
    assert not cold.is_error and cold_wait < 3.0, (cold_wait, cold)

    # Redis answers again: after one breaker period the shared layer is used again.
    await asyncio.sleep(BREAKER_SECONDS + 0.5)
    assert await new_session_wait(server) < 2.0
    async with open_session(server, "streamable-http") as session:
        assert not (await session.call_tool("read_documentation", {"url": S3, "max_length": 300})).is_error
    client = redis.Redis.from_url(store.url)
    for _ in range(30):
        if any(b"s3/cp" in key for key in client.keys("*page*")):
            break
        await asyncio.sleep(0.1)
    assert any(b"s3/cp" in key for key in client.keys("*page*")), client.keys("*")
