"""Client replies nobody here waits for, in process: the core hands them to `unmatched_reply`, control.route_reply
publishes them on the control group only in a fleet and only when another process can be waiting, and the listener
resolves them only in the session the event names, for requests this process made (a fresh InMemoryChannelLayer
per test). The fleet itself: tests/scaleout/test_client_replies_fleet.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.conf import settings

from mcp_gateway import control, directory
from mcp_gateway.catalogue import Catalogue
from mcp_gateway.jsonrpc import Response, payload_from
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import PROCESS_TAG, ClientReplyError, ServerSession
from tests.mcp_gateway.holders import FakeHolder, holder
from tests.mcp_gateway.test_control import Failing, wait_until

OTHER_PROCESS_ID = "sdeadbeef-1"  # an id another process made (ServerSession.next_request_id's form)


@pytest.fixture(autouse=True)
def clean_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory, "_local", {})
    monkeypatch.setattr(directory.background, "ensure", lambda name: None)


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryChannelLayer]:
    fresh = InMemoryChannelLayer()
    monkeypatch.setattr(control, "get_channel_layer", lambda: fresh)
    yield fresh


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    """REDIS_URL set: the channel layer is shared between processes (nothing connects to it here)."""
    monkeypatch.setattr(settings, "REDIS_URL", "redis://127.0.0.1:1/0")


async def member(layer: InMemoryChannelLayer) -> str:
    """A channel in the control group: what every process's listener receives."""
    channel = await layer.new_channel()
    await layer.group_add(control.CONTROL_GROUP, channel)
    return channel


def pending(session: ServerSession) -> tuple[str, asyncio.Future[Any]]:
    """A request of this process awaiting its reply in `session` (as ServerSession.request leaves it)."""
    request_id = session.next_request_id()
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    session.pending[request_id] = future
    return request_id, future


# --- the core ---------------------------------------------------------------------------------------------------


async def test_the_core_hands_on_only_replies_nobody_here_waits_for(catalogue: Catalogue) -> None:
    handed: list[tuple[ServerSession, Response]] = []

    async def unmatched(session: ServerSession, reply: Response) -> None:
        handed.append((session, reply))

    server = McpServer(catalogue, unmatched_reply=unmatched)
    session = ServerSession("sid", "test", "aws")
    request_id, future = pending(session)
    await server.handle_payload(session, payload_from({"jsonrpc": "2.0", "id": request_id, "result": {"a": 1}}))
    assert future.result() == {"a": 1} and handed == []
    stray = {"jsonrpc": "2.0", "id": OTHER_PROCESS_ID, "error": {"code": -1, "message": "no"}}
    assert await server.handle_payload(session, payload_from(stray)) == []
    assert handed == [(session, Response(OTHER_PROCESS_ID, None, {"code": -1, "message": "no"}))]


def test_request_ids_carry_the_process_tag() -> None:
    session = ServerSession("sid", "test", "aws")
    assert [session.next_request_id(), session.next_request_id()] == [f"{PROCESS_TAG}-1", f"{PROCESS_TAG}-2"]
    assert PROCESS_TAG.startswith("s") and len(PROCESS_TAG) == 9


# --- routing ----------------------------------------------------------------------------------------------------


async def test_a_fleet_routes_a_reply_to_another_process_request_once(layer: InMemoryChannelLayer, fleet: None) -> None:
    channel = await member(layer)
    held = holder()
    directory.adopt(held)
    await control.route_reply(held.session, Response(OTHER_PROCESS_ID, {"ok": True}))
    event = await asyncio.wait_for(layer.receive(channel), 1)
    assert event == {
        "type": control.CLIENT_REPLY,
        "session_id": held.session.id,
        "id": OTHER_PROCESS_ID,
        "result": {"ok": True},
    }
    error = {"code": -32600, "message": "refused"}
    await control.route_reply(held.session, Response(OTHER_PROCESS_ID, None, error))
    event = await asyncio.wait_for(layer.receive(channel), 1)
    assert event["error"] == error and "result" not in event


@pytest.mark.parametrize(
    "case",
    ["one process", "own id", "not an id of ours", "numeric id", "stateless session", "session with a channel"],
)
async def test_replies_nobody_elsewhere_can_wait_for_are_not_routed(
    layer: InMemoryChannelLayer, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setattr(settings, "REDIS_URL", "" if case == "one process" else "redis://127.0.0.1:1/0")
    channel = await member(layer)
    held: FakeHolder = holder(channel="specific.x!y" if case == "session with a channel" else None)
    if case != "stateless session":  # a 2026-07-28 request's throw-away session is never in the directory
        directory.adopt(held)
    request_id: Any = {
        "own id": f"{PROCESS_TAG}-9",
        "not an id of ours": "client-made-1",
        "numeric id": 5,
    }.get(case, OTHER_PROCESS_ID)
    await control.route_reply(held.session, Response(request_id, {}))
    assert layer.channels.get(channel) is None or layer.channels[channel].empty()


async def test_a_layer_that_is_away_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, fleet: None, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(control, "get_channel_layer", Failing)
    held = holder()
    directory.adopt(held)
    await control.route_reply(held.session, Response(OTHER_PROCESS_ID, {}))
    assert [r.getMessage() for r in caplog.records if r.name == "mcp_gateway.control"] == [
        "routing a client reply failed: ConnectionError: layer away"
    ]


# --- the receiving end ------------------------------------------------------------------------------------------


async def test_the_listener_resolves_a_routed_reply_in_the_session_it_names(layer: InMemoryChannelLayer) -> None:
    named, other = holder(), holder()
    directory.adopt(named)
    directory.adopt(other)
    request_id, future = pending(named.session)
    _, others = pending(other.session)  # the same id in another session: never resolved by this reply
    listener = asyncio.create_task(control.listen())
    try:
        await wait_until(lambda: bool(layer.groups.get(control.CONTROL_GROUP)))
        event = {"type": control.CLIENT_REPLY, "session_id": named.session.id, "id": request_id, "result": {"x": 1}}
        await layer.group_send(control.CONTROL_GROUP, event)
        assert await asyncio.wait_for(future, 1) == {"x": 1}
        assert not others.done()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def test_resolve_routed_reply_checks_session_and_id() -> None:
    held = holder()
    directory.adopt(held)
    request_id, future = pending(held.session)
    reply = {"type": control.CLIENT_REPLY, "session_id": held.session.id, "id": request_id}
    assert control.resolve_routed_reply({**reply, "session_id": "unknown"}) is False
    assert control.resolve_routed_reply({**reply, "id": OTHER_PROCESS_ID}) is False  # another process's request
    assert control.resolve_routed_reply({**reply, "id": 5}) is False
    assert control.resolve_routed_reply({**reply, "error": {"code": 1, "message": "declined"}}) is True
    with pytest.raises(ClientReplyError):
        future.result()
    assert control.resolve_routed_reply({**reply, "result": {}}) is False  # answered already: never twice
