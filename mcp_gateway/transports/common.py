"""Entrance checks shared by the transports: Host and Origin, the API key, request rates, the partition."""

from __future__ import annotations

from django.conf import settings

from mcp_gateway.catalogue import catalogue
from mcp_gateway.transports.http import HttpEndpoint
from mcp_gateway.transports.security import entrance_refusal
from ops import limits


async def admit(endpoint: HttpEndpoint, kind: str, rate: bool = True) -> str | None:
    """Run every entrance check; on refusal send it and return None, else return the API key name ("" for none).

    With rate=False the caller checks the request rate itself (to answer on a stream instead)."""
    refusal = entrance_refusal(endpoint.headers)
    if refusal is not None:
        status, reason = refusal
        await endpoint.send_error(status, reason)
        return None
    key_name, denied = await limits.check_key(endpoint.headers.get("authorization"))
    if denied is None and rate:
        denied = await limits.check_rate(endpoint.client_ip, key_name, kind)
    if denied is not None:
        await endpoint.send_error(
            denied.status, denied.message, code=-32029 if denied.status == 429 else -32600, headers=denied.headers
        )
        return None
    return key_name


async def claim_stream(endpoint: HttpEndpoint, session_id: str, kind: str) -> bool:
    """Take a stream slot for this client (caps per IP and per process); False after sending the refusal."""
    denied = await limits.claim_stream(endpoint.client_ip, session_id, kind)
    if denied is not None:
        code = -32029 if denied.status == 429 else -32603
        await endpoint.send_error(denied.status, denied.message, code=code, headers=denied.headers)
        return False
    endpoint.stream_slot = session_id
    return True


async def release_stream(endpoint: HttpEndpoint) -> None:
    slot = getattr(endpoint, "stream_slot", None)
    if slot is not None:
        endpoint.stream_slot = None
        await limits.release_stream(endpoint.client_ip, slot)


def choose_partition(query: dict[str, str]) -> str | None:
    partition = query.get("partition") or settings.MCP_DEFAULT_PARTITION
    return partition if partition in catalogue.partitions else None


async def partition_from(endpoint: HttpEndpoint) -> str | None:
    """The partition asked for with ?partition=…, or None after answering 400."""
    partition = choose_partition(endpoint.query)
    if partition is None:
        await endpoint.send_error(400, f"Bad Request: partition must be one of {', '.join(catalogue.partitions)}")
    return partition
