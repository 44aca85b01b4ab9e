"""Fixture tools of the conformance suite's `tasks-*` scenarios (SEP-2663); names and behaviour are fixed by them.

Installed only with MCP_CONFORMANCE_FIXTURES=1. Every task-supporting tool here answers with a task at once
(inline 0), so the scenarios see the task path whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcp_gateway import tasks
from mcp_gateway.catalogue import Catalogue, Tool, ToolError
from mcp_gateway.context import RequestContext
from mcp_gateway.jsonrpc import INTERNAL_ERROR, JsonRpcError

MAX_SECONDS = 300  # slow_compute sleeps at most this long (a task's TTL stops it earlier anyway)


def _text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}]}


def _confirm_form(message: str) -> dict[str, Any]:
    return {
        "mode": "form",
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {"confirm": {"type": "boolean", "description": "Go ahead?"}},
            "required": ["confirm"],
        },
    }


def _accepted(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("action") == "accept"


async def greet(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return _text(f"Hello, {args.get('name', 'World')}!")


async def slow_compute(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    seconds = args.get("seconds", 1)
    await asyncio.sleep(seconds)
    return _text(f"Computed {args.get('label', 'result')} after {seconds} s")


async def failing_job(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    await asyncio.sleep(1)
    raise ToolError("The job failed (as this fixture always does).")


async def protocol_error_job(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    await asyncio.sleep(0.1)
    raise JsonRpcError(INTERNAL_ERROR, "The job hit a protocol-level failure (as this fixture always does).")


async def confirm_delete(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    filename = args.get("filename", "file")
    answer = await ctx.ask_client("elicitation/create", _confirm_form(f"Delete {filename}?"))
    confirmed = _accepted(answer) and (answer.get("content") or {}).get("confirm") is True
    return _text(f"Deleted {filename}" if confirmed else f"Kept {filename}")


async def multi_input(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Two questions open at once, so a client can answer them one at a time."""
    first, second = await asyncio.gather(
        ctx.ask_client("elicitation/create", _confirm_form("First question: go ahead?")),
        ctx.ask_client("elicitation/create", _confirm_form("Second question: go ahead?")),
    )
    return _text(f"First: {'accepted' if _accepted(first) else 'declined'}; "
                 f"second: {'accepted' if _accepted(second) else 'declined'}")  # fmt: skip


async def tool_with_task(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Asks the user's name in a synchronous input-required round, then goes on as a task that uses it."""
    if not tasks.declared(ctx):
        raise tasks.missing_capability()
    answer = await ctx.ask_client(
        "elicitation/create",
        {
            "mode": "form",
            "message": "What is your name?",
            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        },
    )
    name = (answer.get("content") or {}).get("name") if _accepted(answer) else None

    async def work(task_ctx: RequestContext) -> dict[str, Any]:
        return _text(f"Hello, {name or 'stranger'}! (from a task)")

    return await tasks.start(ctx, work, required=True, inline=0)


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


TOOLS: list[tuple[str, str, dict[str, Any], Any, tasks.Support | None]] = [
    ("greet", "Greets someone (never a task).", _object({"name": {"type": "string"}}), greet, None),
    (
        "slow_compute",
        "Sleeps `seconds` seconds, then answers; runs as a task when the client can follow one.",
        _object({"seconds": {"type": "number", "minimum": 0, "maximum": MAX_SECONDS}, "label": {"type": "string"}}),
        slow_compute,
        "optional",
    ),
    ("failing_job", "Fails with a tool error after a second; only as a task.", _object({}), failing_job, "required"),
    ("protocol_error_job", "Fails with a JSON-RPC error.", _object({}), protocol_error_job, "optional"),
    (
        "confirm_delete",
        "Asks the client to confirm, then pretends to delete the file.",
        _object({"filename": {"type": "string"}}),
        confirm_delete,
        "optional",
    ),
    ("multi_input", "Asks two questions at once.", _object({}), multi_input, "optional"),
    (
        "test_tool_with_task",
        "Asks the user's name (an input-required round), then answers from a task.",
        _object({}),
        tool_with_task,
        None,  # makes its task itself, after the round
    ),
]


def register(catalogue: Catalogue) -> None:
    for name, description, schema, handler, support in TOOLS:
        catalogue.add_tool(Tool(name, description, schema, handler))
        if support is not None:
            tasks.offer(name, support, inline=0)
