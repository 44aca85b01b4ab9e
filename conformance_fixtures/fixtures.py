"""Fixtures the official conformance suite expects (names and outputs fixed by its scenarios)."""

from __future__ import annotations

from typing import Any

from mcp_gateway.context import RequestContext
from mcp_gateway.registry import Registry, Tool

EMPTY = {"type": "object", "properties": {}}


async def simple_text(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": "This is a simple text response for testing."}]}


def register(registry: Registry) -> None:
    registry.add_tool(Tool("test_simple_text", "Tests simple text content response", EMPTY, simple_text))
