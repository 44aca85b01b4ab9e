"""In-process checks of the two mechanisms the upstream and Redis tests rely on: the fetch watchdog (a hung or
trickling origin is cut at the deadline and its socket shut, the thread freed) and the store breaker (a timeout
opens it; a call running long makes the others skip the store; a quick failure opens it briefly)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from awsmcp.breaker import BREAKER_SECONDS, QUICK_FAILURE_SECONDS, SLOW_CALL, Breaker
from docs_proxy import fetch
from docs_proxy.addresses import parse_doc_url
from tests.reliability.slow_origin import SlowOrigin

DEADLINE = 1.0


@pytest.fixture(scope="module")
def slow_origin() -> Iterator[SlowOrigin]:
    origin = SlowOrigin().start()
    yield origin
    origin.stop()


@pytest.fixture
def to_slow_origin(slow_origin: SlowOrigin, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> SlowOrigin:
    settings.AWS_DOCS_ORIGIN = slow_origin.base
    settings.DOCS_FETCH_DEADLINE = DEADLINE
    settings.DOCS_READ_TIMEOUT = 10.0  # far longer than the deadline: only the clock can cut these
    settings.DOCS_TRUST_ENV_PROXIES = False
    monkeypatch.setattr(fetch, "_session", None)  # a session made with these settings
    return slow_origin


@pytest.mark.parametrize("kind", ["hang-headers", "hang-body", "trickle"])
def test_a_silent_or_trickling_origin_is_cut_at_the_deadline(to_slow_origin: SlowOrigin, kind: str) -> None:
    address = parse_doc_url(f"https://docs.aws.amazon.com/hostile/{kind}-unit.html", "aws")
    started = time.monotonic()
    with pytest.raises(fetch.FetchError, match="took too long"):
        fetch.fetch_page(address)
    assert time.monotonic() - started < DEADLINE + 1.0
    # The socket was shut, not abandoned: the origin sees the connection end at once.
    for _ in range(20):
        if to_slow_origin.open_connections == 0:
            break
        time.sleep(0.05)
    assert to_slow_origin.open_connections == 0
    watchdogs = [t for t in threading.enumerate() if t.name == "awsmcp-fetch-watchdog"]
    assert len(watchdogs) == 1  # one thread keeps every deadline of the process


def test_a_timeout_opens_the_breaker_for_one_slow_call_per_period() -> None:
    breaker = Breaker("test")
    calls = []

    def stalled() -> str:
        calls.append(1)
        time.sleep(0.3)
        raise TimeoutError("Timeout reading from socket")

    assert breaker.call("get", stalled, "default") == "default"
    assert len(calls) == 1  # a timeout is not tried again at once
    started = time.monotonic()
    assert [breaker.call("get", stalled, "default") for _ in range(50)] == ["default"] * 50
    # Fifty calls that each waited would take 15 s; skipping takes microseconds (1 s: room for a busy CI machine).
    assert time.monotonic() - started < 1.0 and len(calls) == 1
    assert breaker.down_until - time.monotonic() > BREAKER_SECONDS - 1


def test_a_call_running_long_makes_the_others_skip_the_store() -> None:
    breaker = Breaker("test")
    release = threading.Event()
    stuck = threading.Thread(target=breaker.call, args=("get", lambda: release.wait(5), None))
    stuck.start()
    try:
        time.sleep(SLOW_CALL + 0.1)
        assert breaker.call("get", lambda: "answered", "skipped") == "skipped"
        # a caller that cannot do without the answer (a session's record) still asks: the store has not failed
        assert breaker.call("get", lambda: "answered", "skipped", patient=True) == "answered"
    finally:
        release.set()
        stuck.join()
    assert breaker.call("get", lambda: "answered", "skipped") == "answered"


def test_a_quick_failure_opens_the_breaker_briefly() -> None:
    breaker = Breaker("test")

    def refused() -> None:
        raise ConnectionRefusedError("Connection refused")

    assert breaker.call("get", refused, "default") == "default"
    assert breaker.down_until - time.monotonic() <= QUICK_FAILURE_SECONDS
    assert breaker.call("get", lambda: "answered", "skipped", patient=True) == "skipped"  # tripped: even patient


async def test_a_fetch_whose_caller_left_frees_its_slot_and_fails_quietly() -> None:
    """The caller is cancelled (its client left) while the thread still fetches; when the fetch then fails, its
    slot comes back and its error is not reported as an exception nobody retrieved."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    started, go_on = threading.Event(), threading.Event()

    def failing_fetch() -> None:
        started.set()
        go_on.wait(5)
        raise fetch.FetchError("The documentation site answered HTTP 503.", 503)

    slots = fetch.fetch_slots()
    free = slots._value
    caller = asyncio.create_task(fetch.run_fetch(failing_fetch, deadline=time.monotonic() + 5))
    try:
        assert await asyncio.to_thread(started.wait, 5)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert slots._value == free - 1  # still fetching: the slot stays taken
        go_on.set()
        for _ in range(100):
            if slots._value == free:
                break
            await asyncio.sleep(0.02)
        assert slots._value == free
        gc.collect()
        await asyncio.sleep(0)
        assert not [c for c in reported if "never retrieved" in c.get("message", "")], reported
    finally:
        go_on.set()
        loop.set_exception_handler(None)
