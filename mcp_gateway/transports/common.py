"""Entrance checks shared by the HTTP transports, answering the refusal themselves."""

from __future__ import annotations

from django.conf import settings

from mcp_gateway.registry import PARTITIONS
from mcp_gateway.transports.http import HttpEndpoint
from mcp_gateway.transports.security import entrance_refusal


async def refuse_entrance(endpoint: HttpEndpoint) -> bool:
    """Send the refusal and return True when Host or Origin is not acceptable."""
    refusal = entrance_refusal(endpoint.headers)
    if refusal is None:
        return False
    status, reason = refusal
    await endpoint.send_error(status, reason)
    return True


def choose_partition(query: dict[str, str]) -> str | None:
    partition = query.get("partition") or settings.MCP_DEFAULT_PARTITION
    return partition if partition in PARTITIONS else None


async def partition_from(endpoint: HttpEndpoint) -> str | None:
    """The partition asked for with ?partition=…, or None after answering 400."""
    partition = choose_partition(endpoint.query)
    if partition is None:
        await endpoint.send_error(400, f"Bad Request: partition must be one of {', '.join(PARTITIONS)}")
    return partition
