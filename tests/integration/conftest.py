"""Real Daphne processes for integration tests, with the conformance fixtures as tools."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import DaphneServer, daphne


@pytest.fixture(scope="session")
def server() -> Iterator[DaphneServer]:
    """One shared server; tests that break things use their own."""
    with daphne(MCP_CONFORMANCE_FIXTURES="1", MCP_MAX_BODY_BYTES="65536") as srv:
        yield srv
        assert srv.alive(), srv.log()


@pytest.fixture(scope="session")
def pinging_server() -> Iterator[DaphneServer]:
    """A server with fast keep-alives: pings every 0.3 s, pong timeout 1 s, closed after 2 misses."""
    with daphne(
        MCP_CONFORMANCE_FIXTURES="1",
        MCP_PING_INTERVAL="0.3",
        MCP_PONG_TIMEOUT="1.0",
        MCP_PING_MISSES_BEFORE_CLOSE="2",
        MCP_SSE_KEEPALIVE="0.2",
    ) as srv:
        yield srv
