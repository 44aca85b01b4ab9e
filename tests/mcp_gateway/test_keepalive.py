"""mcp_gateway.keepalive in process: pings until the client goes silent; any answer, even an error, is alive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from mcp_gateway import keepalive
from mcp_gateway.sessions import ServerSession


@pytest.fixture(autouse=True)
def quick_pings(settings: Settings) -> None:
    settings.MCP_PING_INTERVAL = 0.01
    settings.MCP_PONG_TIMEOUT = 0.05
    settings.MCP_PING_MISSES_BEFORE_CLOSE = 3


def initialized() -> ServerSession:
    session = ServerSession("s", "websocket", "aws")
    session.initialized = True
    return session


async def test_it_returns_after_the_misses_in_a_row() -> None:
    session = initialized()
    pings: list[dict[str, Any]] = []

    async def silent(message: dict[str, Any]) -> None:
        pings.append(message)

    await asyncio.wait_for(keepalive.ping_until_silent(session, silent), 5)
    assert [p["method"] for p in pings] == ["ping"] * 3
    assert session.stale and session.pending == {}


async def test_an_answer_even_an_error_keeps_it_alive() -> None:
    session = initialized()
    answered: list[str] = []
    enough = asyncio.Event()

    async def replies(message: dict[str, Any]) -> None:
        # Alternate results and errors: every one counts as an answer.
        error = {"code": -1, "message": "no"} if len(answered) % 2 else None
        answered.append(message["id"])
        asyncio.get_running_loop().call_soon(session.resolve, message["id"], {}, error)
        if len(answered) >= 8:
            enough.set()

    task = asyncio.create_task(keepalive.ping_until_silent(session, replies))
    await asyncio.wait_for(enough.wait(), 5)
    await asyncio.sleep(0.02)  # the last answer is taken
    assert not task.done() and not session.stale and session.last_pong is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_session_not_initialized_is_not_pinged() -> None:
    session = ServerSession("s", "websocket", "aws")
    sent: list[dict[str, Any]] = []

    async def emit(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.create_task(keepalive.ping_until_silent(session, emit))
    await asyncio.sleep(0.1)
    assert sent == [] and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
