"""awsmcp.background: a loop that fails is logged and started again, one task per name, stop() ends them all."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from awsmcp import background

_names = itertools.count()


def unique(name: str) -> str:
    """Loop names are process-wide: each test registers its own."""
    return f"test-{name}-{next(_names)}"


@pytest.fixture(autouse=True)
async def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setattr(background, "FIRST_PAUSE", 0.01)
    yield
    await background.stop()


async def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_loop_that_raises_is_logged_and_started_again(caplog: pytest.LogCaptureFixture) -> None:
    name = unique("failing")
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        await asyncio.Event().wait()

    background.register(name, flaky)
    with caplog.at_level(logging.ERROR, logger="awsmcp.background"):
        background.ensure(name)
        await wait_until(lambda: len(runs) == 2)
    failures = [r for r in caplog.records if name in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "first run fails" in str(failures[0].exc_info[1])
    assert name in background.running()


async def test_a_loop_that_returns_is_started_again(caplog: pytest.LogCaptureFixture) -> None:
    name = unique("returning")
    runs: list[int] = []

    async def brief() -> None:
        runs.append(1)

    background.register(name, brief)
    with caplog.at_level(logging.WARNING, logger="awsmcp.background"):
        background.ensure(name)
        await wait_until(lambda: len(runs) >= 2)
    assert any("returned" in r.getMessage() and name in r.getMessage() for r in caplog.records)


async def test_ensure_twice_starts_one_task() -> None:
    name = unique("once")
    started: list[int] = []

    async def forever() -> None:
        started.append(1)
        await asyncio.Event().wait()

    background.register(name, forever)
    background.ensure(name)
    first = background._tasks[name]
    background.ensure(name)
    await asyncio.sleep(0.05)
    assert background._tasks[name] is first
    assert started == [1]
    assert background.running().count(name) == 1


async def test_stop_cancels_every_loop() -> None:
    names = [unique("stopped"), unique("stopped")]
    cancelled: list[str] = []

    def make(name: str) -> Callable[[], Awaitable[None]]:
        async def forever() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        return forever

    for name in names:
        background.register(name, make(name))
        background.ensure(name)
    tasks = [background._tasks[name] for name in names]
    await asyncio.sleep(0.02)
    await background.stop()
    assert all(task.cancelled() for task in tasks)
    assert sorted(cancelled) == sorted(names)
    assert not set(names) & set(background.running())


async def test_ensure_after_stop_starts_the_loop_again() -> None:
    name = unique("again")
    runs: list[int] = []

    async def forever() -> None:
        runs.append(1)
        await asyncio.Event().wait()

    background.register(name, forever)
    background.ensure(name)
    await wait_until(lambda: runs == [1])
    await background.stop()
    background.ensure(name)
    await wait_until(lambda: runs == [1, 1])
