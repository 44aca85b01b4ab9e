"""subscriptions/listen over a real Daphne: the acknowledgement first, the filter, subscription ids, list changes
after a trigger, the stream caps, and a stream that ends cleanly when its client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp.client import Client
from mcp.shared.subscriptions import ToolsListChanged

from tests.support.processes import DaphneServer, daphne
from tests.support.raw import ACCEPT_BOTH, initialize_request, request, sse_messages

MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def capped() -> Iterator[DaphneServer]:
    """A server holding one stream at most, whose listen streams take two resource URIs at most."""
    with daphne(MCP_CONFORMANCE_FIXTURES="1", MCP_MAX_CONNECTIONS="1", MCP_LISTEN_MAX_RESOURCE_URIS="2") as srv:
        yield srv


def headers(method: str, name: str | None = None) -> dict[str, str]:
    sent = {"accept": ACCEPT_BOTH, "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        sent["mcp-name"] = name
    return sent


def listen_request(notifications: dict[str, Any], msg_id: int | str = "listen-1") -> dict[str, Any]:
    return request("subscriptions/listen", {"notifications": notifications, "_meta": ENVELOPE}, msg_id)


@contextlib.asynccontextmanager
async def listening(
    http: httpx.AsyncClient, url: str, notifications: dict[str, Any], msg_id: int | str = "listen-1"
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    body = listen_request(notifications, msg_id)
    async with http.stream("POST", url, json=body, headers=headers("subscriptions/listen")) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        yield sse_messages(response)


async def trigger(http: httpx.AsyncClient, url: str, tool: str) -> None:
    body = request("tools/call", {"name": tool, "arguments": {}, "_meta": ENVELOPE}, msg_id=9)
    reply = await http.post(url, json=body, headers=headers("tools/call", tool))
    assert reply.status_code == 200 and not reply.json()["result"].get("isError")


async def test_the_acknowledgement_comes_first_and_names_the_subscription(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    wanted = {"toolsListChanged": True, "resourceSubscriptions": ["test://static-text"], "promptsListChanged": False}
    async with listening(http, server.mcp_url, wanted, msg_id=41) as messages:
        ack = await anext(messages)
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["_meta"] == {SUBSCRIPTION_ID: 41}
    # Every kind asked for is honoured; false flags are not echoed.
    assert ack["params"]["notifications"] == {"toolsListChanged": True, "resourceSubscriptions": ["test://static-text"]}


async def test_a_change_reaches_the_streams_that_asked_for_it_tagged_with_their_id(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    async with (
        listening(http, server.mcp_url, {"promptsListChanged": True}, msg_id="prompts") as prompts,
        listening(http, server.mcp_url, {"toolsListChanged": True}, msg_id="tools") as tools,
    ):
        await anext(prompts)
        await anext(tools)
        await trigger(http, server.mcp_url, "test_trigger_tool_change")
        await trigger(http, server.mcp_url, "test_trigger_prompt_change")
        changed = await anext(tools)
        # Changes arrive in order: had the tool change leaked onto the prompts stream, it would come first.
        prompt_changed = await anext(prompts)
    assert changed == {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
        "params": {"_meta": {SUBSCRIPTION_ID: "tools"}},
    }
    assert prompt_changed["method"] == "notifications/prompts/list_changed"
    assert prompt_changed["params"]["_meta"] == {SUBSCRIPTION_ID: "prompts"}


async def test_the_trigger_really_changes_the_list(server: DaphneServer, http: httpx.AsyncClient) -> None:
    async def names() -> set[str]:
        body = request("tools/list", {"_meta": ENVELOPE})
        return {
            t["name"]
            for t in (await http.post(server.mcp_url, json=body, headers=headers("tools/list"))).json()["result"][
                "tools"
            ]
        }

    before = "test_dynamic_tool" in await names()
    await trigger(http, server.mcp_url, "test_trigger_tool_change")
    assert ("test_dynamic_tool" in await names()) is not before


async def test_discover_advertises_the_list_changes_listen_delivers(
    server: DaphneServer, http: httpx.AsyncClient
) -> None:
    body = request("server/discover", {"_meta": ENVELOPE})
    capabilities = (await http.post(server.mcp_url, json=body, headers=headers("server/discover"))).json()["result"][
        "capabilities"
    ]
    assert all(capabilities[kind]["listChanged"] is True for kind in ("tools", "prompts", "resources"))
    assert "subscribe" not in capabilities["resources"]  # resources/subscribe is gone in this revision
    # A 2025-11-25 session has no listen stream to deliver them on: it is not told they exist.
    init = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
    assert init.json()["result"]["capabilities"]["tools"]["listChanged"] is False


@pytest.mark.parametrize(
    ("notifications", "words"),
    [
        ("all", "an object"),
        ({"resourceSubscriptions": "test://x"}, "a list"),
        ({"resourceSubscriptions": [1]}, "a list"),
    ],
)
async def test_a_malformed_filter_is_invalid_params(
    server: DaphneServer, http: httpx.AsyncClient, notifications: Any, words: str
) -> None:
    body = request("subscriptions/listen", {"notifications": notifications, "_meta": ENVELOPE})
    reply = await http.post(server.mcp_url, json=body, headers=headers("subscriptions/listen"))
    assert reply.status_code == 400 and reply.json()["error"]["code"] == -32602
    assert words in reply.json()["error"]["message"]


async def test_listen_needs_an_event_stream(server: DaphneServer, http: httpx.AsyncClient) -> None:
    sent = {**headers("subscriptions/listen"), "accept": "application/json"}
    reply = await http.post(server.mcp_url, json=listen_request({"toolsListChanged": True}), headers=sent)
    assert reply.status_code == 406


async def test_resource_subscriptions_are_bounded(capped: DaphneServer, http: httpx.AsyncClient) -> None:
    body = listen_request({"resourceSubscriptions": ["test://a", "test://b", "test://c"]})
    reply = await http.post(capped.mcp_url, json=body, headers=headers("subscriptions/listen"))
    assert reply.status_code == 400 and "at most 2" in reply.json()["error"]["message"]


async def test_listen_streams_count_against_the_stream_cap_and_free_it_when_the_client_leaves(
    capped: DaphneServer, http: httpx.AsyncClient
) -> None:
    async with listening(http, capped.mcp_url, {"toolsListChanged": True}) as messages:
        assert (await anext(messages))["method"] == "notifications/subscriptions/acknowledged"
        second = await http.post(
            capped.mcp_url, json=listen_request({"toolsListChanged": True}), headers=headers("subscriptions/listen")
        )
        assert second.status_code == 503 and "maximum of 1 streams" in second.json()["error"]["message"]
    # The first client left: its slot comes back as soon as the server sees the connection close.
    async with httpx.AsyncClient(timeout=10) as fresh:
        for _ in range(200):
            async with fresh.stream(
                "POST",
                capped.mcp_url,
                json=listen_request({"toolsListChanged": True}),
                headers=headers("subscriptions/listen"),
            ) as again:
                if again.status_code == 200:
                    ack = await anext(sse_messages(again))
                    break
            await asyncio.sleep(0.05)  # polled: the server frees the slot when it sees the close, not before
        else:
            pytest.fail("the listen stream's slot was never given back")
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert capped.alive()


async def test_the_python_sdk_client_listens_and_hears_a_change(server: DaphneServer) -> None:
    """A client no one here wrote (mcp 2.3 `Client.listen`) gets its acknowledgement and a typed change event."""
    async with Client(server.mcp_url) as client, client.listen(tools_list_changed=True) as subscription:
        assert subscription.honored.tools_list_changed is True
        assert not subscription.honored.prompts_list_changed
        await client.call_tool("test_trigger_tool_change", {})
        with anyio.fail_after(10):
            event = await anext(aiter(subscription))
    assert isinstance(event, ToolsListChanged)
