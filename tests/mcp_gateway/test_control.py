"""mcp_gateway.control in process: closing a session held here, on the channel its record names, and through
the control group to a listener (a fresh InMemoryChannelLayer per test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.core.cache import caches

from mcp_gateway import control, directory
from mcp_gateway.closing import CloseCode
from mcp_gateway.sessions import short_id
from tests.mcp_gateway.holders import FakeHolder, holder


@pytest.fixture(autouse=True)
def clean_directory(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    caches["default"].clear()
    monkeypatch.setattr(directory, "_local", {})
    monkeypatch.setattr(directory, "listeners", [])
    monkeypatch.setattr(directory.background, "ensure", lambda name: None)
    yield
    caches["default"].clear()


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> InMemoryChannelLayer:
    fresh = InMemoryChannelLayer()
    monkeypatch.setattr(control, "get_channel_layer", lambda: fresh)
    return fresh


@pytest.fixture
async def listener(layer: InMemoryChannelLayer) -> AsyncIterator[asyncio.Task[None]]:
    """The "control-listener" loop, joined to the control group before the test goes on."""
    task = asyncio.create_task(control.listen())
    await wait_until(lambda: bool(layer.groups.get(control.CONTROL_GROUP)))
    yield task
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


class Failing:
    """A channel layer that is away."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        raise ConnectionError("layer away")

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("layer away")


async def test_close_everywhere_closes_a_session_held_here_and_tells_every_process(
    layer: InMemoryChannelLayer, listener: asyncio.Task[None]
) -> None:
    held = holder()
    directory.adopt(held)
    await control.close_everywhere(held.session.id, "key revoked")
    assert held.closed[:1] == ["key revoked"]  # closed here before it returns
    # The group reaches the listener of every process, this one's included.
    await wait_until(lambda: len(held.closed) == 2)
    assert held.closed == ["key revoked", "key revoked"]


async def test_the_listener_closes_only_the_session_named(
    layer: InMemoryChannelLayer, listener: asyncio.Task[None]
) -> None:
    named, other = holder(), holder()
    directory.adopt(named)
    directory.adopt(other)
    await layer.group_send(control.CONTROL_GROUP, {"type": "mcp.close_session", "session_id": named.session.id})
    await layer.group_send(control.CONTROL_GROUP, {"type": "something.else", "session_id": other.session.id})
    await wait_until(lambda: bool(named.closed))
    await asyncio.sleep(0.05)
    assert named.closed == ["closed by an operator"] and other.closed == []
    assert not listener.done()


async def test_close_session_held_here_closes_it_directly(layer: InMemoryChannelLayer) -> None:
    held = holder()
    directory.adopt(held)
    assert await control.close_session(held.session.id, "bye") is True
    assert held.closed == ["bye"] and held.codes == [CloseCode.CLOSED_BY_OPERATOR]


async def test_close_session_sends_to_the_channel_its_record_names(layer: InMemoryChannelLayer) -> None:
    channel = await layer.new_channel()
    elsewhere = holder(channel=channel)
    await directory.save(elsewhere)
    assert await control.close_session(elsewhere.session.id, "bye") is True
    assert await asyncio.wait_for(layer.receive(channel), 1) == {"type": "mcp.close", "reason": "bye", "code": 4000}


async def test_close_session_without_a_channel_asks_the_group_and_forgets_the_record(
    layer: InMemoryChannelLayer,
) -> None:
    member = await layer.new_channel()
    await layer.group_add(control.CONTROL_GROUP, member)
    elsewhere = holder()
    await directory.save(elsewhere)
    assert await control.close_session(elsewhere.session.id, "bye") is True
    message = await asyncio.wait_for(layer.receive(member), 1)
    assert message == {"type": "mcp.close_session", "session_id": elsewhere.session.id, "reason": "bye", "code": 4000}
    assert await directory.lookup(elsewhere.session.id) is None


async def test_close_session_of_a_session_nobody_knows_is_false(layer: InMemoryChannelLayer) -> None:
    assert await control.close_session("unknown") is False


async def test_a_channel_layer_that_is_away_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(control, "get_channel_layer", Failing)
    held: FakeHolder = holder()
    directory.adopt(held)
    await control.close_everywhere(held.session.id, "bye")
    assert held.closed == ["bye"]
    elsewhere = holder(channel="specific.gone!x")
    await directory.save(elsewhere)
    assert await control.close_session(elsewhere.session.id) is True  # its record is forgotten all the same
    assert await directory.lookup(elsewhere.session.id) is None
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "mcp_gateway.control"] == [
        "control group send failed",
        f"closing session {short_id(elsewhere.session.id)} on its channel failed",
        "control group send failed",
    ]


class StalledLayer(InMemoryChannelLayer):
    """A channel layer whose group sends never finish, as with a SIGSTOPped Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.sends = 0

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sends += 1
        await asyncio.Event().wait()


async def test_a_delete_does_not_wait_for_a_stalled_layer_and_its_tells_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stalled = StalledLayer()
    monkeypatch.setattr(control, "get_channel_layer", lambda: stalled)
    monkeypatch.setattr(control, "MAX_PENDING_TELLS", 3)
    held = holder()
    await directory.add(held)
    await asyncio.wait_for(control.close_everywhere(held.session.id, "deleted by the client", wait=False), 1.0)
    assert held.closed  # closed here at once; the other processes are told in the background
    told = [control.tell_every_process_later(f"s{n}", "deleted", CloseCode.POLICY) for n in range(3)]
    assert [task is not None for task in told] == [True, True, False]
    await asyncio.sleep(0)
    assert stalled.sends == 3  # the bound counts tells under way: the fourth was never sent
    tasks = list(control._pending_tells)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)
    assert not control._pending_tells  # a finished tell frees its place
