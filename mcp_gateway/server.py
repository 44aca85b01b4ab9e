"""The process's MCP server: the protocol core bound to the catalogue the apps filled."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from mcp_gateway.catalogue import catalogue
from mcp_gateway.protocol import McpServer

DOCS_HOSTS = {"aws": "docs.aws.amazon.com", "aws-cn": "docs.amazonaws.cn"}


def instructions_for(partition: str) -> str:
    """The docs app sets richer text per partition; this names the partition's docs site either way."""
    fallback = (
        f"awsmcp serves AWS documentation from {DOCS_HOSTS.get(partition, partition)} "
        f"(partition {partition}). List the tools to see what it offers."
    )
    return catalogue.instructions.get(partition, fallback)


@cache
def get_server() -> McpServer:
    """Built on first use, after every app's ready() has registered its tools."""
    return McpServer(
        catalogue,
        version=settings.VERSION,
        instructions=instructions_for,
        max_batch=settings.MCP_MAX_BATCH,
        max_batch_answer_bytes=settings.MCP_MAX_BATCH_ANSWER_BYTES,
    )
