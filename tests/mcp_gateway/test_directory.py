"""mcp_gateway.directory in process: the local table, the shared record (Django's LocMem default cache here),
listeners and the background loops a first session starts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from django.core.cache import caches

from mcp_gateway import directory
from mcp_gateway.sessions import ServerSession
from tests.mcp_gateway.holders import holder


class Told:
    """A listener that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def opened(self, holder: directory.Holder) -> None:
        self.events.append(("opened", holder.session.id))

    async def closed(self, holder: directory.Holder) -> None:
        self.events.append(("closed", holder.session.id))


@pytest.fixture(autouse=True)
def clean_directory(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """An empty directory and shared cache, no listeners, and `background.ensure` recorded instead of started."""
    assert caches["default"].__class__.__name__ == "LocMemCache"
    caches["default"].clear()
    monkeypatch.setattr(directory, "_local", {})
    monkeypatch.setattr(directory, "_written", {})
    monkeypatch.setattr(directory, "listeners", [])
    ensured: list[str] = []
    monkeypatch.setattr(directory.background, "ensure", ensured.append)
    yield ensured
    caches["default"].clear()


@pytest.fixture
def ensured(clean_directory: list[str]) -> list[str]:
    return clean_directory


async def test_add_serves_it_here_shares_its_record_and_tells_listeners(ensured: list[str]) -> None:
    told = Told()
    directory.listeners.append(told)
    held = holder(channel="specific.abc!def")
    held.session.initialized = True
    await directory.add(held)
    assert directory.local(held.session.id) is held
    assert directory.local_count() == 1 and directory.local_sessions() == [held]
    record = await directory.lookup(held.session.id)
    assert record is not None
    assert record["id"] == held.session.id and record["channel"] == "specific.abc!def"
    assert record["initialized"] is True and record["key_name"] == "k"
    assert ServerSession.from_state(record).state() == held.session.state()
    assert told.events == [("opened", held.session.id)]


async def test_add_starts_the_session_loops(ensured: list[str]) -> None:
    await directory.add(holder())
    # the gateway's own, then what other apps added (ops: the connections flusher)
    assert ensured == ["control-listener", "session-warden", "session-records", "connections-flusher"]
    assert ensured == directory.SESSION_LOOPS


async def test_adopt_serves_it_here_and_runs_the_session_loops(ensured: list[str]) -> None:
    told = Told()
    directory.listeners.append(told)
    held = holder()
    directory.adopt(held)
    assert directory.local(held.session.id) is held
    assert told.events == []  # it was opened, and is counted, where it began
    # a process may serve only adopted sessions: closes and client replies may be routed to it from any process, and
    # its stream holders' rows are written by its own flusher
    assert ensured == directory.SESSION_LOOPS
    assert await directory.lookup(held.session.id) is None  # its record is written where it began


async def test_remove_forgets_it_here_and_everywhere_and_tells_listeners() -> None:
    told = Told()
    directory.listeners.append(told)
    held = holder()
    await directory.add(held)
    await directory.remove(held.session.id)
    assert directory.local(held.session.id) is None
    assert await directory.lookup(held.session.id) is None
    assert told.events == [("opened", held.session.id), ("closed", held.session.id)]


async def test_removing_a_session_held_elsewhere_drops_its_record_without_telling_listeners() -> None:
    told = Told()
    directory.listeners.append(told)
    elsewhere = holder()
    await directory.save(elsewhere)
    assert await directory.lookup(elsewhere.session.id) is not None
    await directory.remove(elsewhere.session.id)
    assert await directory.lookup(elsewhere.session.id) is None
    assert told.events == []


async def test_save_refreshes_the_shared_record() -> None:
    held = holder()
    await directory.add(held)
    held.session.log_level = "error"
    held.session.subscriptions.add("aws-docs://x")
    await directory.save(held)
    record = await directory.lookup(held.session.id)
    assert record is not None and record["log_level"] == "error" and record["subscriptions"] == ["aws-docs://x"]


async def test_lookup_of_an_unknown_or_overlong_id_is_none() -> None:
    assert await directory.lookup("unknown") is None
    long_id = "x" * 129
    caches["default"].set(directory.RECORD_PREFIX + long_id, {"id": long_id})
    assert await directory.lookup(long_id) is None  # never sent to the store


async def test_a_record_the_shared_cache_did_not_take_is_written_by_the_upkeep(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that failed at add (one timeout on a busy machine) must not leave the session unknown to every
    other process for its whole life: the "session-records" loop writes it once the store answers."""
    from awsmcp import breaker

    monkeypatch.setitem(breaker._breakers, "cache:default", breaker.Breaker("cache:default"))
    failing = {"on": True}
    kind = type(caches["default"])  # Django's cache handles are per thread: patch the class the pool thread uses
    real_set = kind.set

    def set_or_fail(self: object, *args: object, **kwargs: object) -> object:
        if failing["on"]:
            raise ConnectionError("store away")
        return real_set(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kind, "set", set_or_fail)
    monkeypatch.setattr(directory, "RECORD_UPKEEP", 0.01)
    held = holder()
    await directory.add(held)
    assert caches["default"].get(directory.RECORD_PREFIX + held.session.id) is None
    failing["on"] = False
    upkeep = asyncio.create_task(directory.keep_records())
    try:
        for _ in range(200):
            if caches["default"].get(directory.RECORD_PREFIX + held.session.id) is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        upkeep.cancel()
    assert (await directory.lookup(held.session.id) or {}).get("id") == held.session.id


async def test_the_upkeep_renews_records_before_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory, "RECORD_UPKEEP", 0.01)
    held = holder()
    await directory.add(held)
    caches["default"].delete(directory.RECORD_PREFIX + held.session.id)  # as if its TTL ran out
    directory._written[held.session.id] -= 10 * directory._ttl()
    upkeep = asyncio.create_task(directory.keep_records())
    await asyncio.sleep(0.1)
    upkeep.cancel()
    assert await directory.lookup(held.session.id) is not None
