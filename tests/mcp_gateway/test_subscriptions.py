"""mcp_gateway.subscriptions and the catalogue's change listeners, driven directly: the listen handler over a
catalogue that changes, the filter, the queue bound (MCP_LISTEN_MAX_QUEUED), and x-mcp-header checks at
registration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY

from mcp_gateway import subscriptions
from mcp_gateway.catalogue import Catalogue, Prompt, Resource, Tool, header_params
from mcp_gateway.context import RequestContext
from mcp_gateway.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Payload, Request
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession
from tests.mcp_gateway.streams import Stream

MODERN = "2026-07-28"
ENVELOPE = {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: {}}
EMPTY: dict[str, Any] = {"type": "object", "properties": {}}


async def nothing(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"content": []}


async def no_prompt(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    return {"messages": []}


async def no_resource(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
    return []


def served(max_queued: int = 8) -> tuple[McpServer, Catalogue]:
    catalogue = Catalogue()
    catalogue.add_partition("aws", "")
    server = McpServer(catalogue)
    subscriptions.install(server, catalogue, max_queued, max_uris=3)
    return server, catalogue


def listen(
    server: McpServer, stream: Stream, notifications: Any, session: ServerSession | None = None
) -> asyncio.Task[Any]:
    request = Request("sub", "subscriptions/listen", {"notifications": notifications, "_meta": ENVELOPE})
    target = session or ServerSession("s", "streamable-http", "aws")
    return asyncio.ensure_future(server.handle_payload(target, Payload([request], is_batch=False), stream))


async def test_ack_first_then_the_changes_asked_for_each_tagged() -> None:
    server, catalogue = served()
    stream = Stream()
    task = listen(server, stream, {"toolsListChanged": True, "resourceSubscriptions": ["test://r"]})
    ack = await stream.next()
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"] == {
        "notifications": {"toolsListChanged": True, "resourceSubscriptions": ["test://r"]},
        "_meta": {subscriptions.SUBSCRIPTION_ID: "sub"},
    }
    catalogue.add_prompt(Prompt("p", no_prompt))  # not asked for
    catalogue.add_resource(Resource("test://other", "other", no_resource))  # a new resource: a list change
    catalogue.add_tool(Tool("t", "a tool", EMPTY, nothing))
    catalogue.add_resource(Resource("test://r", "r", no_resource))
    catalogue.add_resource(Resource("test://r", "r again", no_resource))  # replaced: updated
    assert (await stream.next())["method"] == "notifications/tools/list_changed"
    updated = await stream.next()
    assert updated["method"] == "notifications/resources/updated"
    assert updated["params"] == {"uri": "test://r", "_meta": {subscriptions.SUBSCRIPTION_ID: "sub"}}
    assert catalogue.remove_tool("t") and not catalogue.remove_tool("t")
    assert (await stream.next())["method"] == "notifications/tools/list_changed"
    assert stream.messages.empty()
    task.cancel()  # the client left
    with pytest.raises(asyncio.CancelledError):
        await task
    registry = catalogue.listeners[0].__self__  # type: ignore[attr-defined]
    assert not registry.listeners  # its listener is gone with it


async def test_a_stream_that_falls_behind_is_ended_with_its_result() -> None:
    """Changes queue while the client does not read; one past MCP_LISTEN_MAX_QUEUED ends the stream with its
    result (the client listens again and refetches) instead of letting the queue grow."""
    server, catalogue = served(max_queued=1)
    reading = asyncio.Event()
    stream = Stream()

    async def stalled(message: dict[str, Any]) -> None:
        await stream(message)
        if message["method"] == "notifications/resources/updated":
            await reading.wait()  # the client stopped reading after this one

    for uri in ("a", "b", "c"):
        catalogue.add_resource(Resource(uri, uri, no_resource))
    wanted = {"resourceSubscriptions": ["a", "b", "c"]}
    request = Request("sub", "subscriptions/listen", {"notifications": wanted, "_meta": ENVELOPE})
    session = ServerSession("s", "streamable-http", "aws")
    task = asyncio.ensure_future(server.handle_payload(session, Payload([request], is_batch=False), stalled))
    await stream.next()  # the acknowledgement
    catalogue.add_resource(Resource("a", "a", no_resource))
    assert (await stream.next())["params"]["uri"] == "a"  # sent; the handler now waits on the client
    catalogue.add_resource(Resource("b", "b", no_resource))  # queued
    catalogue.add_resource(Resource("b", "b", no_resource))  # the same change: queued once, not twice
    assert not task.done()
    catalogue.add_resource(Resource("c", "c", no_resource))  # one too many
    reading.set()
    replies = await asyncio.wait_for(task, 10)
    assert replies[0]["result"] == {"_meta": {subscriptions.SUBSCRIPTION_ID: "sub"}, "resultType": "complete"}
    assert stream.messages.empty()  # the backlog was dropped with the stream, not sent late


def test_the_same_change_is_queued_once() -> None:
    listener = subscriptions.Listener(subscriptions.Filter(frozenset({"tools"}), frozenset()), max_queued=1)
    for _ in range(3):
        listener.deliver(("tools", ""))
    listener.deliver(("prompts", ""))
    assert list(listener.pending) == [("tools", "")] and not listener.overflowed


async def test_a_session_of_an_earlier_revision_has_no_listen() -> None:
    server, _ = served()
    session = ServerSession("s", "streamable-http", "aws", protocol_version="2025-11-25", initialized=True)
    request = Request("sub", "subscriptions/listen", {"notifications": {}})
    replies = await server.handle_payload(session, Payload([request], is_batch=False))
    assert replies[0]["error"]["code"] == METHOD_NOT_FOUND


@pytest.mark.parametrize(
    "notifications",
    [
        None,
        [],
        {"resourceSubscriptions": "x"},
        {"resourceSubscriptions": [1]},
        {"resourceSubscriptions": ["a", "b", "c", "d"]},
    ],
)
def test_a_malformed_or_oversized_filter_is_invalid_params(notifications: Any) -> None:
    with pytest.raises(JsonRpcError) as info:
        subscriptions.Filter.parse(notifications, max_uris=3)
    assert info.value.code == INVALID_PARAMS


async def test_discover_advertises_list_changes_without_touching_initialize() -> None:
    server, _ = served()
    session = ServerSession("s", "streamable-http", "aws")
    discover = Request(1, "server/discover", {"_meta": ENVELOPE})
    capabilities = (await server.handle_payload(session, Payload([discover], is_batch=False)))[0]["result"][
        "capabilities"
    ]
    assert capabilities["tools"] == {"listChanged": True} and capabilities["resources"] == {"listChanged": True}
    assert server.capabilities["tools"] == {"listChanged": False}  # what initialize tells 2025-11-25 sessions


def test_a_listener_that_raises_does_not_keep_the_change_from_the_others() -> None:
    catalogue = Catalogue()
    heard: list[tuple[str, str]] = []

    def broken(kind: str, uri: str) -> None:
        raise RuntimeError("boom")

    catalogue.listeners += [broken, lambda kind, uri: heard.append((kind, uri))]
    catalogue.add_prompt(Prompt("p", no_prompt))
    assert catalogue.remove_prompt("p") and not catalogue.remove_prompt("p")
    assert heard == [("prompts", ""), ("prompts", "")]


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}, "HTTP token"),
        ({"properties": {"a": {"type": "string", "x-mcp-header": "Re gion"}}}, "HTTP token"),
        ({"properties": {"a": {"type": "string", "x-mcp-header": "Region\n"}}}, "HTTP token"),
        ({"properties": {"a": {"type": "string", "x-mcp-header": 3}}}, "HTTP token"),
        ({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}, "type string, integer or boolean"),
        ({"properties": {"a": {"type": "object", "x-mcp-header": "A"}}}, "type string, integer or boolean"),
        (
            {
                "properties": {
                    "a": {"type": "string", "x-mcp-header": "A"},
                    "b": {"type": "string", "x-mcp-header": "a"},
                }
            },
            "twice",
        ),
        (
            {"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}},
            "`properties` alone",
        ),
        ({"anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}, "`properties` alone"),
        ({"type": "string", "x-mcp-header": "Root"}, "`properties` alone"),
    ],
)
def test_a_malformed_x_mcp_header_is_refused_at_registration(schema: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Tool("bad", "bad", {"type": "object", **schema}, nothing)


def test_header_params_follow_nested_properties_and_skip_data() -> None:
    schema = {
        "type": "object",
        "properties": {
            "where": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}},
            "n": {"type": "integer", "x-mcp-header": "N", "default": {"x-mcp-header": "not an annotation"}},
        },
    }
    assert set(header_params(schema)) == {(("where", "region"), "Region", "string"), (("n",), "N", "integer")}
