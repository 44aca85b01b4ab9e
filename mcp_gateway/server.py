"""The process's MCP server: the protocol core bound to the registry the apps filled."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from mcp_gateway.protocol import McpServer
from mcp_gateway.registry import registry

GENERIC_INSTRUCTIONS = (
    "awsmcp serves Amazon Web Services documentation. List the tools to see what this partition offers."
)


def instructions_for(partition: str) -> str:
    return registry.instructions.get(partition, GENERIC_INSTRUCTIONS)


@cache
def get_server() -> McpServer:
    """Built on first use, after every app's ready() has registered its tools."""
    return McpServer(registry, version=settings.VERSION, instructions=instructions_for)
