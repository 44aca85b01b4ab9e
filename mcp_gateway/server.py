"""The process's MCP server: the protocol core bound to the catalogue the apps filled."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from mcp_gateway import subscriptions
from mcp_gateway.catalogue import catalogue
from mcp_gateway.protocol import McpServer


def instructions_for(partition: str) -> str:
    """What the app that added the partition tells clients about it."""
    return catalogue.instructions.get(partition) or "List the tools to see what this server offers."


@cache
def get_server() -> McpServer:
    """Built on first use, after every app's ready() has registered its tools."""
    server = McpServer(
        catalogue,
        title=catalogue.title,
        version=settings.VERSION,
        instructions=instructions_for,
        max_batch=settings.MCP_MAX_BATCH,
        max_batch_answer_bytes=settings.MCP_MAX_BATCH_ANSWER_BYTES,
    )
    subscriptions.install(server, catalogue, settings.MCP_LISTEN_MAX_QUEUED, settings.MCP_LISTEN_MAX_RESOURCE_URIS)
    return server
