"""A protocol core over a small catalogue of test tools, driven directly (no HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcp_gateway import jsonrpc
from mcp_gateway.catalogue import Catalogue, Prompt, Resource, Tool, ToolError
from mcp_gateway.context import RequestContext
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession


class Recorder:
    """An `emit` that keeps what the core sent, for assertions."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def make_catalogue() -> Catalogue:
    catalogue = Catalogue()
    started = asyncio.Event()

    async def echo(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": args["text"]}]}

    async def slow(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(30)
        return {"content": [{"type": "text", "text": "finished"}]}

    async def chatty(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await ctx.progress(1, 2, "half")
        await ctx.log("info", "an info line")
        await ctx.log("error", "an error line")
        await ctx.progress(2, 2)
        return {"content": [{"type": "text", "text": "done"}]}

    async def asker(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        answer = await ctx.ask_client("elicitation/create", {"message": "name?", "requestedSchema": {}}, 5)
        return {"content": [{"type": "text", "text": f"got {answer['content']['name']}"}]}

    async def failing(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise ToolError("the page does not exist; check the URL")

    async def crashing(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    empty = {"type": "object", "properties": {}}
    catalogue.add_tool(Tool("echo", "Echo text", schema, echo))
    catalogue.add_tool(Tool("slow", "Sleeps", empty, slow))
    catalogue.add_tool(Tool("chatty", "Progress and logs", empty, chatty))
    catalogue.add_tool(Tool("asker", "Asks the client", empty, asker))
    catalogue.add_tool(Tool("failing", "Fails", empty, failing))
    catalogue.add_tool(Tool("crashing", "Crashes", empty, crashing))
    catalogue.add_tool(Tool("china_only", "Only in aws-cn", empty, echo, partitions=("aws-cn",)))

    async def read_static(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
        return [{"uri": uri, "mimeType": "text/plain", "text": "static"}]

    catalogue.add_resource(Resource("test://static", "static", read_static, mime_type="text/plain"))

    async def render(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
        text = f"Hello {arguments['who']}"
        return {"messages": [{"role": "user", "content": {"type": "text", "text": text}}]}

    catalogue.add_prompt(Prompt("greet", render, arguments=[{"name": "who", "required": True}]))

    async def complete_who(name: str, value: str, known: dict[str, str]) -> list[str]:
        return [w for w in ("alice", "albert", "bob") if w.startswith(value)]

    catalogue.add_completer("ref/prompt", "greet", complete_who)
    catalogue.slow_started = started  # type: ignore[attr-defined]
    return catalogue


@pytest.fixture
def catalogue() -> Catalogue:
    return make_catalogue()


@pytest.fixture
def server(catalogue: Catalogue) -> McpServer:
    return McpServer(catalogue, version="test", instructions=lambda p: f"instructions for {p}")


@pytest.fixture
def session() -> ServerSession:
    return ServerSession("sid", "test", "aws")


async def call(server: McpServer, session: ServerSession, method: str, params: Any = None, emit: Any = None) -> Any:
    """Send one request through the core and return its reply."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    replies = await server.handle_payload(session, jsonrpc.payload_from(message), emit or Recorder())
    assert len(replies) == 1
    return replies[0]


async def initialize(server: McpServer, session: ServerSession, version: str = "2025-11-25") -> dict[str, Any]:
    reply = await call(
        server,
        session,
        "initialize",
        {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "pytest", "version": "1"}},
    )
    return reply
