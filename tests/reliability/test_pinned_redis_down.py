"""Pin: the request-rate check fails open. With Redis (the rate counters' store) stalled, a client already over
its rate is let in rather than refused or failed (the counters are unreachable, not exceeded), and after the first
slow call without waiting for Redis."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, RedisServer, daphne, redis_server
from tests.support.raw import ACCEPT_BOTH, initialize_request

RULE = """
from ops.models import RateLimitRule
RateLimitRule.objects.create(name="pinned-open", scope="ip", endpoint="streamable", rate="2/m")
"""


@pytest.fixture(scope="module")
def stack(origin: OriginServer) -> Iterator[tuple[DaphneServer, RedisServer]]:
    with (
        redis_server() as store,
        daphne(**origin.settings_env(), REDIS_URL=store.url, MCP_RATELIMIT_ENABLED="true") as server,
    ):
        made = server.manage("shell", "-c", RULE)
        assert made.returncode == 0, made.stderr
        time.sleep(1.5)  # the rule book reloads within OPS_RULES_POLL (1 s)
        yield server, store
        assert server.alive(), server.log()


async def test_rate_checks_fail_open_while_redis_is_stalled(stack: tuple[DaphneServer, RedisServer]) -> None:
    server, store = stack
    assert store.proc is not None
    async with httpx.AsyncClient(timeout=15) as http:

        async def initialize() -> httpx.Response:
            return await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})

        statuses = [(await initialize()).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # the rule is counted in Redis and enforced
        os.kill(store.proc.pid, signal.SIGSTOP)
        try:
            stalled, waits = [], []
            for _ in range(4):
                started = time.monotonic()
                stalled.append(await initialize())
                waits.append(time.monotonic() - started)
        finally:
            os.kill(store.proc.pid, signal.SIGCONT)
        assert [reply.status_code for reply in stalled] == [200] * 4, [r.text[:200] for r in stalled]
        # The store's breaker opens on the first slow call: the next requests do not wait for Redis at all.
        assert max(waits[1:]) < 0.5, waits
        assert all("result" in reply.json() for reply in stalled)
