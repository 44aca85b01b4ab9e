"""Fixtures of the 2026-07-28 HTTP scenarios: catalogue changes for subscriptions/listen, x-mcp-header parameters.

`test_trigger_tool_change` and `test_trigger_prompt_change` (names fixed by the suite's server-stateless
scenario) really change the lists: each call adds its dynamic tool or prompt, or withdraws it when present,
so the list-changed notifications they cause are true. `test_custom_headers` mirrors the tool the suite's
client scenario (http-custom-headers) describes, so the server-side header scenario has parameters to check.
"""

from __future__ import annotations

from typing import Any

from mcp_gateway.catalogue import Catalogue, Prompt, Tool
from mcp_gateway.context import RequestContext

EMPTY: dict[str, Any] = {"type": "object", "properties": {}}
DYNAMIC_TOOL = "test_dynamic_tool"
DYNAMIC_PROMPT = "test_dynamic_prompt"

CUSTOM_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "description": "Plain ASCII string value", "x-mcp-header": "Region"},
        "priority": {"type": "integer", "description": "Integer numeric value", "x-mcp-header": "Priority"},
        "verbose": {"type": "boolean", "description": "Boolean value", "x-mcp-header": "Verbose"},
        "query": {"type": "string", "description": "Not mirrored: stays in the body"},
    },
    "required": ["region"],
}


def _text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}]}


async def dynamic_tool(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return _text("A tool that comes and goes with test_trigger_tool_change.")


async def dynamic_prompt(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": {"type": "text", "text": "A prompt that comes and goes."}}]}


def trigger_tool_change(catalogue: Catalogue) -> Any:
    async def trigger(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if not catalogue.remove_tool(DYNAMIC_TOOL):
            catalogue.add_tool(Tool(DYNAMIC_TOOL, "Comes and goes (list-changed tests)", EMPTY, dynamic_tool))
        return _text("Tool list changed")

    return trigger


def trigger_prompt_change(catalogue: Catalogue) -> Any:
    async def trigger(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if not catalogue.remove_prompt(DYNAMIC_PROMPT):
            catalogue.add_prompt(Prompt(DYNAMIC_PROMPT, dynamic_prompt, "Comes and goes (list-changed tests)"))
        return _text("Prompt list changed")

    return trigger


async def custom_headers(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    mirrored = {key: args[key] for key in ("region", "priority", "verbose") if key in args}
    return _text(f"Headers matched the arguments: {mirrored}")


def register(catalogue: Catalogue) -> None:
    catalogue.add_tool(
        Tool(
            "test_trigger_tool_change",
            "Adds or withdraws test_dynamic_tool: listen streams that asked for toolsListChanged hear of it",
            EMPTY,
            trigger_tool_change(catalogue),
            quiet=True,
        )
    )
    catalogue.add_tool(
        Tool(
            "test_trigger_prompt_change",
            "Adds or withdraws test_dynamic_prompt: listen streams that asked for promptsListChanged hear of it",
            EMPTY,
            trigger_prompt_change(catalogue),
            quiet=True,
        )
    )
    catalogue.add_tool(
        Tool(
            "test_custom_headers",
            "A tool with x-mcp-header parameters: 2026-07-28 clients mirror them as Mcp-Param-* headers",
            CUSTOM_HEADERS_SCHEMA,
            custom_headers,
            quiet=True,
        )
    )
